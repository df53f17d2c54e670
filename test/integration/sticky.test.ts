import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

describe('sticky sessions through a running proxy', () => {
  const ups: TestUpstream[] = [];
  let f: TestNode;
  const config = (cookieTargets: TestUpstream[]) => `
services:
  - name: cookie
    host: cookie
    routes: [{ paths: ["/cookie"] }]
  - name: ip
    host: ip
    routes: [{ paths: ["/ip"] }]
upstreams:
  - name: cookie
    algorithm: round-robin
    sticky:
      secret: "integration-test-secret"
      cookie: { name: SRV, ttl: 600, path: /cookie }
    targets:
${cookieTargets.map((u) => `      - target: ${u.target}\n`).join('')}  - name: ip
    algorithm: least-request
    sticky: { mode: source-ip, source_ip: { table_size: 10, idle_timeout: 60 } }
    targets:
${ups.map((u) => `      - target: ${u.target}\n`).join('')}`;

  before(async () => {
    for (const n of ['a', 'b', 'c']) ups.push(await startUpstream(n));
    f = await startFulcrum(config(ups));
  });
  after(async () => {
    await f.stop();
    for (const u of ups) await u.close();
  });

  async function get(path: string, cookie?: string) {
    const r = await request(`${f.url}${path}`, { headers: cookie ? { cookie } : {} });
    const sc = r.headers['set-cookie'];
    return { name: await r.body.text(), setCookie: sc === undefined ? null : String(sc) };
  }

  it('inserts a signed cookie on the first response, and the cookie pins the client', async () => {
    const first = await get('/cookie');
    assert.match(
      first.setCookie!,
      /^SRV=[\w-]{12}\.\d+\.[\w-]{22}; Path=\/cookie; Max-Age=600; HttpOnly; SameSite=Lax$/,
    );
    const pin = first.setCookie!.split(';')[0]!;
    for (let i = 0; i < 12; i++) {
      const r = await get('/cookie', `x=1; ${pin}`);
      assert.equal(r.name, first.name);
      assert.equal(r.setCookie, null, 'a valid, fresh pin is not re-sent');
    }
    // Clients without a cookie still follow round robin: three new clients reach three targets.
    const fresh = new Set<string>();
    for (let i = 0; i < 3; i++) fresh.add((await get('/cookie')).name);
    assert.equal(fresh.size, 3);
  });

  it('ignores a tampered cookie: the algorithm picks and a new pin is set', async () => {
    const first = await get('/cookie');
    const pin = first.setCookie!.split(';')[0]!;
    const tampered = `${pin.slice(0, -2)}${pin.endsWith('AA') ? 'BB' : 'AA'}`;
    const names = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const r = await get('/cookie', tampered);
      assert.notEqual(r.setCookie, null, 'a forged pin is replaced');
      names.add(r.name);
    }
    assert.equal(names.size, 3, 'tampered requests are balanced like new clients');
  });

  it('re-picks and re-pins when the pinned target is removed by a reload', async () => {
    const first = await get('/cookie');
    const pin = first.setCookie!.split(';')[0]!;
    f.write(config(ups.filter((u) => u.name !== first.name)));
    assert.ok((await f.node.reload()).ok);
    const moved = await get('/cookie', pin);
    assert.notEqual(moved.name, first.name);
    assert.notEqual(moved.setCookie, null);
    const pin2 = moved.setCookie!.split(';')[0]!;
    for (let i = 0; i < 5; i++) assert.equal((await get('/cookie', pin2)).name, moved.name);
    f.write(config(ups));
    assert.ok((await f.node.reload()).ok);
    assert.equal((await get('/cookie', pin2)).name, moved.name, 'the new pin survives the target returning');
    assert.equal((await get('/cookie', pin)).name, first.name, 'the old pin is valid again');
  });

  it('source-ip: one client address stays on one target (least-request alone would spread it)', async () => {
    const names = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const r = await get('/ip');
      assert.equal(r.setCookie, null);
      names.add(r.name);
    }
    assert.equal(names.size, 1, [...names].join());
  });
});
