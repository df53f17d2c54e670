/**
 * Random variates for the simulator, all drawn from an injected Rng (ARCHITECTURE.md convention 3):
 * service-time distributions, Poisson inter-arrival gaps, and the key distributions (uniform, Zipf).
 */
import type { Rng } from '../core/random.ts';

/** A service-time distribution, in milliseconds. */
export type LatencyDist =
  | { readonly kind: 'constant'; readonly ms: number }
  | { readonly kind: 'exponential'; readonly meanMs: number }
  | { readonly kind: 'lognormal'; readonly medianMs: number; readonly p99Ms: number };

/** The standard normal quantile of 0.99: a lognormal's p99 is median × exp(Z99 × sigma). */
const Z99 = 2.3263478740408408;

/**
 * A service time from a request's own draws: `u` uniform in [0, 1), `z` standard normal. Each
 * request carries its draws to whichever target serves it, so every algorithm sees the same
 * workload (common random numbers) and a large request is large on any target.
 */
export function serviceMs(d: LatencyDist, u: number, z: number): number {
  switch (d.kind) {
    case 'constant':
      return d.ms;
    case 'exponential':
      return -d.meanMs * Math.log(1 - u);
    case 'lognormal':
      return d.medianMs * Math.exp((z * Math.log(d.p99Ms / d.medianMs)) / Z99);
  }
}

/** A standard normal draw (Box-Muller; the second value is dropped to keep the stream simple). */
export function normal(rng: Rng): number {
  const u1 = 1 - rng.next();
  const u2 = rng.next();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** A Poisson process's next gap, in ms, at `ratePerS` arrivals per second. */
export function exponentialGapMs(rng: Rng, ratePerS: number): number {
  return (-Math.log(1 - rng.next()) * 1000) / ratePerS;
}

/** Which key a request carries: uniform over `count` keys, or Zipf with exponent `exponent`. */
export interface KeySpec {
  readonly distribution: 'uniform' | 'zipf';
  readonly count: number;
  /** Zipf's s: key of rank k has probability proportional to 1 / k^s. */
  readonly exponent: number;
}

/** Draws key indexes (0 is the hottest under Zipf) and knows each key's probability. */
export class KeySampler {
  private readonly cdf: Float64Array | null;
  readonly count: number;

  constructor(spec: KeySpec) {
    this.count = spec.count;
    if (spec.distribution === 'uniform') {
      this.cdf = null;
      return;
    }
    const cdf = new Float64Array(spec.count);
    let acc = 0;
    for (let k = 0; k < spec.count; k++) {
      acc += 1 / (k + 1) ** spec.exponent;
      cdf[k] = acc;
    }
    for (let k = 0; k < spec.count; k++) cdf[k]! /= acc;
    this.cdf = cdf;
  }

  /** A key index, by inverse transform (binary search on the cumulative distribution). */
  draw(rng: Rng): number {
    const u = rng.next();
    const cdf = this.cdf;
    if (cdf === null) return Math.floor(u * this.count);
    let lo = 0;
    let hi = cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! <= u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The probability of key `k`. */
  probability(k: number): number {
    const cdf = this.cdf;
    if (cdf === null) return 1 / this.count;
    return k === 0 ? cdf[0]! : cdf[k]! - cdf[k - 1]!;
  }
}

/** The nearest-rank percentile (q in [0, 1]) of an ascending array; NaN when empty. */
export function percentile(sorted: Float64Array, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  return sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!;
}
