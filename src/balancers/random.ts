/**
 * `random`: weighted random. Each pick draws a point in [0, total weight) with the injected rng and
 * finds its target by binary search over cumulative weights, O(log n) (the classic inverse-CDF
 * method; Envoy's `RANDOM` and nginx's `random` without `two`).
 *
 * Why: with no shared state it spreads load as well as round robin over many picks, needs no
 * coordination between processes, and is the baseline the other algorithms are measured against.
 * A drawn target that is unhealthy or excluded is redrawn a few times (rejection keeps the shares
 * exact among the rest); past that, one O(n) weighted draw over the allowed targets.
 */
import type { Rng } from '../core/random.ts';
import type { TargetState } from '../upstreams/target.ts';
import { allowed, upperBound } from './common.ts';
import { declareBalancer } from './declaration.ts';
import type { Balancer, BalancerFactory, PickContext, Picker } from './types.ts';

const REDRAWS = 4;

/** Weighted draws over the targets' weights at build time, by binary search. */
export class WeightedDraw {
  private readonly targets: readonly TargetState[];
  private readonly cumulative: Float64Array;
  private readonly index: Int32Array;
  readonly total: number;

  constructor(targets: readonly TargetState[]) {
    this.targets = targets;
    const ids: number[] = [];
    for (let i = 0; i < targets.length; i++) if (targets[i]!.effectiveWeight > 0) ids.push(i);
    this.cumulative = new Float64Array(ids.length);
    this.index = Int32Array.from(ids);
    let sum = 0;
    for (let j = 0; j < ids.length; j++) {
      sum += targets[ids[j]!]!.effectiveWeight;
      this.cumulative[j] = sum;
    }
    this.total = sum;
  }

  /** A target index drawn in proportion to weight, or -1 when all weights are 0. */
  draw(rng: Rng): number {
    if (this.total === 0) return -1;
    const j = upperBound(this.cumulative, rng.next() * this.total);
    return this.index[Math.min(j, this.index.length - 1)]!;
  }

  /** A weighted draw among the allowed targets only, in O(n); -1 when none is allowed. */
  drawAllowed(rng: Rng, exclude: readonly TargetState[] | null): number {
    const ts = this.targets;
    let sum = 0;
    for (let i = 0; i < ts.length; i++) if (allowed(ts[i]!, exclude)) sum += ts[i]!.effectiveWeight;
    if (sum === 0) return -1;
    let r = rng.next() * sum;
    let last = -1;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      if (!allowed(t, exclude)) continue;
      last = i;
      r -= t.effectiveWeight;
      if (r < 0) return i;
    }
    return last;
  }
}

class RandomPicker implements Picker {
  private readonly targets: readonly TargetState[];
  private readonly draws: WeightedDraw;
  private readonly rng: Rng;

  constructor(targets: readonly TargetState[], rng: Rng) {
    this.targets = targets;
    this.draws = new WeightedDraw(targets);
    this.rng = rng;
  }

  pick(_ctx: PickContext, exclude: readonly TargetState[] | null): TargetState | null {
    for (let k = 0; k < REDRAWS; k++) {
      const i = this.draws.draw(this.rng);
      if (i < 0) return null;
      if (allowed(this.targets[i]!, exclude)) return this.targets[i]!;
    }
    let i = this.draws.drawAllowed(this.rng, exclude);
    if (i < 0 && exclude !== null) i = this.draws.drawAllowed(this.rng, null);
    return i < 0 ? null : this.targets[i]!;
  }
}

export const random: BalancerFactory = {
  id: 'random',
  create: ({ rng }): Balancer => ({ update: (targets) => new RandomPicker(targets, rng) }),
};

export const randomAlgorithm = declareBalancer({
  id: 'random',
  aliases: [],
  hashing: false,
  options: {},
  factory: random,
  configure: () => random,
});
