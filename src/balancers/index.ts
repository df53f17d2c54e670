/** The built-in balancing algorithms, by the id users write in `algorithm:` (convention 4). */
import { latency } from './latency.ts';
import { leastConnections } from './least-connections.ts';
import { leastRequest } from './least-request.ts';
import { maglev } from './maglev.ts';
import { random } from './random.ts';
import { rendezvous } from './rendezvous.ts';
import { resource } from './resource.ts';
import { ringHash } from './ring-hash.ts';
import { roundRobin } from './round-robin.ts';
import type { BalancerFactory } from './types.ts';

/** Other names accepted for an id: Kong calls its ring hash `consistent-hashing`. */
export const BALANCER_ALIASES: ReadonlyMap<string, string> = new Map([['consistent-hashing', 'ring-hash']]);

const factories = [
  roundRobin,
  random,
  leastConnections,
  leastRequest,
  latency,
  ringHash,
  maglev,
  rendezvous,
  resource,
];

export const BUILTIN_BALANCERS: ReadonlyMap<string, BalancerFactory> = new Map([
  ...factories.map((f) => [f.id, f] as const),
  ...[...BALANCER_ALIASES].map(([alias, id]) => [alias, factories.find((f) => f.id === id)!] as const),
]);
