/** The built-in balancing algorithms, by the id users write in `algorithm:` (convention 4). */
import { roundRobin } from './round-robin.ts';
import type { BalancerFactory } from './types.ts';

export const BUILTIN_BALANCERS: ReadonlyMap<string, BalancerFactory> = new Map([[roundRobin.id, roundRobin]]);
