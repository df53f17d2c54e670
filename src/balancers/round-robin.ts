/**
 * `round-robin`: smooth weighted round robin, as nginx's upstream module does it
 * (ngx_http_upstream_round_robin.c, "smooth weighted round-robin balancing", 2012).
 *
 * Why smooth WRR rather than EDF (Envoy): it interleaves weights evenly (5:1:1 gives
 * a a b a c a a, never a a a a a b c), is exact over every cycle of total-weight picks, and its
 * state is one number per target, kept on the target (TargetState.rotation) so that it survives
 * every rebuild of the picker, a configuration swap included. Its pick is O(n); EDF's O(log n)
 * matters past a few hundred targets, where the `least-request` and hashing algorithms are the
 * usual choice anyway.
 */
import type { TargetState } from '../upstreams/target.ts';
import { declareBalancer } from './declaration.ts';
import type { Balancer, BalancerFactory, PickContext, Picker } from './types.ts';

class RoundRobinPicker implements Picker {
  private readonly targets: readonly TargetState[];

  constructor(targets: readonly TargetState[]) {
    this.targets = targets;
  }

  pick(_ctx: PickContext, exclude: readonly TargetState[] | null): TargetState | null {
    const best = this.select(exclude);
    if (best >= 0 || exclude === null) return best >= 0 ? this.targets[best]! : null;
    const any = this.select(null);
    return any >= 0 ? this.targets[any]! : null;
  }

  private select(exclude: readonly TargetState[] | null): number {
    const ts = this.targets;
    let total = 0;
    let best = -1;
    let bestCurrent = 0;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      if (!t.healthy || t.effectiveWeight === 0 || exclude?.includes(t)) continue;
      const c = t.rotation + t.effectiveWeight;
      t.rotation = c;
      total += t.effectiveWeight;
      if (best < 0 || c > bestCurrent) {
        best = i;
        bestCurrent = c;
      }
    }
    if (best >= 0) ts[best]!.rotation -= total;
    return best;
  }
}

/**
 * Stateless: the rotation (each target's current weight) lives on the targets, so a new picker over
 * surviving targets, or one made for a new generation while the old one still serves, goes on from
 * wherever the picks left it.
 */
class RoundRobinBalancer implements Balancer {
  update(targets: readonly TargetState[]): Picker {
    return new RoundRobinPicker(targets);
  }
}

export const roundRobin: BalancerFactory = {
  id: 'round-robin',
  create: () => new RoundRobinBalancer(),
};

export const roundRobinAlgorithm = declareBalancer({
  id: 'round-robin',
  aliases: [],
  hashing: false,
  options: {},
  factory: roundRobin,
  configure: () => roundRobin,
});
