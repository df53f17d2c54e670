/**
 * From an upstream's declarative settings to its balancer factory: the one place that knows which
 * options each algorithm reads. The option helpers of each algorithm validate ranges and throw a
 * RangeError naming the field, which the config layer reports at the field's position.
 */
import { BALANCER_ALIASES, BUILTIN_BALANCERS } from './index.ts';
import { latencyFactory } from './latency.ts';
import { leastRequestFactory } from './least-request.ts';
import { maglevFactory } from './maglev.ts';
import { rendezvousFactory } from './rendezvous.ts';
import { resourceFactory } from './resource.ts';
import { ringHashFactory } from './ring-hash.ts';
import type { BalancerFactory } from './types.ts';

/** Every balancer option an upstream can carry, in the declarative file's units. */
export interface BalancerSettings {
  readonly slots: number;
  readonly hashBalanceFactor: number;
  readonly choiceCount: number;
  readonly activeRequestBias: number;
  readonly decayWindowMs: number;
  readonly maglevTableSize: number;
  /** `resource`: the response header carrying the load (lower case), its floor and its decay (ms). */
  readonly loadHeader: string;
  readonly loadFloor: number;
  readonly loadDecayMs: number;
}

/** The canonical id of an algorithm name (`consistent-hashing` → `ring-hash`). */
export function canonicalAlgorithm(name: string): string {
  return BALANCER_ALIASES.get(name) ?? name;
}

/** Whether an algorithm reads a hash key (`hash_on`). */
export function isHashing(algorithm: string): boolean {
  const id = canonicalAlgorithm(algorithm);
  return id === 'ring-hash' || id === 'maglev' || id === 'rendezvous';
}

/**
 * The options an algorithm actually reads, as a plain object: its identity decides whether a
 * reload may keep the running balancer (and its state) or must build a new one.
 */
export function relevantSettings(algorithm: string, s: BalancerSettings): Record<string, number> {
  switch (canonicalAlgorithm(algorithm)) {
    case 'ring-hash':
      return { minRingSize: s.slots, hashBalanceFactor: s.hashBalanceFactor };
    case 'maglev':
      return { tableSize: s.maglevTableSize, hashBalanceFactor: s.hashBalanceFactor };
    case 'rendezvous':
      return { hashBalanceFactor: s.hashBalanceFactor };
    case 'least-request':
      return { choiceCount: s.choiceCount, activeRequestBias: s.activeRequestBias };
    case 'latency':
      return { decayWindowMs: s.decayWindowMs };
    case 'resource':
      return { loadFloor: s.loadFloor, loadDecayMs: s.loadDecayMs };
    default:
      return {};
  }
}

/** The factory for an upstream; throws a RangeError naming the offending field. */
export function factoryFor(algorithm: string, s: BalancerSettings): BalancerFactory {
  const id = canonicalAlgorithm(algorithm);
  switch (id) {
    case 'ring-hash':
      return ringHashFactory({ minRingSize: s.slots, hashBalanceFactor: s.hashBalanceFactor });
    case 'maglev':
      return maglevFactory({ tableSize: s.maglevTableSize, hashBalanceFactor: s.hashBalanceFactor });
    case 'rendezvous':
      return rendezvousFactory({ hashBalanceFactor: s.hashBalanceFactor });
    case 'least-request':
      return leastRequestFactory({ choiceCount: s.choiceCount, activeRequestBias: s.activeRequestBias });
    case 'latency':
      return latencyFactory({ decayWindowMs: s.decayWindowMs });
    case 'resource':
      return resourceFactory({ floor: s.loadFloor, decayMs: s.loadDecayMs });
  }
  const f = BUILTIN_BALANCERS.get(id);
  if (!f) throw new RangeError(`algorithm: no balancer named ${JSON.stringify(algorithm)}`);
  return f;
}
