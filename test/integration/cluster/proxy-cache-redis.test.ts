/**
 * proxy-cache with `strategy: redis` on two real nodes (child processes) sharing one real Redis:
 * a response cached through node A is a Hit on node B, which runs two workers (the target asked
 * once); Vary variants are told apart across nodes; a body over `max_entry_bytes` is not stored;
 * the entry's expiry in Redis is the ttl the plugin computed (the response's max-age with
 * `cache_control`). With Redis killed, every request still gets its answer from the target
 * (Bypass), none fails. The configuration is docs/cluster.md's example, as written but for the
 * Redis and the target.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { type ChildFulcrum, REPO_ROOT, spawnFulcrum, writeConfig } from '../../helpers/child.ts';
import { markedBlock } from '../../helpers/doc-examples.ts';
import { until } from '../../helpers/follow.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';
import { getFresh } from '../../helpers/workers.ts';

/**
 * GET through a node with the Host clients use (the Host is part of the cache key; the two nodes
 * listen on different ports here, behind one name in production).
 */
function get(url: string, headers: Record<string, string> = {}) {
  return getFresh(url, { host: 'api.example', ...headers });
}

/** A sample of fulcrum_proxy_cache_redis_total on a node (summed over its workers, if any). */
async function cacheEvents(n: ChildFulcrum, op: string, result: string): Promise<number> {
  const r = await getFresh(`http://127.0.0.1:${n.adminPort}/metrics`);
  const re = new RegExp(
    `^fulcrum_proxy_cache_redis_total\\{(?:worker="\\d+",)?op="${op}",result="${result}"\\} (\\d+)`,
    'gm',
  );
  let sum = 0;
  for (const m of r.body.matchAll(re)) sum += Number(m[1]);
  return sum;
}

