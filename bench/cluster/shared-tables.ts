/**
 * What sharing through Redis costs (docs/cluster.md): how long a source-ip assignment made on one
 * node takes to reach another node's table, and the latency of a proxy-cache hit served from
 * Redis against one served from memory (and a request that goes to the target, for scale).
 *
 * 1. Replication: two AffinityShare instances (as two nodes have) on one real redis-server; ROUNDS
 *    times an address is assigned in table A, timed from the assignment until table B applies it
 *    (the write, Redis's script and PUBLISH, the delivery, the apply). Both run in this process.
 * 2. Hits: one node (a child process, with `cluster`) with three routes: proxy-cache in memory,
 *    proxy-cache in Redis, no cache; each warmed, then ROUNDS GETs on a kept connection per route,
 *    interleaved, timed at the client.
 *
 *   npm run build --silent && node dist/bench/cluster/shared-tables.js [ROUNDS]
 */
import { Agent } from 'node:http';
import pino from 'pino';
import { AffinityShare } from '../../src/cluster/affinity-share.ts';
import { systemClock } from '../../src/core/clock.ts';
import { AffinityTable } from '../../src/upstreams/affinity-table.ts';
import { spawnFulcrum, writeConfig } from '../../test/helpers/child.ts';
import { until } from '../../test/helpers/follow.ts';
import { startRedis } from '../../test/helpers/redis.ts';
import { startUpstream } from '../../test/helpers/upstream.ts';
import { getWith } from '../../test/helpers/workers.ts';

const rounds = Number(process.argv[2] ?? 500);

function summary(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(3);
  return `p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, p99 ${at(0.99)} ms, max ${s.at(-1)!.toFixed(3)} ms (n=${s.length})`;
}

const redis = await startRedis();

// 1. Replication delay of an affinity entry.
{
  const log = pino({ level: 'silent' });
  const mk = () =>
    new AffinityShare({ url: redis.url, prefix: 'bench', timeoutMs: 1000, clock: systemClock, log });
  const [shareA, shareB] = [mk(), mk()];
  const [tA, tB] = [new AffinityTable(100_000, 1_800_000), new AffinityTable(100_000, 1_800_000)];
  let arrived: ((ms: number) => void) | null = null;
  const apply = tB.apply.bind(tB);
  tB.apply = (key, id, lastMs) => {
    apply(key, id, lastMs);
    if (key.startsWith('10.') && arrived !== null) arrived(performance.now());
  };
  shareA.attach('u', tA, 100_000, 1_800_000);
  shareB.attach('u', tB, 100_000, 1_800_000);
  // Both connected and subscribed: a first assignment goes through.
  await until(async () => {
    const got = new Promise<number>((r) => {
      arrived = r;
    });
    tA.set('10.255.255.255', 'warm', systemClock.monoMs());
    return (await Promise.race([got, new Promise<number>((r) => setTimeout(() => r(-1), 100))])) > 0;
  });
  const delays: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const got = new Promise<number>((r) => {
      arrived = r;
    });
    const t0 = performance.now();
    tA.set(`10.0.${i >> 8}.${i & 255}`, `t${i % 4}`, systemClock.monoMs());
    delays.push((await got) - t0);
  }
  console.log(`affinity entry, node A's assignment to node B's table: ${summary(delays)}`);
  shareA.close();
  shareB.close();
}

// 2. proxy-cache hits: memory against Redis.
{
  const up = await startUpstream('a', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ payload: 'x'.repeat(1000) }));
  });
  const file = writeConfig(`cluster:
  redis: ${redis.url}
services:
  - name: s
    url: http://${up.target}/
    routes:
      - name: mem
        paths: ["/mem"]
        plugins: [{ name: proxy-cache, config: { cache_ttl: 3600 } }]
      - name: redis
        paths: ["/redis"]
        plugins: [{ name: proxy-cache, config: { cache_ttl: 3600, strategy: redis, redis: { timeout: 1000 } } }]
      - name: plain
        paths: ["/plain"]
`);
  const node = await spawnFulcrum(file, { startTimeoutMs: 30_000 });
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  for (const p of ['/mem', '/redis'])
    await until(async () => (await getWith(`${node.url}${p}`, agent)).headers['x-cache-status'] === 'Hit');
  const times: Record<string, number[]> = { '/mem': [], '/redis': [], '/plain': [] };
  for (let i = 0; i < rounds; i++)
    for (const p of Object.keys(times)) {
      const t0 = performance.now();
      const r = await getWith(`${node.url}${p}`, agent);
      times[p]!.push(performance.now() - t0);
      if (p !== '/plain' && r.headers['x-cache-status'] !== 'Hit') throw new Error(`${p}: not a hit`);
    }
  console.log(`proxy-cache hit from memory: ${summary(times['/mem']!)}`);
  console.log(`proxy-cache hit from Redis:  ${summary(times['/redis']!)}`);
  console.log(`no cache (to the target):    ${summary(times['/plain']!)}`);
  agent.destroy();
  await node.stop();
  await up.close();
}

await redis.stop();
