/**
 * `ring-hash` (alias Kong's `consistent-hashing`): a ketama-style consistent hash ring (Karger et
 * al., 1997; libketama; Envoy's RING_HASH). Each target owns points on a 53-bit ring, named
 * `host:port_i` and hashed with hash53, in proportion to its weight; a key goes to the first point at
 * or after its hash, found by binary search, O(log ring). When the key has no value the point is
 * random, so weights still hold.
 *
 * Points per unit of weight is a power of two chosen so the ring has at least `min_ring_size` points
 * (Envoy's default 1024) and at most `max_ring_size`, and every target at least one. Being a power of
 * two, it stays the same when one target joins or leaves (unless total weight crosses a doubling),
 * so only that target's keys move; Envoy's exact scaling reshuffles every target's points instead.
 * Unhealthy, excluded and (with `hash_balance_factor`) overloaded targets are skipped by walking on
 * clockwise to the next distinct target, which is where their keys go when they leave.
 */
import type { Rng } from '../core/random.ts';
import type { TargetState } from '../upstreams/target.ts';
import {
  allowed,
  capPerWeight,
  checkBalanceFactor,
  checkNumber,
  HASH_BALANCE_FACTOR,
  lowerBound,
  Visited,
  walkOwners,
} from './common.ts';
import { declareBalancer, numberOption } from './declaration.ts';
import { hash53, keyHash } from './hash.ts';
import type { Balancer, BalancerFactory, PickContext, Picker } from './types.ts';

export interface RingHashOptions {
  /** `slots` (Kong's name) / Envoy `minimum_ring_size`: the least number of ring points. */
  readonly minRingSize: number;
  /** Envoy `maximum_ring_size`: the most ring points. */
  readonly maxRingSize: number;
  /** `hash_balance_factor`: 0 (off) or > 1, the bounded-load factor. */
  readonly hashBalanceFactor: number;
}

export const DEFAULT_RING_HASH: RingHashOptions = Object.freeze({
  minRingSize: 1024,
  maxRingSize: 8 * 1024 * 1024,
  hashBalanceFactor: 0,
});

/** Fills in defaults and checks ranges; throws a RangeError naming the field. */
export function ringHashOptions(o: Partial<RingHashOptions> = {}): RingHashOptions {
  const max = checkNumber(
    'max_ring_size',
    o.maxRingSize ?? DEFAULT_RING_HASH.maxRingSize,
    1,
    8 * 1024 * 1024,
  );
  return Object.freeze({
    minRingSize: checkNumber('slots', o.minRingSize ?? DEFAULT_RING_HASH.minRingSize, 1, max),
    maxRingSize: max,
    hashBalanceFactor: checkBalanceFactor(o.hashBalanceFactor),
  });
}

/** The ring: ascending points, and the index of the target owning each. */
export interface Ring {
  readonly points: Float64Array;
  readonly owners: Int32Array;
}

/**
 * Builds the ring over the targets with weight > 0 (exported for the benchmark and tests). The
 * scale follows the configured weights and the point counts the effective ones, so a target in
 * slow start gains points as it ramps (only keys moving to it move) and the scale does not jump.
 */
export function buildRing(targets: readonly TargetState[], o: RingHashOptions): Ring {
  let total = 0;
  let minW = Number.POSITIVE_INFINITY;
  for (const t of targets)
    if (t.weight > 0) {
      total += t.weight;
      minW = Math.min(minW, t.weight);
    }
  if (total === 0) return { points: new Float64Array(0), owners: new Int32Array(0) };
  let scale = 2 ** Math.ceil(Math.log2(Math.max(o.minRingSize / total, 1 / minW)));
  while (scale > 2 ** -30 && total * scale > o.maxRingSize) scale /= 2;
  const entries: { h: number; i: number }[] = [];
  targets.forEach((t, i) => {
    if (t.effectiveWeight <= 0) return;
    const n = Math.max(1, Math.round(t.effectiveWeight * scale));
    for (let k = 0; k < n; k++) entries.push({ h: hash53(`${t.target}_${k}`), i });
  });
  entries.sort((a, b) => a.h - b.h || a.i - b.i);
  return {
    points: Float64Array.from(entries, (e) => e.h),
    owners: Int32Array.from(entries, (e) => e.i),
  };
}

class RingHashPicker implements Picker {
  private readonly targets: readonly TargetState[];
  private readonly ring: Ring;
  private readonly rng: Rng;
  private readonly factor: number;
  private readonly seen: Visited;

  constructor(targets: readonly TargetState[], ring: Ring, rng: Rng, factor: number) {
    this.targets = targets;
    this.ring = ring;
    this.rng = rng;
    this.factor = factor;
    this.seen = new Visited(targets.length);
  }

  pick(ctx: PickContext, exclude: readonly TargetState[] | null): TargetState | null {
    const len = this.ring.points.length;
    if (len === 0) return null;
    let start = lowerBound(this.ring.points, keyHash(ctx.hashKey, this.rng));
    if (start === len) start = 0;
    // The common case: the point's target can take it and bounded load is off.
    const t = this.targets[this.ring.owners[start]!]!;
    if (this.factor === 0 && allowed(t, exclude)) return t;
    const cap = capPerWeight(this.targets, this.factor);
    // Clockwise from the key's point.
    const owners = this.ring.owners;
    return (
      walkOwners(owners, start, this.targets, exclude, cap, this.seen) ??
      (exclude === null ? null : walkOwners(owners, start, this.targets, null, cap, this.seen))
    );
  }
}

/** Keeps the last ring and reuses it when targets and weights are unchanged (a reload). */
class RingHashBalancer implements Balancer {
  private readonly rng: Rng;
  private readonly o: RingHashOptions;
  private sig = '';
  private ring: Ring | null = null;

  constructor(rng: Rng, o: RingHashOptions) {
    this.rng = rng;
    this.o = o;
  }

  update(targets: readonly TargetState[]): Picker {
    const sig = targets.map((t) => `${t.target}=${t.effectiveWeight}`).join(',');
    if (this.ring === null || sig !== this.sig) {
      this.ring = buildRing(targets, this.o);
      this.sig = sig;
    }
    return new RingHashPicker(targets, this.ring, this.rng, this.o.hashBalanceFactor);
  }
}

/** A `ring-hash` factory with these options (validated now). */
export function ringHashFactory(options: Partial<RingHashOptions> = {}): BalancerFactory {
  const o = ringHashOptions(options);
  return { id: 'ring-hash', create: ({ rng }) => new RingHashBalancer(rng, o) };
}

export const ringHash: BalancerFactory = ringHashFactory();

export const ringHashAlgorithm = declareBalancer({
  id: 'ring-hash',
  aliases: ['consistent-hashing'],
  hashing: true,
  options: {
    slots: numberOption(
      'slots',
      "the least number of points on the ring (Kong's `slots`, Envoy's `minimum_ring_size`).",
      { min: 10, max: 65536, default: 10000, integer: true },
    ),
    hashBalanceFactor: HASH_BALANCE_FACTOR,
  },
  factory: ringHash,
  configure: (o) => ringHashFactory({ minRingSize: o.slots, hashBalanceFactor: o.hashBalanceFactor }),
});
