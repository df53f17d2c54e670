import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

describe('smoke: round robin across two upstreams', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let f: TestNode;
  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    f = await startFulcrum(`
services:
  - name: s
    host: u
    routes:
      - name: r
        paths: ["/"]
upstreams:
  - name: u
    targets:
      - target: ${a.target}
      - target: ${b.target}
`);
  });
  after(async () => {
    await f.stop();
    await a.close();
    await b.close();
  });

  it('alternates between the targets', async () => {
    const names: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await request(`${f.url}/hello`);
      assert.equal(r.statusCode, 200);
      names.push(await r.body.text());
    }
    assert.deepEqual(names, ['a', 'b', 'a', 'b']);
  });

  it('answers 404 with a stable code when no route matches', async () => {
    const f2 = await startFulcrum(`
services:
  - name: s
    url: http://${a.target}
    routes:
      - paths: ["/only"]
`);
    try {
      const r = await request(`${f2.url}/other`);
      assert.equal(r.statusCode, 404);
      const body = (await r.body.json()) as { code: string };
      assert.equal(body.code, 'FULCRUM_ERR_NO_ROUTE');
    } finally {
      await f2.stop();
    }
  });
});
