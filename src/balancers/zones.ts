/**
 * Zone awareness, as Envoy's zone-aware routing (Envoy docs, "Zone aware routing";
 * `ZoneAwareLoadBalancerBase::regenerateLocalityRoutingStructures` in
 * source/common/upstream/load_balancer_impl.cc), simplified. A layer over any algorithm: one inner
 * balancer per zone of the targets (`zone` on targets), the node's own zone (`zone` at top level)
 * first.
 *
 * Envoy compares two distributions over zones: where the proxies are (the local cluster's hosts)
 * and where the upstream's healthy hosts are. Fulcrum does not know its peers, so it assumes the
 * proxies are spread like the upstream's configured capacity: zone i's demand share is
 * d_i = weight of its targets / weight of all targets, and its capacity share is
 * c_i = weight of its healthy targets / weight of all healthy targets. Then, as Envoy:
 *
 * - c_local ≥ d_local: the local zone can carry its own demand; all traffic stays in-zone.
 * - otherwise c_local / d_local of the traffic stays in-zone, and the rest is spread over the other
 *   zones in proportion to their residual capacity max(0, c_i − d_i).
 *
 * With every target healthy, c = d and everything stays local; as local targets fail, exactly the
 * missing share spills, to the zones with spare capacity. Shares are recomputed on the first pick
 * after a health change, and cost one rng draw per pick only while traffic is split (groups.ts).
 * Targets without a zone form a zone of their own (never local). The priority layer goes first:
 * zones apply within a priority level.
 */
import { GroupBalancer, type Grouping } from './groups.ts';
import type { BalancerFactory } from './types.ts';

/**
 * The share of traffic for each zone, index 0 the local one, from each zone's total and healthy
 * weight. Exported for tests and the docs' worked example.
 */
export function zoneShares(total: readonly number[], healthy: readonly number[]): number[] {
  const n = total.length;
  const out = new Array<number>(n).fill(0);
  let w = 0;
  let h = 0;
  for (let i = 0; i < n; i++) {
    w += total[i]!;
    h += healthy[i]!;
  }
  if (h === 0 || w === 0) {
    if (n > 0) out[0] = 1;
    return out;
  }
  const d0 = total[0]! / w;
  const c0 = healthy[0]! / h;
  if (d0 === 0) {
    // No local capacity configured (all weight 0): plain proportional shares.
    for (let i = 0; i < n; i++) out[i] = healthy[i]! / h;
    return out;
  }
  if (c0 >= d0) {
    out[0] = 1;
    return out;
  }
  out[0] = c0 / d0;
  let residual = 0;
  for (let i = 1; i < n; i++) residual += Math.max(0, healthy[i]! / h - total[i]! / w);
  // sum(c) = sum(d) = 1, so the other zones' residual is d0 - c0 > 0.
  for (let i = 1; i < n; i++)
    out[i] = ((1 - out[0]) * Math.max(0, healthy[i]! / h - total[i]! / w)) / residual;
  return out;
}

/** The zone layer's grouping: the local zone first, then the others by name; none without a local target. */
function byZone(local: string): Grouping<string> {
  return {
    keyOf: (t) => t.zone,
    order: (zones) =>
      zones.length < 2 || !zones.includes(local) ? null : [local, ...zones.filter((z) => z !== local).sort()],
    shares: (zones) => {
      const total: number[] = [];
      const healthy: number[] = [];
      for (const ts of zones) {
        let w = 0;
        let hw = 0;
        for (const t of ts) {
          w += t.weight;
          if (t.healthy) hw += t.weight;
        }
        total.push(w);
        healthy.push(hw);
      }
      return zoneShares(total, healthy);
    },
  };
}

/** `inner` made zone-aware for a node in zone `local` (use only when `local` is set). */
export function withZones(inner: BalancerFactory, local: string): BalancerFactory {
  const grouping = byZone(local);
  return { id: inner.id, create: (deps) => new GroupBalancer(inner, deps, grouping) };
}

/** Whether zone awareness applies: the node has a zone, and the targets span it and another. */
export function zoneAware(local: string, targets: readonly { readonly zone: string }[]): boolean {
  if (local === '') return false;
  const zones = new Set(targets.map((t) => t.zone));
  return zones.size > 1 && zones.has(local);
}
