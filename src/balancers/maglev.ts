/**
 * `maglev`: Google's Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
 * Load Balancer", NSDI 2016, section 3.4), weighted as Envoy's MAGLEV does it. Each target gets a
 * permutation of the table's slots from two hashes of its name (offset, skip); targets take turns
 * claiming their next free slot until the table is full, a target of weight w taking a turn in
 * w/max-weight of the rounds. A pick is one hash and one array read, O(1).
 *
 * Why: lookups are faster than a ring's binary search and the table spreads keys almost exactly in
 * proportion to weight (the imbalance is measured in the tests), at the price of slightly more keys
 * moving on churn than a ring. The table size must be prime (so every skip generates a permutation)
 * and defaults to Envoy's 65537. Unhealthy, excluded and overloaded targets (`hash_balance_factor`)
 * are skipped by walking on through the table, whose neighbouring slots belong to pseudo-random
 * targets, so a down target's keys spread over all the others.
 */
import type { Rng } from '../core/random.ts';
import type { TargetState } from '../upstreams/target.ts';
import {
  allowed,
  capPerWeight,
  checkBalanceFactor,
  HASH_BALANCE_FACTOR,
  Visited,
  walkOwners,
} from './common.ts';
import { declareBalancer, numberOption } from './declaration.ts';
import { hash53, isPrime, keyHash } from './hash.ts';
import type { Balancer, BalancerFactory, PickContext, Picker } from './types.ts';

export interface MaglevOptions {
  /** `maglev_table_size`: slots in the lookup table, a prime (Envoy's default 65537). */
  readonly tableSize: number;
  /** `hash_balance_factor`: 0 (off) or > 1, the bounded-load factor. */
  readonly hashBalanceFactor: number;
}

export const DEFAULT_MAGLEV: MaglevOptions = Object.freeze({ tableSize: 65537, hashBalanceFactor: 0 });

/** Fills in defaults and checks ranges; throws a RangeError naming the field. */
export function maglevOptions(o: Partial<MaglevOptions> = {}): MaglevOptions {
  const size = o.tableSize ?? DEFAULT_MAGLEV.tableSize;
  if (!isPrime(size) || size > 5_000_011)
    throw new RangeError(`maglev_table_size: expected a prime up to 5000011, got ${String(size)}`);
  return Object.freeze({ tableSize: size, hashBalanceFactor: checkBalanceFactor(o.hashBalanceFactor) });
}

/** Fills the lookup table: slot → index of a target with weight > 0 (-1 only when there is none). */
export function buildTable(targets: readonly TargetState[], size: number): Int32Array {
  const table = new Int32Array(size).fill(-1);
  const ids: number[] = [];
  let maxW = 0;
  targets.forEach((t, i) => {
    if (t.effectiveWeight > 0) {
      ids.push(i);
      maxW = Math.max(maxW, t.effectiveWeight);
    }
  });
  const n = ids.length;
  if (n === 0) return table;
  const offset = new Float64Array(n);
  const skip = new Float64Array(n);
  const next = new Float64Array(n);
  const weight = new Float64Array(n);
  const due = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const t = targets[ids[j]!]!;
    offset[j] = hash53(t.target, 0x6d61676c) % size;
    skip[j] = (hash53(t.target, 0x65763131) % (size - 1)) + 1;
    weight[j] = t.effectiveWeight / maxW;
  }
  let filled = 0;
  for (let round = 1; filled < size; round++) {
    for (let j = 0; j < n && filled < size; j++) {
      // A target of relative weight r takes a turn when round × r reaches its next due mark (Envoy).
      if (round * weight[j]! < due[j]!) continue;
      due[j]! += 1;
      let c = (offset[j]! + next[j]! * skip[j]!) % size;
      while (table[c]! >= 0) {
        next[j]!++;
        c = (offset[j]! + next[j]! * skip[j]!) % size;
      }
      table[c] = ids[j]!;
      next[j]!++;
      filled++;
    }
  }
  return table;
}

class MaglevPicker implements Picker {
  private readonly targets: readonly TargetState[];
  private readonly table: Int32Array;
  private readonly rng: Rng;
  private readonly factor: number;
  private readonly seen: Visited;

  constructor(targets: readonly TargetState[], table: Int32Array, rng: Rng, factor: number) {
    this.targets = targets;
    this.table = table;
    this.rng = rng;
    this.factor = factor;
    this.seen = new Visited(targets.length);
  }

  pick(ctx: PickContext, exclude: readonly TargetState[] | null): TargetState | null {
    const size = this.table.length;
    const slot = keyHash(ctx.hashKey, this.rng) % size;
    const first = this.table[slot]!;
    if (first < 0) return null;
    const t = this.targets[first]!;
    // The common case, one array read: the slot's target can take it and bounded load is off.
    if (this.factor === 0 && allowed(t, exclude)) return t;
    const cap = capPerWeight(this.targets, this.factor);
    const table = this.table;
    return (
      walkOwners(table, slot, this.targets, exclude, cap, this.seen) ??
      (exclude === null ? null : walkOwners(table, slot, this.targets, null, cap, this.seen))
    );
  }
}

/** Keeps the last table and reuses it when targets and weights are unchanged (a reload). */
class MaglevBalancer implements Balancer {
  private readonly rng: Rng;
  private readonly o: MaglevOptions;
  private sig = '';
  private table: Int32Array | null = null;

  constructor(rng: Rng, o: MaglevOptions) {
    this.rng = rng;
    this.o = o;
  }

  update(targets: readonly TargetState[]): Picker {
    const sig = targets.map((t) => `${t.target}=${t.effectiveWeight}`).join(',');
    if (this.table === null || sig !== this.sig) {
      this.table = buildTable(targets, this.o.tableSize);
      this.sig = sig;
    }
    return new MaglevPicker(targets, this.table, this.rng, this.o.hashBalanceFactor);
  }
}

/** A `maglev` factory with these options (validated now). */
export function maglevFactory(options: Partial<MaglevOptions> = {}): BalancerFactory {
  const o = maglevOptions(options);
  return { id: 'maglev', create: ({ rng }) => new MaglevBalancer(rng, o) };
}

export const maglev: BalancerFactory = maglevFactory();

export const maglevAlgorithm = declareBalancer({
  id: 'maglev',
  aliases: [],
  hashing: true,
  options: {
    maglevTableSize: numberOption('maglev_table_size', 'the lookup table size; must be a prime.', {
      min: 7,
      max: 5_000_011,
      default: 65537,
      integer: true,
    }),
    hashBalanceFactor: HASH_BALANCE_FACTOR,
  },
  factory: maglev,
  configure: (o) => maglevFactory({ tableSize: o.maglevTableSize, hashBalanceFactor: o.hashBalanceFactor }),
});
