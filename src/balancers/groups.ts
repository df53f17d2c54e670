/**
 * The shape shared by the layers that split an upstream's targets into groups and give each group a
 * share of the traffic: priority levels (priority.ts) and zones (zones.ts). Each group has its own
 * inner balancer, made by the upstream's algorithm factory and kept across rebuilds by group key,
 * so rotation and tables are per group. A layer supplies how targets group, the group order, and
 * the shares; this file does the rest.
 *
 * Shares depend on health, which changes without a rebuild: they are recomputed on the first pick
 * after any health change (`healthEpoch`), O(n), and cost one rng draw per pick only while more
 * than one group takes traffic. When the drawn group has nothing (left) for the request, the other
 * groups are tried in order before the picker gives up.
 */
import type { Rng } from '../core/random.ts';
import { healthEpoch, type TargetState } from '../upstreams/target.ts';
import type { Balancer, BalancerFactory, PickContext, Picker } from './types.ts';

export type Deps = Parameters<BalancerFactory['create']>[0];

/** Per group, in group order, the share of traffic in [0, 1] (summing to 1). */
export type Shares = (groups: readonly (readonly TargetState[])[]) => number[];

export class SharePicker implements Picker {
  private readonly groups: readonly (readonly TargetState[])[];
  private readonly pickers: readonly Picker[];
  private readonly rng: Rng;
  private readonly sharesOf: Shares;
  /** Cumulative shares, upper bounds in [0, 1]; valid while `epoch` equals healthEpoch.value. */
  private readonly cumulative: Float64Array;
  private epoch = -1;
  /** Whether more than one group takes traffic (else no rng draw). */
  private split = false;
  private only = 0;

  constructor(
    groups: readonly (readonly TargetState[])[],
    pickers: readonly Picker[],
    rng: Rng,
    shares: Shares,
  ) {
    this.groups = groups;
    this.pickers = pickers;
    this.rng = rng;
    this.sharesOf = shares;
    this.cumulative = new Float64Array(groups.length);
  }

  /** The current per-group shares. */
  shares(): number[] {
    return this.sharesOf(this.groups);
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
    let g = this.only;
    if (this.split) {
      const r = this.rng.next();
      const c = this.cumulative;
      g = 0;
      while (g < c.length - 1 && r >= c[g]!) g++;
    }
    const t = this.pickers[g]!.pick(ctx, exclude);
    if (t !== null && (exclude === null || !exclude.includes(t))) return t;
    // The drawn group has nothing (left) for this request: the other groups in order.
    for (let i = 0; i < this.pickers.length; i++) {
      if (i === g) continue;
      const o = this.pickers[i]!.pick(ctx, exclude);
      if (o !== null && (exclude === null || !exclude.includes(o))) return o;
    }
    return t;
  }
}

/** How a layer groups and orders targets; `order` returns null when no split applies. */
export interface Grouping<K> {
  keyOf(t: TargetState): K;
  order(keys: K[]): K[] | null;
  shares: Shares;
}

export class GroupBalancer<K> implements Balancer {
  private readonly inner: BalancerFactory;
  private readonly deps: Deps;
  private readonly grouping: Grouping<K>;
  private byKey = new Map<K, Balancer>();
  /** The balancer over all targets, used while `order` says no split applies. */
  private whole: Balancer | null = null;

  constructor(inner: BalancerFactory, deps: Deps, grouping: Grouping<K>) {
    this.inner = inner;
    this.deps = deps;
    this.grouping = grouping;
  }

  update(targets: readonly TargetState[]): Picker {
    const groups = new Map<K, TargetState[]>();
    for (const t of targets) {
      const k = this.grouping.keyOf(t);
      const g = groups.get(k);
      if (g) g.push(t);
      else groups.set(k, [t]);
    }
    const order = this.grouping.order([...groups.keys()]);
    if (order === null) {
      this.whole ??= this.inner.create(this.deps);
      return this.whole.update(targets);
    }
    const next = new Map<K, Balancer>();
    const pickers: Picker[] = [];
    for (const k of order) {
      const b = this.byKey.get(k) ?? this.inner.create(this.deps);
      next.set(k, b);
      pickers.push(b.update(groups.get(k)!));
    }
    this.byKey = next;
    return new SharePicker(
      order.map((k) => groups.get(k)!),
      pickers,
      this.deps.rng,
      this.grouping.shares,
    );
  }
}
