/**
 * What `GET /status` shows of one process (FulcrumNode.status; a worker's own line in its
 * primary's `/status`): the version, the configuration in service, counts of what it holds, routes
 * disabled by a configuration problem, connections and requests in flight, each upstream's health,
 * and, when they apply, the cluster's view (node-cluster.ts) and discovery's.
 */
import { VERSION } from '../core/version.ts';
import type { Runtime } from './runtime.ts';

export interface StatusParts {
  readonly runtime: Runtime;
  readonly startedAtMs: number;
  /** The cluster's fields (`database`, `cluster`), or null outside a cluster. */
  readonly cluster: Record<string, unknown> | null;
  /** Discovery's status, or null when nothing in service was discovered. */
  readonly discovery: unknown;
}

export function processStatus(p: StatusParts): unknown {
  const rt = p.runtime;
  const gen = rt.current;
  const snap = gen.snapshot;
  return {
    version: VERSION,
    uptime_s: Math.round((rt.clock.nowMs() - p.startedAtMs) / 1000),
    config: {
      source: snap.source,
      hash: snap.hash,
      generation: gen.id,
      loaded_at: new Date(gen.createdAtMs).toISOString(),
    },
    counts: {
      services: snap.services.length,
      routes: snap.routes.length,
      upstreams: snap.upstreams.filter((u) => !u.implicit).length,
      targets: snap.upstreams.reduce((n, u) => n + u.targets.length, 0),
      consumers: snap.consumers.length,
    },
    routes_disabled: gen.routes
      .filter((r) => r.disabled !== null)
      .map((r) => ({ route: r.label, path: r.spec.path, reason: r.disabled })),
    connections: rt.connections,
    requests_in_flight: rt.inflight(),
    draining: rt.draining,
    upstreams: rt.health.status(gen.upstreams.values()),
    ...(p.cluster ?? {}),
    ...(p.discovery === null ? {} : { discovery: p.discovery }),
  };
}
