/**
 * `latency`: least response time by peak-EWMA, as Finagle's `PeakEwma` balancer (Twitter, 2016) and
 * Linkerd 2's proxy do it; the peer knobs are Kong's `latency` and nginx's `least_time`.
 *
 * Each target keeps a cost (TargetState.observeLatency): a slower sample replaces it at once (the
 * "peak": react to a slowdown immediately), a faster one pulls it down with time constant
 * `decay_window` (default 10 s), and it decays toward 0 while no sample arrives, so a target that
 * was slow is retried eventually. The score is cost × (inflight + 1) / weight, lower is better, and
 * the pick is power of two choices over it (two distinct random targets), O(1) while most targets
 * are usable. A target without
 * samples is seeded with the median cost of the others (0 when none has one), so a newcomer is
 * neither flooded nor starved; a zero cost with requests in flight scores a large penalty plus its
 * in-flight count (Finagle's rule), so an unmeasured target takes one request at a time until
 * measured. Weights bias the score; they are not an exact share, since latency is meant to win.
 */
import type { Clock } from '../core/clock.ts';
import type { Rng } from '../core/random.ts';
import type { TargetState } from '../upstreams/target.ts';
import { allowed, checkNumber } from './common.ts';
import { declareBalancer, numberOption } from './declaration.ts';
import type { Balancer, BalancerFactory, PickContext, Picker } from './types.ts';

export interface LatencyOptions {
  /** `decay_window`: the EWMA time constant in ms (Finagle's decayTime, 10 s). */
  readonly decayWindowMs: number;
}

export const DEFAULT_LATENCY: LatencyOptions = Object.freeze({ decayWindowMs: 10_000 });

/** Fills in defaults and checks ranges; throws a RangeError naming the field. */
export function latencyOptions(o: Partial<LatencyOptions> = {}): LatencyOptions {
  return Object.freeze({
    decayWindowMs: checkNumber(
      'decay_window',
      o.decayWindowMs ?? DEFAULT_LATENCY.decayWindowMs,
      1,
      3_600_000,
    ),
  });
}

const PENALTY = Number.MAX_SAFE_INTEGER / 2;

class LatencyPicker implements Picker {
  private readonly targets: readonly TargetState[];
  private readonly rng: Rng;
  private readonly clock: Clock;
  /** Cost given to targets without a sample: the median of the others' at build time, or 0. */
  readonly seedMs: number;

  constructor(targets: readonly TargetState[], rng: Rng, clock: Clock, o: LatencyOptions) {
    this.targets = targets;
    this.rng = rng;
    this.clock = clock;
    const now = clock.monoMs();
    const costs: number[] = [];
    for (const t of targets) {
      t.latencyDecayMs = o.decayWindowMs;
      const c = t.latencyCost(now);
      if (c >= 0) costs.push(c);
    }
    costs.sort((a, b) => a - b);
    const m = costs.length >> 1;
    this.seedMs = costs.length === 0 ? 0 : costs.length % 2 ? costs[m]! : (costs[m - 1]! + costs[m]!) / 2;
  }

  /** The score of one target now: lower is better. */
  score(t: TargetState, now: number): number {
    let c = t.latencyCost(now);
    if (c < 0) c = this.seedMs;
    if (c === 0 && t.inflight > 0) return PENALTY + t.inflight;
    return (c * (t.inflight + 1)) / t.effectiveWeight;
  }

  pick(_ctx: PickContext, exclude: readonly TargetState[] | null): TargetState | null {
    const ts = this.targets;
    const n = ts.length;
    const now = this.clock.monoMs();
    let a: TargetState | null = null;
    // Two distinct allowed targets at random; draws on unusable ones are redrawn, within a bound.
    for (let draws = 0; draws < 8 && n >= 2; draws++) {
      const t = ts[Math.floor(this.rng.next() * n)]!;
      if (t === a || !allowed(t, exclude)) continue;
      if (a === null) a = t;
      else return this.score(t, now) < this.score(a, now) ? t : a;
    }
    return this.scan(exclude, now) ?? (exclude === null ? null : this.scan(null, now));
  }

  /** When draws keep missing (most targets down or excluded, or n < 2): the best allowed one, O(n). */
  private scan(exclude: readonly TargetState[] | null, now: number): TargetState | null {
    let best: TargetState | null = null;
    let bestScore = 0;
    for (const t of this.targets) {
      if (!allowed(t, exclude)) continue;
      const s = this.score(t, now);
      if (best === null || s < bestScore) {
        best = t;
        bestScore = s;
      }
    }
    return best;
  }
}

/** A `latency` factory with these options (validated now). */
export function latencyFactory(options: Partial<LatencyOptions> = {}): BalancerFactory {
  const o = latencyOptions(options);
  return {
    id: 'latency',
    create: ({ rng, clock }): Balancer => ({
      update: (targets) => new LatencyPicker(targets, rng, clock, o),
    }),
  };
}

export const latency: BalancerFactory = latencyFactory();

export const latencyAlgorithm = declareBalancer({
  id: 'latency',
  aliases: [],
  hashing: false,
  options: {
    decayWindowMs: numberOption(
      'decay_window',
      'the time constant of the peak-EWMA latency, in milliseconds.',
      { min: 1, max: 3_600_000, default: 10_000, integer: true },
    ),
  },
  factory: latency,
  configure: (o) => latencyFactory({ decayWindowMs: o.decayWindowMs }),
});
