/** Shared fixtures for the balancer unit tests: targets, pick loops, a lagged load and key sets. */
import type { BalancerFactory, PickContext, Picker } from '../../../src/balancers/types.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { type Rng, seededRng } from '../../../src/core/random.ts';
import { TargetState } from '../../../src/upstreams/target.ts';

export const ctx: PickContext = { clientIp: '127.0.0.1', hashKey: null };
export const keyed = (hashKey: string | null): PickContext => ({ clientIp: '127.0.0.1', hashKey });

export const mk = (name: string, weight = 1): TargetState => new TargetState('u', name, name, 80, weight);

/** Targets named t0..t{n-1} with host:port-like names, as real targets have. */
export const fleet = (n: number, weight = 1): TargetState[] =>
  Array.from(
    { length: n },
    (_, i) => new TargetState('u', `10.0.${i >> 8}.${i & 255}:8080`, '10.0.0.1', 8080, weight),
  );

export function make(f: BalancerFactory, seed = 1, clock = new ManualClock()) {
  return f.create({ rng: seededRng(seed), clock });
}

/** Names of n picks, one letter each ('-' for null). */
export function sequence(picker: Picker, n: number, c: PickContext = ctx): string {
  let s = '';
  for (let i = 0; i < n; i++) s += picker.pick(c, null)?.target ?? '-';
  return s;
}

/** Counts by target name over n picks that end at once. */
export function counts(picker: Picker, n: number, c: PickContext = ctx): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const t = picker.pick(c, null)?.target ?? '-';
    out[t] = (out[t] ?? 0) + 1;
  }
  return out;
}

/**
 * Counts over n picks under a steady load: each picked request stays in flight until `window` later
 * picks have been made (FIFO), so in-flight counts are what the load-aware algorithms see.
 */
export function lagged(picker: Picker, n: number, window: number, c: (i: number) => PickContext = () => ctx) {
  const out: Record<string, number> = {};
  const ring: (TargetState | null)[] = new Array(window).fill(null);
  let maxInflight = 0;
  for (let i = 0; i < n; i++) {
    const t = picker.pick(c(i), null)!;
    out[t.target] = (out[t.target] ?? 0) + 1;
    ring[i % window]?.done(true);
    t.start();
    ring[i % window] = t;
    maxInflight = Math.max(maxInflight, t.inflight);
  }
  for (const t of ring) t?.done(true);
  return { counts: out, maxInflight };
}

/** A Zipf-like key sampler over `keys` distinct keys (exponent s), driven by a seeded rng. */
export function zipf(keys: number, s: number, rng: Rng): () => string {
  const cdf = new Float64Array(keys);
  let sum = 0;
  for (let k = 0; k < keys; k++) {
    sum += 1 / (k + 1) ** s;
    cdf[k] = sum;
  }
  return () => {
    const r = rng.next() * sum;
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < r) lo = mid + 1;
      else hi = mid;
    }
    return `key-${lo}`;
  };
}

/** The owner of each of `keys` keys. */
export function owners(picker: Picker, keys: number): string[] {
  const out: string[] = [];
  for (let k = 0; k < keys; k++) out.push(picker.pick(keyed(`user-${k}`), null)!.target);
  return out;
}

/** The share of keys whose owner differs between two assignments. */
export function moved(a: readonly string[], b: readonly string[]): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) m++;
  return m / a.length;
}

/** Asserts-friendly check: |share - expected| <= tol, with a message. */
export function within(name: string, got: number, want: number, tol: number): [boolean, string] {
  return [Math.abs(got - want) <= tol, `${name}: got ${got.toFixed(4)}, want ${want.toFixed(4)} ± ${tol}`];
}