describe('proxy-cache entries in Redis, shared by two nodes', { timeout: 60_000 }, () => {
  let redis: TestRedis;
  let up: TestUpstream;
  const nodes: ChildFulcrum[] = [];
  /** Requests the target answered, by the path it saw (the route strips `/cached`). */
  const asked = new Map<string, number>();

  before(async () => {
    redis = await startRedis();
    up = await startUpstream('a', (req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      asked.set(u.pathname, (asked.get(u.pathname) ?? 0) + 1);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (u.searchParams.has('vary')) headers.vary = 'Accept-Language';
      const cc = u.searchParams.get('cc');
      if (cc) headers['cache-control'] = cc;
      res.writeHead(200, headers);
      res.end(
        u.searchParams.has('big')
          ? 'x'.repeat(5000)
          : JSON.stringify({
              path: u.pathname,
              n: asked.get(u.pathname),
              lang: req.headers['accept-language'],
            }),
      );
    });
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'cluster.md'), 'utf8');
    const file = writeConfig(
      markedBlock(doc, 'example: proxy-cache-redis', 'yaml')
        .replace('_format_version: "3.0"\n', '')
        .replace('redis://127.0.0.1:6379', redis.url)
        .replace('http://10.0.1.10:8080', `http://${up.target}`),
    );
    nodes.push(await spawnFulcrum(file, { startTimeoutMs: 20_000 }));
    // Node B runs two workers: each talks to Redis itself, and they share the entries too.
    nodes.push(
      await spawnFulcrum(null, { args: ['start', '-c', file, '--workers', '2'], startTimeoutMs: 20_000 }),
    );
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    await up?.close();
  });

  /** Wait until node `n` has stored `count` entries in Redis (a store follows the response). */
  const stored = (n: ChildFulcrum, count: number) =>
    until(async () => (await cacheEvents(n, 'store', 'stored')) >= count);

  it('serves on node B, as a Hit, what node A cached; the target is asked once', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const miss = await get(`${a.url}/cached/one?x=1`);
    assert.equal(miss.headers['x-cache-status'], 'Miss');
    await stored(a, 1);
    const hit = await get(`${b.url}/cached/one?x=1`);
    assert.equal(hit.headers['x-cache-status'], 'Hit');
    assert.equal(hit.body, miss.body);
    assert.equal(hit.headers['content-type'], 'application/json');
    assert.equal(hit.headers['x-cache-key'], miss.headers['x-cache-key']);
    assert.ok(Number(hit.headers.age) >= 0);
    assert.equal((await get(`${a.url}/cached/one?x=1`)).headers['x-cache-status'], 'Hit');
    assert.equal(asked.get('/one'), 1, 'the target was asked once');
  });

  it('keeps Vary variants apart across nodes', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const before = await cacheEvents(a, 'store', 'stored');
    const en = await get(`${a.url}/cached/v?vary=1`, { 'accept-language': 'en' });
    assert.equal(en.headers['x-cache-status'], 'Miss');
    await stored(a, before + 1);
    const fr = await get(`${b.url}/cached/v?vary=1`, { 'accept-language': 'fr' });
    assert.equal(fr.headers['x-cache-status'], 'Miss', 'another variant');
    const en2 = await get(`${b.url}/cached/v?vary=1`, { 'accept-language': 'en' });
    assert.equal(en2.headers['x-cache-status'], 'Hit');
    assert.equal(en2.body, en.body);
    await stored(b, 1);
    const fr2 = await get(`${a.url}/cached/v?vary=1`, { 'accept-language': 'fr' });
    assert.equal(fr2.headers['x-cache-status'], 'Hit');
    assert.equal(fr2.body, fr.body);
    assert.equal(asked.get('/v'), 2);
  });

  it("stores with the plugin's ttl, and refuses bodies over max_entry_bytes", async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const before = await cacheEvents(a, 'store', 'stored');
    const m = await get(`${a.url}/cached/cc?cc=max-age%3D7`);
    await stored(a, before + 1);
    const r = new Redis(redis.port, '127.0.0.1');
    try {
      const keys = await r.keys(`fulcrum:pc:*:${String(m.headers['x-cache-key'])}`);
      assert.equal(keys.length, 1);
      const ttl = await r.pttl(keys[0]!);
      assert.ok(ttl > 5000 && ttl <= 7000, `expires with max-age 7 s (PTTL ${ttl} ms)`);
    } finally {
      r.disconnect();
    }
    assert.equal((await get(`${a.url}/cached/big?big=1`)).headers['x-cache-status'], 'Miss');
    assert.equal((await get(`${a.url}/cached/big?big=1`)).headers['x-cache-status'], 'Miss');
    assert.equal((await get(`${b.url}/cached/big?big=1`)).headers['x-cache-status'], 'Miss');
    assert.equal(asked.get('/big'), 3, 'never stored');
  });

  it('goes to the target while Redis does not answer, and uses it again once it does', async () => {
    const [a] = nodes;
    redis.pause();
    try {
      const statuses: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await get(`${a!.url}/cached/one?x=1`);
        assert.equal(r.status, 200);
        statuses.push(String(r.headers['x-cache-status']));
      }
      assert.deepEqual(statuses, ['Bypass', 'Bypass', 'Bypass', 'Bypass', 'Bypass']);
      await a!.waitForLog((l) => String(l.msg).startsWith('proxy-cache: Redis is slow or away'));
      // The first lookup waited out the timeout; the next ones did not ask Redis at all.
      assert.equal(await cacheEvents(a!, 'lookup', 'error'), 1);
      assert.equal(await cacheEvents(a!, 'lookup', 'away'), 4);
    } finally {
      redis.resume();
    }
    await until(async () => (await get(`${a!.url}/cached/one?x=1`)).headers['x-cache-status'] === 'Hit');
    await a!.waitForLog((l) => l.msg === 'proxy-cache: Redis answers again');
  });

  it('goes to the target when Redis is away: no request fails', async () => {
    await redis.kill();
    let failed = 0;
    const statuses = new Set<string>();
    for (let i = 0; i < 10; i++)
      for (const n of nodes) {
        const r = await get(`${n.url}/cached/one?x=1`).catch(() => null);
        if (r === null || r.status !== 200) failed++;
        else statuses.add(String(r.headers['x-cache-status']));
      }
    assert.equal(failed, 0);
    assert.deepEqual([...statuses], ['Bypass']);
    for (const n of nodes) {
      await n.waitForLog((l) => String(l.msg).startsWith('proxy-cache: Redis is slow or away'));
      const away = await getFresh(`http://127.0.0.1:${n.adminPort}/metrics`);
      assert.match(away.body, /^fulcrum_proxy_cache_redis_away\{(worker="\d+",)?redis="[^"]+"\} 1$/m);
    }
  });
});
