/**
 * `round-robin`: smooth weighted round robin, as nginx's upstream module does it
 * (ngx_http_upstream_round_robin.c, "smooth weighted round-robin balancing", 2012).
 *
 * Why smooth WRR rather than EDF (Envoy): it interleaves weights evenly (5:1:1 gives
 * a a b a c a a, never a a a a a b c), is exact over every cycle of total-weight picks, and its
 * state is one number per target that survives rebuilds by key. Its pick is O(n); EDF's O(log n)
 * matters past a few hundred targets, where the `least-request` and hashing algorithms are the
 * usual choice anyway.
 */
import type { TargetState } from '../upstreams/target.ts';
import { declareBalancer } from './declaration.ts';
import type { Balancer, BalancerFactory, PickContext, Picker } from './types.ts';

class RoundRobinPicker implements Picker {
  private readonly targets: readonly TargetState[];
  private readonly current: Float64Array;

  constructor(targets: readonly TargetState[], current: Float64Array) {
    this.targets = targets;
    this.current = current;
  }

  pick(_ctx: PickContext, exclude: readonly TargetState[] | null): TargetState | null {
    const best = this.select(exclude);
    if (best >= 0 || exclude === null) return best >= 0 ? this.targets[best]! : null;
    const any = this.select(null);
    return any >= 0 ? this.targets[any]! : null;
  }

  private select(exclude: readonly TargetState[] | null): number {
    const ts = this.targets;
    const cw = this.current;
    let total = 0;
    let best = -1;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      if (!t.healthy || t.effectiveWeight === 0 || exclude?.includes(t)) continue;
      cw[i]! += t.effectiveWeight;
      total += t.effectiveWeight;
      if (best < 0 || cw[i]! > cw[best]!) best = i;
    }
    if (best >= 0) cw[best]! -= total;
    return best;
  }
}

class RoundRobinBalancer implements Balancer {
  private state = new Map<string, number>();
  private last: { targets: readonly TargetState[]; current: Float64Array } | null = null;

  update(targets: readonly TargetState[]): Picker {
    const last = this.last;
    if (last)
      for (let i = 0; i < last.targets.length; i++) this.state.set(last.targets[i]!.key, last.current[i]!);
    const current = new Float64Array(targets.length);
    targets.forEach((t, i) => {
      current[i] = this.state.get(t.key) ?? 0;
    });
    this.state = new Map();
    this.last = { targets, current };
    return new RoundRobinPicker(targets, current);
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
