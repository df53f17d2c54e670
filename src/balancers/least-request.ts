/**
 * `least-request`: power of two choices (Mitzenmacher, "The Power of Two Choices in Randomized Load
 * Balancing", 2001), as Envoy's LEAST_REQUEST does it: draw `choice_count` targets at random and
 * send the request to the one with the highest effective weight (distinct draws), weight / (inflight + 1)^bias
 * (Envoy's `active_request_bias`, default 1.0).
 *
 * Why P2C rather than a full scan: O(1) per pick at any fleet size, and no herd behaviour when many
 * proxies share the same targets (a full scan sends every proxy to the same least-loaded target).
 * Why Envoy's bias: with equal weights it reduces to "fewer in flight wins"; with unequal weights,
 * under load, in-flight counts settle in proportion to weight; bias 0 ignores load (weights only)
 * and larger biases react harder to it. Ties keep the first draw, which is itself random.
 */
import type { Rng } from '../core/random.ts';
import type { TargetState } from '../upstreams/target.ts';
import { allowed, checkNumber, Visited } from './common.ts';
import { declareBalancer, numberOption } from './declaration.ts';
import type { Balancer, BalancerFactory, PickContext, Picker } from './types.ts';

export interface LeastRequestOptions {
  /** `choice_count`: targets drawn per pick (Envoy default 2). */
  readonly choiceCount: number;
  /** `active_request_bias`: exponent of (inflight + 1) in the effective weight (Envoy default 1.0). */
  readonly activeRequestBias: number;
}

export const DEFAULT_LEAST_REQUEST: LeastRequestOptions = Object.freeze({
  choiceCount: 2,
  activeRequestBias: 1,
});

/** Fills in defaults and checks ranges; throws a RangeError naming the field. */
export function leastRequestOptions(o: Partial<LeastRequestOptions> = {}): LeastRequestOptions {
  return Object.freeze({
    choiceCount: checkNumber('choice_count', o.choiceCount ?? DEFAULT_LEAST_REQUEST.choiceCount, 2, 100) | 0,
    activeRequestBias: checkNumber(
      'active_request_bias',
      o.activeRequestBias ?? DEFAULT_LEAST_REQUEST.activeRequestBias,
      0,
      10,
    ),
  });
}

/** Effective weight: weight / (inflight + 1)^bias, with the common biases computed without pow(). */
function effective(t: TargetState, bias: number): number {
  if (bias === 1) return t.effectiveWeight / (t.inflight + 1);
  if (bias === 0) return t.effectiveWeight;
  return t.effectiveWeight / (t.inflight + 1) ** bias;
}

class LeastRequestPicker implements Picker {
  private readonly targets: readonly TargetState[];
  private readonly rng: Rng;
  private readonly o: LeastRequestOptions;
  private readonly seen: Visited;

  constructor(targets: readonly TargetState[], rng: Rng, o: LeastRequestOptions) {
    this.targets = targets;
    this.seen = new Visited(targets.length);
    this.rng = rng;
    this.o = o;
  }

  pick(_ctx: PickContext, exclude: readonly TargetState[] | null): TargetState | null {
    const ts = this.targets;
    const n = ts.length;
    if (n === 0) return null;
    const bias = this.o.activeRequestBias;
    let best: TargetState | null = null;
    let bestScore = -1;
    const want = Math.min(this.o.choiceCount, n);
    this.seen.reset();
    // Distinct draws; those on an unusable or repeated target are redrawn, within a bound; when the
    // bound is hit (most targets unusable), the best of all allowed targets instead.
    for (let draws = 0, got = 0; got < want && draws < want * 4; draws++) {
      const i = Math.floor(this.rng.next() * n);
      const t = ts[i]!;
      if (!allowed(t, exclude) || !this.seen.first(i)) continue;
      got++;
      const s = effective(t, bias);
      if (s > bestScore) {
        best = t;
        bestScore = s;
      }
      if (got === want) return best;
    }
    return this.scan(exclude) ?? (exclude === null ? null : this.scan(null));
  }

  /** When random draws keep missing (most targets down or excluded): the best allowed one, O(n). */
  private scan(exclude: readonly TargetState[] | null): TargetState | null {
    let best: TargetState | null = null;
    let bestScore = -1;
    for (const t of this.targets) {
      if (!allowed(t, exclude)) continue;
      const s = effective(t, this.o.activeRequestBias);
      if (s > bestScore) {
        best = t;
        bestScore = s;
      }
    }
    return best;
  }
}

/** A `least-request` factory with these options (validated now). */
export function leastRequestFactory(options: Partial<LeastRequestOptions> = {}): BalancerFactory {
  const o = leastRequestOptions(options);
  return {
    id: 'least-request',
    create: ({ rng }): Balancer => ({ update: (targets) => new LeastRequestPicker(targets, rng, o) }),
  };
}

export const leastRequest: BalancerFactory = leastRequestFactory();

export const leastRequestAlgorithm = declareBalancer({
  id: 'least-request',
  aliases: [],
  hashing: false,
  options: {
    choiceCount: numberOption('choice_count', 'how many targets are drawn per pick (power of two choices).', {
      min: 2,
      max: 100,
      default: 2,
      integer: true,
    }),
    activeRequestBias: numberOption(
      'active_request_bias',
      "the exponent of (in-flight + 1) dividing a target's weight (Envoy's `active_request_bias`); 0 ignores load.",
      { min: 0, max: 10, default: 1 },
    ),
  },
  factory: leastRequest,
  configure: (o) =>
    leastRequestFactory({ choiceCount: o.choiceCount, activeRequestBias: o.activeRequestBias }),
});
