/**
 * One upstream's balancing, built from its spec for the proxy runtime (generation.ts) and the client
 * library (src/client/) alike: the target states (kept by key; a target new to an upstream that
 * already existed ramps under slow start), the balancer stack (src/balancers/stack.ts: algorithm,
 * zones, priorities) and the sticky layer (src/proxy/sticky.ts; its source-ip table outlives
 * configurations). The simulator drives the same BalancerStack on virtual time (src/sim/engine.ts).
 *
 * A build plans (copy-on-swap, swap-plan.ts): it reads the live objects and makes new ones, and
 * what changes on the kept ones, or joins the live maps, waits in the SwapPlan until the swap.
 */
import { BalancerStack } from '../balancers/stack.ts';
import type { Picker } from '../balancers/types.ts';
import type { TargetSpec, UpstreamSpec } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import type { Rng } from '../core/random.ts';
import { StickyRuntime } from '../proxy/sticky.ts';
import { type AffinitySharing, AffinityTable } from '../upstreams/affinity-table.ts';
import type { SlowStart } from '../upstreams/slow-start.ts';
import { TargetState } from '../upstreams/target.ts';
import { SwapPlan } from './swap-plan.ts';

/** What outlives one configuration of the upstreams (the runtime's LiveState has these fields). */
export interface BalancingState {
  /** Target states by key (`upstream/host:port`). */
  readonly targets: Map<string, TargetState>;
  /** Balancer stacks by upstream name: the ones the generation in service picks from. */
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

/** A kept target and the settings it takes at the swap. */
type Kept = readonly [TargetState, TargetSpec];

/**
 * The target states of `u`: kept ones by key, new ones made now. A kept target takes its new weight,
 * priority, zone, SRV name and slow-start settings at the swap; a new one joins `live.targets` then,
 * ramping under slow start when its upstream already existed (its ramp begins now on the new object,
 * so that the picker is made with its ramped weight, and again at the swap).
 */
function targetStates(
  u: UpstreamSpec,
  live: BalancingState,
  existed: boolean,
  plan: SwapPlan,
): { targets: TargetState[]; kept: Kept[] } {
  const ramp = u.slowStart.windowMs > 0 ? u.slowStart : null;
  const kept: Kept[] = [];
  const added: TargetState[] = [];
  const srvHost = (t: TargetSpec) => (u.useSrvName === true && t.srvName !== undefined ? t.srvName : '');
  const now = live.clock.monoMs();
  const targets = u.targets.map((t) => {
    const st = live.targets.get(`${u.name}/${t.target}`);
    if (st !== undefined) {
      kept.push([st, t]);
      return st;
    }
    const made = new TargetState(u.name, t.target, t.host, t.port, t.weight);
    made.rampHost = live.slowStart;
    made.priority = t.priority;
    made.zone = t.zone;
    made.srvHost = srvHost(t);
    made.slowStart = ramp;
    if (existed) made.beginRamp(now);
    added.push(made);
    return made;
  });
  if (kept.length > 0)
    plan.later(() => {
      const at = live.clock.monoMs();
      for (const [st, t] of kept) {
        st.weight = t.weight;
        st.priority = t.priority;
        st.zone = t.zone;
        st.srvHost = srvHost(t);
        st.slowStart = ramp;
        if (st.rampStartMs >= 0) st.updateRamp(at);
      }
    });
  if (added.length > 0)
    plan.later(() => {
      for (const st of added) {
        live.targets.set(st.key, st);
        if (existed) live.slowStart.begin(st, false);
      }
    });
  return { targets, kept };
}

/**
 * The picker `make` returns, made while the kept targets show what a balancer reads of their new
 * settings (weight, priority, zone), which they take for good only at the swap. They show them for
 * the duration of this synchronous call alone and have their own back before it returns, so no
 * request, timer or callback ever sees them early. What making the picker wrote on a kept target
 * (the latency balancer's decay window) is written again at the swap.
 */
function pickerAsConfigured(kept: readonly Kept[], plan: SwapPlan, make: () => Picker): Picker {
  const shown = kept.filter(
    ([st, t]) => st.weight !== t.weight || st.priority !== t.priority || st.zone !== t.zone,
  );
  const saved = shown.map(([st]) => [st.weight, st.effectiveWeight, st.priority, st.zone] as const);
  const decay = kept.map(([st]) => st.latencyDecayMs);
  for (const [st, t] of shown) {
    st.weight = t.weight;
    st.priority = t.priority;
    st.zone = t.zone;
  }
  try {
    return make();
  } finally {
    shown.forEach(([st], i) => {
      const [weight, effective, priority, zone] = saved[i]!;
      st.weight = weight;
      st.effectiveWeight = effective;
      st.priority = priority;
      st.zone = zone;
    });
    const written = kept.map(([st]) => st.latencyDecayMs);
    kept.forEach(([st], i) => {
      st.latencyDecayMs = decay[i]!;
    });
    if (written.some((d, i) => d !== decay[i]))
      plan.later(() =>
        kept.forEach(([st], i) => {
          st.latencyDecayMs = written[i]!;
        }),
      );
  }
}

/**
 * An upstream's sticky layer, with its address table (kept across configurations) in source-ip
 * mode. A kept table takes its new limits at the swap; a new one is registered, or an unwanted one
 * unregistered, then too (the generation in service keeps using its own until the swap).
 */
function stickyFor(
  u: UpstreamSpec,
  targets: readonly TargetState[],
  live: BalancingState,
  plan: SwapPlan,
): StickyRuntime | null {
  const s = u.sticky;
  const current = live.affinity.get(u.name);
  let table: AffinityTable | null = null;
  if (s === null || s.mode !== 'source-ip') {
    if (current !== undefined) plan.later(() => live.affinity.delete(u.name));
  } else if (current !== undefined) {
    table = current;
    plan.later(() => current.configure(s.tableSize, s.idleTimeoutMs));
  } else {
    const made = new AffinityTable(s.tableSize, s.idleTimeoutMs);
    table = made;
    plan.later(() => live.affinity.set(u.name, made));
  }
  // Sharing (src/cluster/affinity-share.ts) starts or stops with the swap, as the table changes do.
  const share = live.affinityShare;
  if (share != null) {
    const shared = table;
    if (shared !== null && s?.tableStore === 'cluster')
      plan.later(() => share.attach(u.name, shared, s.tableSize, s.idleTimeoutMs));
    else plan.later(() => share.detach(u.name));
  }
  return s === null ? null : new StickyRuntime(u.name, s, targets, live.clock, table);
}

/**
 * Plans the balancing of upstream `u` for a node in `zone` (a generation build, generation.ts):
 * nothing the generation in service uses changes before `plan` is applied. The new generation gets
 * its own balancer stack (registered at the swap; the one in service keeps serving until then) and
 * its picker now, so that table building stays in the paced build; what must carry over lives on the
 * targets (rotation, statistics, ramps) and the affinity table. Slow start ramps the targets new to
 * an upstream that already existed, not those of a first start.
 */
export function planUpstreamBalancing(
  u: UpstreamSpec,
  zone: string,
  live: BalancingState,
  plan: SwapPlan,
): UpstreamBalancing {
  const existed = live.balancers.has(u.name);
  const { targets, kept } = targetStates(u, live, existed, plan);
  const stack = new BalancerStack(u, { rng: live.rng, clock: live.clock, zone });
  plan.later(() => live.balancers.set(u.name, stack));
  const picker = pickerAsConfigured(kept, plan, () => stack.update(targets));
  return { targets, picker, sticky: stickyFor(u, targets, live, plan) };
}

/**
 * Builds (or rebuilds, after a configuration or target change) the balancing of upstream `u` at
 * once, for a user that has no generation to swap (the client library, src/client/): the plan is
 * applied as soon as it is made.
 */
export function buildUpstreamBalancing(
  u: UpstreamSpec,
  zone: string,
  live: BalancingState,
): UpstreamBalancing {
  const plan = new SwapPlan();
  const b = planUpstreamBalancing(u, zone, live, plan);
  plan.apply();
  return b;
}
