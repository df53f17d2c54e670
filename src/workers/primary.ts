/**
 * Turning a node into the primary of worker processes: `workers` (or `--workers`) above 1 makes
 * the node bind no proxy listener itself and hand them to a WorkerPool; its health checks then
 * publish every outcome to the workers (src/health/share.ts).
 */

import { availableParallelism } from 'node:os';
import process from 'node:process';
import type { Snapshot } from '../config/types.ts';
import type { HealthEvent } from '../health/share.ts';
import type { HostedNode, ProxyHost } from '../runtime/node-options.ts';
import { ClusterStore } from '../store/cluster-store.ts';
import { listenMode } from './listen-mode.ts';
import { WorkerPool } from './pool.ts';
import type { WorkerSettings } from './protocol.ts';

/** The number of workers a setting asks for: 0 (`auto`) is one per core. */
export function workerCount(setting: number): number {
  return setting === 0 ? availableParallelism() : setting;
}

/**
 * The `proxyHost` option of a node started from the command line: workers when the count is
 * above 1 (`override` from `--workers` wins over the file's `workers`), else none.
 */
export function workersFor(
  override: number | undefined,
  settings: Omit<WorkerSettings, 'index' | 'mode'>,
): (snapshot: Snapshot, node: HostedNode) => ProxyHost | undefined {
  return (snapshot, node) => {
    const count = workerCount(override ?? snapshot.node.workers);
    if (count <= 1) return undefined;
    const mode = listenMode(snapshot.node.workerListen);
    const runtime = node.runtime;
    const store = node.control.store;
    const pool = new WorkerPool({
      count,
      mode,
      log: node.logs.app,
      clock: runtime.clock,
      settings:
        store instanceof ClusterStore
          ? {
              ...settings,
              clusterRedis: store.spec.redis,
              clusterPrefix: store.spec.prefix,
              clusterTimeoutMs: store.spec.timeoutMs,
            }
          : settings,
      nodes: () => node.cluster?.membership.count() ?? 1,
      limits: (upstream) => runtime.current.upstreams.get(upstream)?.spec.circuitBreaker,
      verdicts: () => runtime.health.verdicts(runtime.current.upstreams.values()),
      healthFromWorker: (e) => {
        runtime.health.receive(e);
        runtime.health.sharing?.forward?.(e);
      },
    });
    if (node.cluster !== null) {
      node.cluster.membership.onChange = (n) => pool.broadcastNodes(n);
      node.cluster.stickyKey.onChange = (key) => pool.broadcastStickyKey(key);
    }
    const toWorkers = { probes: () => true, publish: (e: HealthEvent) => pool.broadcastHealth(e) };
    // In a cluster the node's share decides who probes and carries events to the workers too.
    const cluster = runtime.health.sharing;
    if (cluster?.chain !== undefined) cluster.chain(toWorkers);
    else runtime.health.setShare(toWorkers, runtime.current.upstreams.values());
    node.logs.app.info(
      { workers: count, listen: mode, node: process.versions.node },
      mode === 'reuseport'
        ? 'workers bind their own sockets (SO_REUSEPORT): the kernel spreads connections'
        : 'workers share the primary sockets (cluster module): the primary hands connections round robin',
    );
    return pool;
  };
}
