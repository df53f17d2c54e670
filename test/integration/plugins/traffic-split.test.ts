/** traffic-split through a running proxy: header match, weighted share, sticky clients, service path. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

describe('traffic-split through a running proxy', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let f: TestNode;

  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    f = await startFulcrum(`
services:
  - name: v1
    url: http://${a.target}/v1
    routes:
      - name: canary
        paths: [/canary]
        plugins:
          - name: traffic-split
            config:
              rules:
                - match: { headers: { X-Canary: ["1"] } }
                  services: [{ service: v2 }]
                - services: [{ service: v2, weight: 1 }, { weight: 3 }]
      - name: sticky
        paths: [/sticky]
        plugins:
          - name: traffic-split
            config:
              sticky_by: header
              sticky_name: x-user
              rules: [{ services: [{ service: v2, weight: 1 }, { weight: 1 }] }]
  - name: v2
    url: http://${b.target}/v2
`);
  });
  after(async () => {
    await f?.stop();
    await a?.close();
    await b?.close();
  });

  async function where(path: string, headers: Record<string, string> = {}) {
    const r = await request(`${f.url}${path}`, { headers });
    assert.equal(r.statusCode, 200);
    return r.body.text();
  }

  it("sends matching requests to the other service, with that service's path", async () => {
    for (let i = 0; i < 5; i++) assert.equal(await where('/canary/x', { 'x-canary': '1' }), 'b');
    assert.equal(b.seen.at(-1)!.url, '/v2/x');
  });

  it('splits the rest by weight (1:3, 400 requests, within ±40 of 100)', async () => {
    let toB = 0;
    for (let i = 0; i < 400; i++) if ((await where('/canary/y')) === 'b') toB++;
    assert.ok(toB >= 60 && toB <= 140, `to v2: ${toB} of 400`);
    assert.equal(a.seen.at(-1)!.url, '/v1/y');
  });

  it('keeps a client on one service with sticky_by, and spreads clients over both', async () => {
    const seen = new Set<string>();
    for (let u = 0; u < 20; u++) {
      const first = await where('/sticky', { 'x-user': `user-${u}` });
      seen.add(first);
      for (let i = 0; i < 4; i++) assert.equal(await where('/sticky', { 'x-user': `user-${u}` }), first);
    }
    assert.deepEqual([...seen].sort(), ['a', 'b']);
  });
});
