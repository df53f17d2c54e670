import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { nameHandler, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

describe('balancing algorithms through a running proxy', () => {
  const ups: TestUpstream[] = [];
  let slow: TestUpstream;
  let f: TestNode;
  const algorithms = ['round-robin', 'least-request', 'latency', 'least-connections'];
  before(async () => {
    for (const n of ['a', 'b', 'c']) ups.push(await startUpstream(n));
    slow = await startUpstream('slow', (req, res, body) =>
      setTimeout(() => nameHandler('slow')(req, res, body), 40),
    );
    const upstreams = algorithms
      .map(
        (a) => `  - name: ${a}
    algorithm: ${a}
    targets:
      - target: ${ups[0]!.target}
      - target: ${ups[1]!.target}
      - target: ${slow.target}
`,
      )
      .join('');
    f = await startFulcrum(`
services:
${algorithms.map((a) => `  - name: ${a}\n    host: ${a}\n    routes: [{ paths: ["/${a}"] }]\n`).join('')}
  - name: hash
    host: hash
    routes: [{ paths: ["/hash"] }]
  - name: cookie
    host: cookie
    routes: [{ paths: ["/cookie"] }]
  - name: capture
    host: capture
    routes: [{ paths: ["~/tenants/(?<tenant>[a-z0-9]+)/"], strip_path: false }]
upstreams:
${upstreams}  - name: hash
    algorithm: consistent-hashing
    hash_on: header
    hash_on_header: x-user
    hash_fallback: ip
    targets: [{ target: "${ups[0]!.target}" }, { target: "${ups[1]!.target}" }, { target: "${ups[2]!.target}" }]
  - name: cookie
    algorithm: maglev
    maglev_table_size: 251
    hash_on: cookie
    hash_on_cookie: fulcrum-sticky
    hash_on_cookie_path: /cookie
    targets: [{ target: "${ups[0]!.target}" }, { target: "${ups[1]!.target}" }, { target: "${ups[2]!.target}" }]
  - name: capture
    algorithm: rendezvous
    hash_on: uri_capture
    hash_on_uri_capture: tenant
    targets: [{ target: "${ups[0]!.target}" }, { target: "${ups[1]!.target}" }, { target: "${ups[2]!.target}" }]
`);
  });
  after(async () => {
    await f.stop();
    for (const u of [...ups, slow]) await u.close();
  });

  async function slowShare(algorithm: string, total: number, concurrency: number): Promise<number> {
    const agent = new Agent({ connections: concurrency });
    let next = 0;
    let slowCount = 0;
    const worker = async () => {
      while (next < total) {
        next++;
        const r = await request(`${f.url}/${algorithm}`, { dispatcher: agent });
        if ((await r.body.text()) === 'slow') slowCount++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await agent.close();
    return slowCount / total;
  }

  it('least-request, latency and least-connections send a slow target measurably less than round-robin', async (t) => {
    const shares: Record<string, number> = {};
    for (const a of algorithms) shares[a] = await slowShare(a, 240, 6);
    t.diagnostic(`share of requests on the slow target: ${JSON.stringify(shares)}`);
    assert.ok(
      Math.abs(shares['round-robin']! - 1 / 3) < 0.02,
      `round-robin gives a third: ${shares['round-robin']}`,
    );
    for (const a of ['least-request', 'latency', 'least-connections'])
      assert.ok(
        shares[a]! < shares['round-robin']! * 0.7,
        `${a}: ${shares[a]} vs round-robin ${shares['round-robin']}`,
      );
  });

  it('consistent hashing on a header sends a key to the same target every time, and spreads keys', async () => {
    const targetOf = new Map<string, string>();
    for (let i = 0; i < 30; i++) {
      const user = `user-${i % 10}`;
      const r = await request(`${f.url}/hash`, { headers: { 'x-user': user } });
      const name = await r.body.text();
      if (targetOf.has(user)) assert.equal(name, targetOf.get(user), `${user} moved`);
      targetOf.set(user, name);
    }
    assert.ok(new Set(targetOf.values()).size >= 2, 'ten keys over three targets use more than one');
  });

  it('hash_on cookie sets the cookie when absent, and the cookie then pins the client', async () => {
    const first = await request(`${f.url}/cookie`);
    const name = await first.body.text();
    const setCookie = String(first.headers['set-cookie']);
    assert.match(setCookie, /^fulcrum-sticky=[0-9a-f-]{36}; Path=\/cookie; HttpOnly; SameSite=Lax$/);
    const cookie = setCookie.split(';')[0]!;
    for (let i = 0; i < 10; i++) {
      const r = await request(`${f.url}/cookie`, { headers: { cookie: `other=1; ${cookie}` } });
      assert.equal(await r.body.text(), name);
      assert.equal(r.headers['set-cookie'], undefined, 'no new cookie when the client has one');
    }
  });

  it('hash_on uri_capture keys on a named capture of the route regex: one tenant, one target', async () => {
    const targetOf = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      const tenant = `t${i % 8}`;
      const r = await request(`${f.url}/tenants/${tenant}/item/${i}`);
      const name = await r.body.text();
      assert.equal(r.statusCode, 200);
      if (targetOf.has(tenant))
        assert.equal(name, targetOf.get(tenant), `${tenant} moved with the rest of the path`);
      targetOf.set(tenant, name);
    }
    assert.ok(new Set(targetOf.values()).size >= 2, 'eight tenants over three targets use more than one');
  });
});
