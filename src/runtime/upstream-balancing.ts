/**
 * One upstream's balancing, built from its spec for the proxy runtime (generation.ts) and the client
 * library (src/client/) alike: the target states (kept by key; a target new to an upstream that
 * already existed ramps under slow start), the balancer stack (src/balancers/stack.ts: algorithm,
 * zones, priorities) and the sticky layer (src/proxy/sticky.ts; its source-ip table outlives
 * configurations). The simulator drives the same BalancerStack on virtual time (src/sim/engine.ts).
 */
import { BalancerStack } from '../balancers/stack.ts';
import type { Picker } from '../balancers/types.ts';
import type { UpstreamSpec } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import type { Rng } from '../core/random.ts';
import { StickyRuntime } from '../proxy/sticky.ts';
import { type AffinitySharing, AffinityTable } from '../upstreams/affinity-table.ts';
import type { SlowStart } from '../upstreams/slow-start.ts';
import { TargetState } from '../upstreams/target.ts';

/** What outlives one configuration of the upstreams (the runtime's LiveState has these fields). */
export interface BalancingState {
  /** Target states by key (`upstream/host:port`). */
  readonly targets: Map<string, TargetState>;
  /** Balancer stacks by upstream name (rotation, tables). */
  readonly balancers: Map<string, BalancerStack>;
  /** Per upstream with `sticky: { mode: source-ip }`: its address (or key) table. */
  readonly affinity: Map<string, AffinityTable>;
  /** Shares the tables of `source_ip.store: cluster` with the cluster's nodes; absent: none shared. */
  readonly affinityShare?: AffinitySharing | null;
  readonly slowStart: SlowStart;
  readonly rng: Rng;
  readonly clock: Clock;
}

export interface UpstreamBalancing {
  readonly targets: readonly TargetState[];
  readonly picker: Picker;
  /** Sticky sessions, or null when off (then the picker is called directly). */
  readonly sticky: StickyRuntime | null;
}

/** The target states of `u`, reused by key, with weight, priority, zone and slow start applied. */
function targetStates(u: UpstreamSpec, live: BalancingState, existed: boolean): TargetState[] {
  const now = live.clock.monoMs();
  const ramp = u.slowStart.windowMs > 0 ? u.slowStart : null;
  return u.targets.map((t) => {
    const key = `${u.name}/${t.target}`;
    let st = live.targets.get(key);
    const added = !st;
    if (!st) {
      st = new TargetState(u.name, t.target, t.host, t.port, t.weight);
      st.rampHost = live.slowStart;
      live.targets.set(key, st);
    } else st.weight = t.weight;
    st.priority = t.priority;
    st.zone = t.zone;
    st.srvHost = u.useSrvName === true && t.srvName !== undefined ? t.srvName : '';
    st.slowStart = ramp;
    if (added && existed) live.slowStart.begin(st, false);
    else if (st.rampStartMs >= 0) st.updateRamp(now);
    return st;
  });
}

/** An upstream's sticky layer, with its address table (kept across configurations) in source-ip mode. */
function stickyFor(
  u: UpstreamSpec,
  targets: readonly TargetState[],
  live: BalancingState,
): StickyRuntime | null {
  const s = u.sticky;
  let table = live.affinity.get(u.name) ?? null;
  if (s === null || s.mode !== 'source-ip') {
    live.affinity.delete(u.name);
    table = null;
  } else if (table) table.configure(s.tableSize, s.idleTimeoutMs);
  else {
    table = new AffinityTable(s.tableSize, s.idleTimeoutMs);
    live.affinity.set(u.name, table);
  }
  if (table !== null && s?.tableStore === 'cluster')
    live.affinityShare?.attach(u.name, table, s.tableSize, s.idleTimeoutMs);
  else live.affinityShare?.detach(u.name);
  return s === null ? null : new StickyRuntime(u.name, s, targets, live.clock, table);
}

/**
 * Builds (or rebuilds, after a configuration or target change) the balancing of upstream `u` for a
 * node in `zone`. Slow start ramps the targets new to an upstream that already existed, not those of
 * a first start.
 */
export function buildUpstreamBalancing(
  u: UpstreamSpec,
  zone: string,
  live: BalancingState,
): UpstreamBalancing {
  let stack = live.balancers.get(u.name);
  const targets = targetStates(u, live, stack !== undefined);
  if (stack === undefined) {
    stack = new BalancerStack(u, { rng: live.rng, clock: live.clock, zone });
    live.balancers.set(u.name, stack);
  } else stack.configure(u, zone);
  return { targets, picker: stack.update(targets), sticky: stickyFor(u, targets, live) };
}
