/**
 * The built-in balancing algorithms: the one list (ARCHITECTURE.md convention 4). Each entry is the
 * declaration its file exports (declaration.ts); the order is the order of the `algorithm` enum in
 * the file schema and of the documentation's tables. configure.ts answers every question asked of
 * this list.
 */
import { latencyAlgorithm } from './latency.ts';
import { leastConnectionsAlgorithm } from './least-connections.ts';
import { leastRequestAlgorithm } from './least-request.ts';
import { maglevAlgorithm } from './maglev.ts';
import { randomAlgorithm } from './random.ts';
import { rendezvousAlgorithm } from './rendezvous.ts';
import { resourceAlgorithm } from './resource.ts';
import { ringHashAlgorithm } from './ring-hash.ts';
import { roundRobinAlgorithm } from './round-robin.ts';
import type { BalancerFactory } from './types.ts';

export const BUILTIN_ALGORITHMS = [
  roundRobinAlgorithm,
  randomAlgorithm,
  leastConnectionsAlgorithm,
  leastRequestAlgorithm,
  latencyAlgorithm,
  ringHashAlgorithm,
  maglevAlgorithm,
  rendezvousAlgorithm,
  resourceAlgorithm,
] as const;

/** Other names accepted for an id: Kong calls its ring hash `consistent-hashing`. */
export const BALANCER_ALIASES: ReadonlyMap<string, string> = new Map(
  BUILTIN_ALGORITHMS.flatMap((d) => d.aliases.map((a) => [a, d.id] as const)),
);

/** Each algorithm's factory with its built-in defaults, by id and by alias (tests, benchmarks). */
export const BUILTIN_BALANCERS: ReadonlyMap<string, BalancerFactory> = new Map(
  BUILTIN_ALGORITHMS.flatMap((d) => [d.id, ...d.aliases].map((name) => [name, d.factory] as const)),
);
