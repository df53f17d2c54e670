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
 * missing share spills, to the zones with spare capacity. Shares depend on health, which changes
 * without a rebuild: they are recomputed on the first pick after a health change (`healthEpoch`),
 * O(n), and cost one rng draw per pick only while traffic is split. Targets without a zone form a
 * zone of their own (never local). The priority layer goes first: zones apply within a priority
 * level.
 */
import type { Rng } from '../core/random.ts';
import { healthEpoch, type TargetState } from '../upstreams/target.ts';
import type { Balancer, BalancerFactory, PickContext, Picker } from './types.ts';

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

class ZonePicker implements Picker {
  private readonly zones: readonly (readonly TargetState[])[];
  private readonly pickers: readonly Picker[];
  private readonly rng: Rng;
  private readonly cumulative: Float64Array;
  private epoch = -1;
  private split = false;
  private only = 0;

  constructor(zones: readonly (readonly TargetState[])[], pickers: readonly Picker[], rng: Rng) {
    this.zones = zones;
    this.pickers = pickers;
    this.rng = rng;
    this.cumulative = new Float64Array(zones.length);
  }

  /** The current per-zone shares, local first (recomputed when health moved). */
  shares(): number[] {
    const total: number[] = [];
    const healthy: number[] = [];
    for (const ts of this.zones) {
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
  }

  private recompute(): void {
    const s = this.shares();
    let acc = 0;
    let nonzero = 0;
    for (let i = 0; i < s.length; i++) {
      acc += s[i]!;
      this.cumulative[i] = acc;
      if (s[i]! > 0) {
        nonzero++;
        this.only = i;
      }
    }
    this.split = nonzero > 1;
    this.epoch = healthEpoch.value;
  }

  pick(ctx: PickContext, exclude: readonly TargetState[] | null): TargetState | null {
    if (this.epoch !== healthEpoch.value) this.recompute();
    let zone = this.only;
    if (this.split) {
      const r = this.rng.next();
      const c = this.cumulative;
      zone = 0;
      while (zone < c.length - 1 && r >= c[zone]!) zone++;
    }
    const t = this.pickers[zone]!.pick(ctx, exclude);
    if (t !== null && (exclude === null || !exclude.includes(t))) return t;
    // Nothing (left) in that zone for this request: the local zone, then the others in order.
    for (let i = 0; i < this.pickers.length; i++) {
      if (i === zone) continue;
      const o = this.pickers[i]!.pick(ctx, exclude);
      if (o !== null && (exclude === null || !exclude.includes(o))) return o;
    }
    return t;
  }
}

class ZoneBalancer implements Balancer {
  private readonly inner: BalancerFactory;
  private readonly deps: Parameters<BalancerFactory['create']>[0];
  private readonly local: string;
  private byZone = new Map<string, Balancer>();
  /** The balancer used when the targets do not span the local zone and another one. */
  private whole: Balancer | null = null;

  constructor(inner: BalancerFactory, deps: Parameters<BalancerFactory['create']>[0], local: string) {
    this.inner = inner;
    this.deps = deps;
    this.local = local;
  }

  update(targets: readonly TargetState[]): Picker {
    const groups = new Map<string, TargetState[]>();
    for (const t of targets) {
      const g = groups.get(t.zone);
      if (g) g.push(t);
      else groups.set(t.zone, [t]);
    }
    if (groups.size < 2 || !groups.has(this.local)) {
      // One zone, or none of them local: nothing to prefer, the algorithm alone.
      this.whole ??= this.inner.create(this.deps);
      return this.whole.update(targets);
    }
    const order = [this.local, ...[...groups.keys()].filter((z) => z !== this.local).sort()];
    const next = new Map<string, Balancer>();
    const pickers: Picker[] = [];
    for (const z of order) {
      const b = this.byZone.get(z) ?? this.inner.create(this.deps);
      next.set(z, b);
      pickers.push(b.update(groups.get(z)!));
    }
    this.byZone = next;
    return new ZonePicker(
      order.map((z) => groups.get(z)!),
      pickers,
      this.deps.rng,
    );
  }
}

/** `inner` made zone-aware for a node in zone `local` (use only when `local` is set). */
export function withZones(inner: BalancerFactory, local: string): BalancerFactory {
  return { id: inner.id, create: (deps) => new ZoneBalancer(inner, deps, local) };
}

/** Whether zone awareness applies: the node has a zone, and the targets span it and another. */
export function zoneAware(local: string, targets: readonly { readonly zone: string }[]): boolean {
  if (local === '') return false;
  const zones = new Set(targets.map((t) => t.zone));
  return zones.size > 1 && zones.has(local);
}
