/**
 * rate-limiting through a running proxy. The proof: 2,000 requests per key offered at 200/s
 * (virtual time: the node runs on a manual clock moved 5 ms per request) against 100/s; the
 * admitted count is measured and must lie within the bound docs/plugins.md states. Then the
 * headers, the 429 with Retry-After, and counters that survive a reload.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { ManualClock } from '../../../src/core/clock.ts';
import { FulcrumNode } from '../../../src/runtime/node.ts';
import { TEST_NODE_HEADER } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

describe('rate-limiting through a running proxy', () => {
  let a: TestUpstream;
  let node: FulcrumNode;
  let url: string;
  let file: string;
  const clock = new ManualClock(1_700_000_000_000);
  const agent = new Agent({ connections: 4 });

  const config = (perSecond: number) => `${TEST_NODE_HEADER}
services:
  - name: api
    url: http://${a.target}
    routes:
      - name: limited
        paths: [/limited]
        plugins:
          - name: key-auth
          - name: rate-limiting
            config: { second: ${perSecond}, hour: 100000, limit_by: consumer }
      - name: by-header
        paths: [/by-header]
        plugins:
          - name: rate-limiting
            config: { minute: 2, limit_by: header, header_name: X-Tenant, error_message: slow down }
consumers:
  - username: one
    keyauth_credentials: [{ key: k1 }]
  - username: two
    keyauth_credentials: [{ key: k2 }]
`;

  before(async () => {
    a = await startUpstream('a');
    file = join(mkdtempSync(join(tmpdir(), 'fulcrum-test-')), 'fulcrum.yaml');
    writeFileSync(file, config(100));
    node = await FulcrumNode.start({ configFile: file, clock, accessLog: 'off', logLevel: 'silent' });
    url = `http://127.0.0.1:${node.proxyAddresses()[0]!.port}`;
  });
  after(async () => {
    await node?.stop();
    await agent.close();
    await a?.close();
  });

  async function get(path: string, headers: Record<string, string>) {
    const r = await request(`${url}${path}`, { headers, dispatcher: agent });
    await r.body.text();
    return { status: r.statusCode, headers: r.headers };
  }

  it('admits 2,000 requests per key offered at 200/s against 100/s within the stated bound', async (t) => {
    const admitted = { k1: 0, k2: 0 };
    let refusedWithHeaders = 0;
    for (let i = 0; i < 2000; i++) {
      for (const key of ['k1', 'k2'] as const) {
        const r = await get('/limited', { apikey: key });
        if (r.status === 200) admitted[key]++;
        else {
          assert.equal(r.status, 429);
          if (r.headers['retry-after'] === '1' && r.headers['ratelimit-remaining'] === '0')
            refusedWithHeaders++;
        }
      }
      clock.advance(5);
    }
    // 10 s of virtual time not aligned to the second: n = 10 windows plus a partial first one.
    const n = 10;
    const L = 100;
    const lower = n * L - n * (1 + L / 200);
    const upper = (n + 1) * L;
    for (const k of ['k1', 'k2'] as const)
      assert.ok(
        admitted[k] >= lower && admitted[k] <= upper,
        `${k}: admitted ${admitted[k]}, bound [${lower}, ${upper}]`,
      );
    assert.equal(admitted.k1, admitted.k2, 'each consumer has its own counters, on the same timeline');
    assert.equal(refusedWithHeaders, 2 * (2000 - admitted.k1));
    t.diagnostic(`admitted ${admitted.k1} of 2000 per key (bound [${lower}, ${upper}])`);
  });

  it("sends Kong's X-RateLimit-* and the RateLimit-* headers, and 429 with Retry-After and the message", async () => {
    clock.advance(120_000);
    const r1 = await get('/by-header', { 'x-tenant': 't1' });
    assert.equal(r1.status, 200);
    assert.equal(r1.headers['x-ratelimit-limit-minute'], '2');
    assert.equal(r1.headers['x-ratelimit-remaining-minute'], '1');
    assert.equal(r1.headers['ratelimit-limit'], '2');
    assert.equal(r1.headers['ratelimit-remaining'], '1');
    const reset = Number(r1.headers['ratelimit-reset']);
    assert.ok(reset >= 1 && reset <= 60, `reset ${reset}`);
    assert.equal((await get('/by-header', { 'x-tenant': 't1' })).status, 200);
    const r = await request(`${url}/by-header`, { headers: { 'x-tenant': 't1' }, dispatcher: agent });
    assert.equal(r.statusCode, 429);
    assert.deepEqual(await r.body.json(), { message: 'slow down' });
    const retry = Number(r.headers['retry-after']);
    assert.ok(retry >= 1 && retry <= 120, `retry-after ${retry}`);
    assert.equal((await get('/by-header', { 'x-tenant': 't2' })).status, 200, 'another header value');
  });

  it('keeps counting across a reload that keeps the instance', async () => {
    clock.advance(120_000);
    assert.equal((await get('/by-header', { 'x-tenant': 't3' })).status, 200);
    assert.equal((await get('/by-header', { 'x-tenant': 't3' })).status, 200);
    writeFileSync(file, config(50));
    const result = await node.reload();
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal((await get('/by-header', { 'x-tenant': 't3' })).status, 429);
  });
});
