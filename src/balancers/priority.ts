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
 * after any health change, and cost one rng draw per pick only while traffic is split (groups.ts).
 * An upstream with a single level gets no wrapper at all.
 */

import { GroupBalancer, type Grouping } from './groups.ts';
import type { BalancerFactory } from './types.ts';

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

/** The priority layer's grouping: by level, highest (0) first, shares by Envoy's priority load. */
function byLevel(factor: number): Grouping<number> {
  return {
    keyOf: (t) => t.priority,
    order: (levels) => levels.sort((a, b) => a - b),
    shares: (levels) => {
      const healthy: number[] = [];
      const total: number[] = [];
      for (const ts of levels) {
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
      return priorityLoad(healthy, total, factor);
    },
  };
}

/** `inner` wrapped in priority levels (use only when the targets have more than one level). */
export function withPriorities(inner: BalancerFactory, overprovisioningFactor: number): BalancerFactory {
  const grouping = byLevel(overprovisioningFactor);
  return {
    id: inner.id,
    create: (deps) => new GroupBalancer(inner, deps, grouping),
  };
}

/** How many distinct priority levels these targets have. */
export function levelCount(targets: readonly { readonly priority: number }[]): number {
  return new Set(targets.map((t) => t.priority)).size;
}
