/**
 * How a node's workers share new connections (docs/cluster.md#how-workers-share-a-port): a node
 * with `workers: N` is started as an operator would (`fulcrum start --workers N`), one client opens
 * CONNECTIONS connections one after another (each carries one request, then closes), and the
 * per-worker request counts are read from the primary's /metrics. Run it under each Node version
 * to compare `cluster` (the only mode on Node 20) with `reuseport` (Node 22.12+ on Linux).
 *
 *   npm run build --silent && node dist/bench/cluster/spread.js [WORKERS] [CONNECTIONS] [MODE]
 */
import { spawnFulcrum, writeConfig } from '../../test/helpers/child.ts';
import { startUpstream } from '../../test/helpers/upstream.ts';
import { getFresh, requestsByWorker } from '../../test/helpers/workers.ts';

const workers = Number(process.argv[2] ?? 2);
const connections = Number(process.argv[3] ?? 2000);
const mode = process.argv[4] ?? 'auto';

const up = await startUpstream('a');
const file = writeConfig(`worker_listen: ${mode}
services:
  - name: s
    url: http://${up.target}/
    routes: [{ name: r, paths: ["/"] }]
`);
const node = await spawnFulcrum(file, {
  args: ['start', '-c', file, '--workers', String(workers)],
  startTimeoutMs: 30_000,
});
const listen = node.logs.find((l) => typeof l.listen === 'string')?.listen;
for (let i = 0; i < connections; i++) await getFresh(`${node.url}/`);
const counts = await requestsByWorker(node.adminPort);
const row = [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n);
const mean = connections / workers;
const maxDev = Math.max(...row.map((n) => Math.abs(n - mean) / mean));
process.stdout.write(
  `${JSON.stringify({ node: process.versions.node, listen, workers, connections, per_worker: row, max_deviation_pct: Math.round(maxDev * 1000) / 10 })}\n`,
);
await node.stop();
await up.close();
