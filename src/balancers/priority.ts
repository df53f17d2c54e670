/**
 * Priority groups and failover, as Envoy's priority levels do it (Envoy docs, "Priority levels";
 * `LoadBalancerBase::recalculatePriorityLoad` in source/common/upstream/load_balancer_impl.cc). A
 * layer over any algorithm: one inner balancer per level (`priority` on targets, 0 the highest),
 * built by the same factory, so rotation and tables are per level and kept across rebuilds.
 *
 * Per pick, a level is chosen by its load, then that level's picker picks. A level's health is
 * min(100%, overprovisioning_factor × healthy / total targets) (targets with weight > 0); load goes
 * to level 0 up to its health, the spill to level 1 up to its health, and so on, all scaled so that
 * the total is 100% when the sum of healths falls under 100% (Envoy's normalized total
 * availability). With the default factor 1.4, a level keeps all its traffic until fewer than
 * 1/1.4 ≈ 71% of its targets are healthy. When no level has a healthy target, level 0 gets the load
 * (the inner pickers then find nothing, or whatever panic mode lets through).
 *
 * Loads depend on health, which changes without a rebuild; they are recomputed on the first pick
 * after any health change (`healthEpoch`), O(n), and cost one rng draw per pick only while traffic
 * is split. An upstream with a single level gets no wrapper at all.
 */

import type { Rng } from '../core/random.ts';
import { healthEpoch, type TargetState } from '../upstreams/target.ts';
import type { Balancer, BalancerFactory, PickContext, Picker } from './types.ts';

export const DEFAULT_OVERPROVISIONING_FACTOR = 1.4;

/**
 * Envoy's priority load: per level, the share of traffic in [0, 1], from each level's healthy and
 * total target counts. Exported for tests and the docs' worked example.
 */
export function priorityLoad(healthy: readonly number[], total: readonly number[], factor: number): number[] {
  const n = total.length;
  const health = total.map((t, i) => (t > 0 ? Math.min(1, (factor * healthy[i]!) / t) : 0));
  const sum = Math.min(
    1,
    health.reduce((a, b) => a + b, 0),
  );
  const load = new Array<number>(n).fill(0);
  if (sum === 0) {
    if (n > 0) load[0] = 1;
    return load;
  }
  let remaining = 1;
  for (let i = 0; i < n; i++) {
    load[i] = Math.min(remaining, health[i]! / sum);
    remaining -= load[i]!;
  }
  // Rounding leftovers go to the first level with health, as Envoy does.
  if (remaining > 0) load[health.findIndex((h) => h > 0)]! += remaining;
  return load;
}

class PriorityPicker implements Picker {
  private readonly levels: readonly (readonly TargetState[])[];
  private readonly pickers: readonly Picker[];
  private readonly rng: Rng;
  private readonly factor: number;
  /** Cumulative loads, upper bounds in [0, 1]; valid while `epoch` equals healthEpoch.value. */
  private readonly cumulative: Float64Array;
  private epoch = -1;
  /** Whether more than one level takes traffic (else no rng draw). */
  private split = false;
  private only = 0;

  constructor(
    levels: readonly (readonly TargetState[])[],
    pickers: readonly Picker[],
    rng: Rng,
    factor: number,
  ) {
    this.levels = levels;
    this.pickers = pickers;
    this.rng = rng;
    this.factor = factor;
    this.cumulative = new Float64Array(levels.length);
  }

  /** The current per-level loads (recomputed when health moved). */
  loads(): number[] {
    const healthy: number[] = [];
    const total: number[] = [];
    for (const ts of this.levels) {
      let h = 0;
      let n = 0;
      for (const t of ts)
        if (t.weight > 0) {
          n++;
          if (t.healthy) h++;
        }
      healthy.push(h);
      total.push(n);
    }
    return priorityLoad(healthy, total, this.factor);
  }

  private recompute(): void {
    const load = this.loads();
    let acc = 0;
    let nonzero = 0;
    for (let i = 0; i < load.length; i++) {
      acc += load[i]!;
      this.cumulative[i] = acc;
      if (load[i]! > 0) {
        nonzero++;
        this.only = i;
      }
    }
    this.split = nonzero > 1;
    this.epoch = healthEpoch.value;
  }

  pick(ctx: PickContext, exclude: readonly TargetState[] | null): TargetState | null {
    if (this.epoch !== healthEpoch.value) this.recompute();
    let level = this.only;
    if (this.split) {
      const r = this.rng.next();
      const c = this.cumulative;
      level = 0;
      while (level < c.length - 1 && r >= c[level]!) level++;
    }
    const t = this.pickers[level]!.pick(ctx, exclude);
    if (t !== null && (exclude === null || !exclude.includes(t))) return t;
    // The chosen level has nothing (left) for this request: the other levels in priority order.
    for (let i = 0; i < this.pickers.length; i++) {
      if (i === level) continue;
      const o = this.pickers[i]!.pick(ctx, exclude);
      if (o !== null && (exclude === null || !exclude.includes(o))) return o;
    }
    return t;
  }
}

class PriorityBalancer implements Balancer {
  private readonly inner: BalancerFactory;
  private readonly deps: Parameters<BalancerFactory['create']>[0];
  private readonly factor: number;
  private byLevel = new Map<number, Balancer>();

  constructor(inner: BalancerFactory, deps: Parameters<BalancerFactory['create']>[0], factor: number) {
    this.inner = inner;
    this.deps = deps;
    this.factor = factor;
  }

  update(targets: readonly TargetState[]): Picker {
    const groups = new Map<number, TargetState[]>();
    for (const t of targets) {
      const g = groups.get(t.priority);
      if (g) g.push(t);
      else groups.set(t.priority, [t]);
    }
    const order = [...groups.keys()].sort((a, b) => a - b);
    const next = new Map<number, Balancer>();
    const pickers: Picker[] = [];
    for (const p of order) {
      const b = this.byLevel.get(p) ?? this.inner.create(this.deps);
      next.set(p, b);
      pickers.push(b.update(groups.get(p)!));
    }
    this.byLevel = next;
    return new PriorityPicker(
      order.map((p) => groups.get(p)!),
      pickers,
      this.deps.rng,
      this.factor,
    );
  }
}

/** `inner` wrapped in priority levels (use only when the targets have more than one level). */
export function withPriorities(inner: BalancerFactory, overprovisioningFactor: number): BalancerFactory {
  return {
    id: inner.id,
    create: (deps) => new PriorityBalancer(inner, deps, overprovisioningFactor),
  };
}

/** How many distinct priority levels these targets have. */
export function levelCount(targets: readonly { readonly priority: number }[]): number {
  return new Set(targets.map((t) => t.priority)).size;
}
