/**
 * `least-connections`: the target with the fewest in-flight requests per unit of weight, ties broken
 * at random with the injected rng (HAProxy `leastconn`, nginx `least_conn`, Kong `least-connections`).
 *
 * The load compared is (inflight + 1) / weight, the load the target would have with this request,
 * as HAProxy's leastconn key does: among idle targets the heavier one wins, so shares follow the
 * weights from the first request, and under steady load in-flight counts settle in proportion to
 * weights. Products are compared, not quotients, so equal loads tie exactly. The scan is O(n): the
 * counters change outside the balancer (target.start/done), so no index over them can be kept; for
 * hundreds of targets `least-request` (two random choices, O(1)) is the better choice.
 */
import type { Rng } from '../core/random.ts';
import type { TargetState } from '../upstreams/target.ts';
import { allowed } from './common.ts';
import { declareBalancer } from './declaration.ts';
import type { Balancer, BalancerFactory, PickContext, Picker } from './types.ts';

class LeastConnectionsPicker implements Picker {
  private readonly targets: readonly TargetState[];
  private readonly rng: Rng;

  constructor(targets: readonly TargetState[], rng: Rng) {
    this.targets = targets;
    this.rng = rng;
  }

  pick(_ctx: PickContext, exclude: readonly TargetState[] | null): TargetState | null {
    const best = this.select(exclude);
    if (best !== null || exclude === null) return best;
    return this.select(null);
  }

  private select(exclude: readonly TargetState[] | null): TargetState | null {
    const ts = this.targets;
    let best: TargetState | null = null;
    let ties = 0;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      if (!allowed(t, exclude)) continue;
      if (best === null) {
        best = t;
        ties = 1;
        continue;
      }
      const d = (t.inflight + 1) * best.effectiveWeight - (best.inflight + 1) * t.effectiveWeight;
      if (d < 0) {
        best = t;
        ties = 1;
      } else if (d === 0) {
        // Reservoir sampling over the tied targets: each ends up chosen with probability 1/ties.
        ties++;
        if (this.rng.next() * ties < 1) best = t;
      }
    }
    return best;
  }
}

export const leastConnections: BalancerFactory = {
  id: 'least-connections',
  create: ({ rng }): Balancer => ({ update: (targets) => new LeastConnectionsPicker(targets, rng) }),
};

export const leastConnectionsAlgorithm = declareBalancer({
  id: 'least-connections',
  aliases: [],
  hashing: false,
  options: {},
  factory: leastConnections,
  configure: () => leastConnections,
});
