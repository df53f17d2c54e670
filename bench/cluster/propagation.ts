/**
 * How long an admin write made on one node of a cluster takes to be served by the others
 * (docs/cluster.md): three nodes (child processes, as an operator starts them) share one real
 * redis-server; ROUNDS times, a route is added on node A (`POST /services/s/routes`), and nodes B
 * and C are asked for its path in a tight loop until they serve it. Timed from the moment the
 * write is sent (the write's own time on A: validate, publish to Redis, apply, is included), and
 * from A's answer; the resolution is one request on loopback (about a millisecond).
 *
 *   npm run build --silent && node dist/bench/cluster/propagation.js [ROUNDS]
 */
import { Agent } from 'node:http';
import { admin } from '../../test/helpers/admin.ts';
import { spawnFulcrum, writeConfig } from '../../test/helpers/child.ts';
import { startRedis } from '../../test/helpers/redis.ts';
import { startUpstream } from '../../test/helpers/upstream.ts';
import { getWith } from '../../test/helpers/workers.ts';

const rounds = Number(process.argv[2] ?? 30);

const redis = await startRedis();
const up = await startUpstream('a');
const file = writeConfig(`cluster:
  redis: ${redis.url}
services:
  - name: s
    url: http://${up.target}/
    routes: [{ name: root, paths: ["/root"] }]
`);
const nodes = [];
for (let i = 0; i < 3; i++) nodes.push(await spawnFulcrum(file, { startTimeoutMs: 30_000 }));
const agent = new Agent({ keepAlive: true });
const base = `http://127.0.0.1:${nodes[0]!.adminPort}`;

const served = async (url: string): Promise<number> => {
  for (;;) {
    const r = await getWith(url, agent);
    if (r.status === 200) return performance.now();
  }
};

const write: number[] = [];
const seen: number[] = [];
/** From A's answer to the write until B and C serve it (negative: they served it first). */
const lag: number[] = [];
for (let i = 0; i < rounds; i++) {
  const path = `/p${i}`;
  const begun = performance.now();
  const w = admin(base, 'POST', '/services/s/routes', { name: `r${i}`, paths: [path] }).then((r) => {
    if (r.status !== 201) throw new Error(`write refused: ${r.status} ${r.text}`);
    return performance.now();
  });
  const [wrote, b, c] = await Promise.all([
    w,
    served(`${nodes[1]!.url}${path}`),
    served(`${nodes[2]!.url}${path}`),
  ]);
  write.push(wrote - begun);
  seen.push(Math.max(b, c) - begun);
  lag.push(Math.max(b, c) - wrote);
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return Math.round(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! * 10) / 10;
};
process.stdout.write(
  `${JSON.stringify({
    node: process.versions.node,
    rounds,
    write_on_a_ms: { p50: pct(write, 50), p90: pct(write, 90), max: pct(write, 100) },
    served_by_b_and_c_ms: { p50: pct(seen, 50), p90: pct(seen, 90), max: pct(seen, 100) },
    after_a_answered_ms: { p50: pct(lag, 50), p90: pct(lag, 90), max: pct(lag, 100) },
  })}\n`,
);
agent.destroy();
await Promise.all(nodes.map((n) => n.stop()));
await redis.stop();
await up.close();
