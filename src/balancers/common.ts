/**
 * Helpers shared by the balancers: which targets may take a request, the bounded-load cap of the
 * hashing algorithms, and an allocation-free "visited" mark for walks. Kept here so that each
 * algorithm file reads as its algorithm only.
 */
import type { TargetState } from '../upstreams/target.ts';
import { numberOption } from './declaration.ts';

/** A target may be picked: healthy and with a positive (effective, slow-start scaled) weight. */
export function usable(t: TargetState): boolean {
  return t.healthy && t.effectiveWeight > 0;
}

/** Usable and not in `exclude` (the targets a retry already tried). */
export function allowed(t: TargetState, exclude: readonly TargetState[] | null): boolean {
  return t.healthy && t.effectiveWeight > 0 && (exclude === null || !exclude.includes(t));
}

/**
 * Bounded load (Mirrokni et al., "Consistent Hashing with Bounded Loads", 2018; Envoy's and
 * HAProxy's `hash_balance_factor`): the in-flight cap per unit of weight, so that no target carries
 * more than `factor` × its weighted share of the in-flight requests, this one included. Computed over
 * usable targets in O(n); Infinity when bounded load is off (factor 0).
 */
export function capPerWeight(targets: readonly TargetState[], factor: number): number {
  if (factor <= 0) return Number.POSITIVE_INFINITY;
  let inflight = 0;
  let weight = 0;
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    if (!usable(t)) continue;
    inflight += t.inflight;
    weight += t.effectiveWeight;
  }
  return weight > 0 ? (factor * (inflight + 1)) / weight : Number.POSITIVE_INFINITY;
}

/** Whether one more request keeps `t` within the cap (rounded up, so some target always fits). */
export function underCap(t: TargetState, cap: number): boolean {
  return t.inflight + 1 <= Math.ceil(cap * t.effectiveWeight);
}

/** Marks targets seen during one walk without allocating: bump `epoch`, compare stamps. */
export class Visited {
  private stamps: Uint32Array;
  private epoch = 0;
  constructor(n: number) {
    this.stamps = new Uint32Array(n);
  }
  /** Start a new walk. */
  reset(): void {
    this.epoch++;
    if (this.epoch === 0xffffffff) {
      this.stamps.fill(0);
      this.epoch = 1;
    }
  }
  /** True the first time `i` is seen in this walk. */
  first(i: number): boolean {
    if (this.stamps[i] === this.epoch) return false;
    this.stamps[i] = this.epoch;
    return true;
  }
}

/**
 * The walk of the table-based hashes (ring-hash's points, maglev's slots) when the key's own target
 * cannot take the request: from `start` around `owners` (a target index per position), the first
 * allowed target under the bounded-load cap, else the first allowed one. Each distinct target is
 * looked at once, and the walk ends once all of them were seen or the table is done.
 */
export function walkOwners(
  owners: Int32Array,
  start: number,
  targets: readonly TargetState[],
  exclude: readonly TargetState[] | null,
  cap: number,
  seen: Visited,
): TargetState | null {
  const len = owners.length;
  const n = targets.length;
  let first: TargetState | null = null;
  let distinct = 0;
  seen.reset();
  for (let s = 0, p = start; s < len && distinct < n; s++, p = p + 1 === len ? 0 : p + 1) {
    const i = owners[p]!;
    if (!seen.first(i)) continue;
    distinct++;
    const t = targets[i]!;
    if (!allowed(t, exclude)) continue;
    if (underCap(t, cap)) return t;
    first ??= t;
  }
  return first;
}

/** The first index whose value is >= x in an ascending array (length when none). */
export function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first index whose value is > x in an ascending array (length when none). */
export function upperBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Throws a RangeError naming the option unless `v` is a finite number within [min, max]. */
export function checkNumber(name: string, v: number, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    throw new RangeError(`${name}: expected a number from ${min} to ${max}, got ${String(v)}`);
  return v;
}

/** `hash_balance_factor`: 0 (off) or a factor above 1, as Envoy requires (HAProxy: 100 + percent). */
export function checkBalanceFactor(v: number | undefined): number {
  const f = v ?? 0;
  if (f !== 0) checkNumber('hash_balance_factor', f, 1.01, 100);
  return f;
}

/** `hash_balance_factor`, one option shared by the hashing algorithms that bound load. */
export const HASH_BALANCE_FACTOR = numberOption(
  'hash_balance_factor',
  "bounded load. 0 is off; a factor above 1 (such as 1.25) keeps every target under factor × the mean in-flight requests, walking to the next candidate when the key's own target is full.",
  { min: 0, max: 100, default: 0 },
);
