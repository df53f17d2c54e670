/**
 * A generation: everything the data plane needs to serve one configuration snapshot (router,
 * services, upstreams with their pickers and pools, bound metric children), built once and then
 * only read. Live state that must survive a swap (target statistics, balancer rotation, pools) is
 * owned by the Runtime and reused by key.
 */

import type { BlockList } from 'node:net';
import { factoryFor, isHashing, relevantSettings } from '../balancers/configure.ts';
import { levelCount, withPriorities } from '../balancers/priority.ts';
import type { Balancer, Picker } from '../balancers/types.ts';
import { withZones, zoneAware } from '../balancers/zones.ts';
import type { RouteSpec, ServiceSpec, Snapshot, UpstreamSpec } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import { buildCidrList } from '../core/net.ts';
import type { Steps } from '../core/pace.ts';
import type { Rng } from '../core/random.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { CounterChild, HistogramChild } from '../observability/registry.ts';
import { type Chain, PluginSet } from '../plugins/chain.ts';
import { StickyRuntime } from '../proxy/sticky.ts';
import { L4Router } from '../routing/l4-router.ts';
import { Router } from '../routing/router.ts';
import { AffinityTable } from '../upstreams/affinity-table.ts';
import { UpstreamGuard } from '../upstreams/guard.ts';
import { type PoolRegistry, poolKey, type TargetPool } from '../upstreams/pools.ts';
import type { SlowStart } from '../upstreams/slow-start.ts';
import { TargetState } from '../upstreams/target.ts';

export interface UpstreamRuntime {
  readonly spec: UpstreamSpec;
  readonly targets: readonly TargetState[];
  /** Replaced in place while targets ramp (slow start); everything else about it is fixed. */
  picker: Picker;
  readonly headerLatency: HistogramChild;
  /** Whether the algorithm reads a hash key (the forwarder computes one only then). */
  readonly hashing: boolean;
  /** Circuit breakers and retry budget; shared with older generations (it counts their requests too). */
  readonly guard: UpstreamGuard;
  /** Sticky sessions, or null when off (the forwarder then calls the picker directly). */
  readonly sticky: StickyRuntime | null;
  /** `resource`: the response header carrying the target's load (lower case), else null. */
  readonly loadHeader: string | null;
}

export interface ServiceRuntime {
  readonly spec: ServiceSpec;
  readonly upstream: UpstreamRuntime;
  /** Pool per target of the upstream, resolved at build time (no lookup per request). */
  readonly pools: ReadonlyMap<TargetState, TargetPool>;
}

export interface RouteRuntime {
  readonly spec: RouteSpec;
  readonly service: ServiceRuntime | null;
  /** Why the route answers 503 instead of proxying, or null. */
  readonly disabled: string | null;
  /** Label values for logs and metrics: the name, else the id. */
  readonly label: string;
  readonly serviceLabel: string;
  /** Request counters by status class: index 1..5 for 1xx..5xx, 0 for anything else. */
  readonly byClass: readonly CounterChild[];
  readonly duration: HistogramChild;
  /** The route's plugin chain (docs/plugins.md), or null when no plugin applies: one check per phase. */
  readonly chain: Chain | null;
}

/** Live state that outlives generations, owned by the Runtime. */
export interface LiveState {
  readonly targets: Map<string, TargetState>;
  /** Per upstream: the balancer and its identity (algorithm and the options it reads). */
  readonly balancers: Map<string, { algorithm: string; balancer: Balancer }>;
  readonly pools: PoolRegistry;
  readonly slowStart: SlowStart;
  /** Per upstream name: circuit-breaker and retry-budget counters. */
  readonly guards: Map<string, UpstreamGuard>;
  /** Per upstream with `sticky: { mode: source-ip }`: its client address table. */
  readonly affinity: Map<string, AffinityTable>;
  /** Per plugin instance id: state that outlives generations (rate-limiting counters). */
  readonly pluginState: Map<string, unknown>;
  readonly metrics: Metrics;
  readonly rng: Rng;
  readonly clock: Clock;
}

/** An upstream's sticky layer, with its address table (kept across swaps) in source-ip mode. */
function stickyFor(u: UpstreamSpec, targets: readonly TargetState[], live: LiveState): StickyRuntime | null {
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
  return s === null ? null : new StickyRuntime(u.name, s, targets, live.clock, table);
}

/**
 * What a build in progress already holds (pools, target states, upstream names): the runtime keeps
 * them while the build yields, so that a generation retired meanwhile cannot release them.
 */
export interface BuildKeys {
  readonly poolKeys: Set<string>;
  readonly targetKeys: Set<string>;
  readonly upstreams: Set<string>;
}

export function newBuildKeys(): BuildKeys {
  return { poolKeys: new Set(), targetKeys: new Set(), upstreams: new Set() };
}

/** Targets per yield inside one upstream (an upstream may hold thousands). */
const TARGETS_PER_STEP = 256;

interface Parts {
  readonly id: number;
  readonly snapshot: Snapshot;
  readonly createdAtMs: number;
  readonly routes: readonly RouteRuntime[];
  readonly router: Router<RouteRuntime>;
  readonly l4Router: L4Router<RouteRuntime>;
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>;
  readonly services: ReadonlyMap<string, ServiceRuntime>;
  readonly trusted: BlockList | null;
  readonly keys: BuildKeys;
}

export class Generation {
  readonly id: number;
  readonly snapshot: Snapshot;
  readonly router: Router<RouteRuntime>;
  /** The tcp, udp and tls_passthrough routes (docs/l4.md); the HTTP router never sees them. */
  readonly l4Router: L4Router<RouteRuntime>;
  readonly routes: readonly RouteRuntime[];
  readonly upstreams: ReadonlyMap<string, UpstreamRuntime>;
  /** By name (traffic-split sends a request to another service than its route's). */
  readonly services: ReadonlyMap<string, ServiceRuntime>;
  readonly trusted: BlockList | null;
  readonly poolKeys: ReadonlySet<string>;
  readonly targetKeys: ReadonlySet<string>;
  /** Requests started on this generation and not yet finished. */
  inflight = 0;
  readonly createdAtMs: number;

  private constructor(p: Parts) {
    this.id = p.id;
    this.snapshot = p.snapshot;
    this.createdAtMs = p.createdAtMs;
    this.routes = p.routes;
    this.router = p.router;
    this.l4Router = p.l4Router;
    this.upstreams = p.upstreams;
    this.services = p.services;
    this.trusted = p.trusted;
    this.poolKeys = p.keys.poolKeys;
    this.targetKeys = p.keys.targetKeys;
  }

  /**
   * Build a generation from a snapshot, yielding after each unit of work (an upstream or a chunk of
   * its targets, a service, a route) so that a driver can let traffic run in between
   * (src/core/pace.ts). The work is linear in the snapshot. Live state is reused by key; what
   * changes on a kept object (a target's weight, a guard's limits) is configuration that is about
   * to be in force, so an older generation seeing it early is harmless.
   */
  static *build(id: number, snapshot: Snapshot, live: LiveState, keys = newBuildKeys()): Steps<Generation> {
    const upstreams = new Map<string, UpstreamRuntime>();
    const targetKeys = keys.targetKeys;
    const now = live.clock.monoMs();
    for (const u of snapshot.upstreams) {
      keys.upstreams.add(u.name);
      // Slow start ramps targets new to an upstream that already existed, not those of a first start.
      const existed = live.balancers.has(u.name);
      const ramp = u.slowStart.windowMs > 0 ? u.slowStart : null;
      const targets: TargetState[] = [];
      for (const t of u.targets) {
        const key = `${u.name}/${t.target}`;
        targetKeys.add(key);
        let st = live.targets.get(key);
        const added = !st;
        if (!st) {
          st = new TargetState(u.name, t.target, t.host, t.port, t.weight);
          st.rampHost = live.slowStart;
          live.targets.set(key, st);
        } else st.weight = t.weight;
        st.priority = t.priority;
        st.zone = t.zone;
        st.slowStart = ramp;
        if (added && existed) live.slowStart.begin(st, false);
        else if (st.rampStartMs >= 0) st.updateRamp(now);
        targets.push(st);
        if (targets.length % TARGETS_PER_STEP === 0) yield;
      }
      upstreams.set(u.name, upstreamRuntime(u, targets, snapshot, live));
      yield;
    }
    const services = new Map<string, ServiceRuntime>();
    for (const s of snapshot.services) {
      const upstream = upstreams.get(s.upstream)!;
      const pools = new Map<TargetState, TargetPool>();
      // tcp and udp services connect per connection (src/proxy/tcp-tunnel.ts), without a pool.
      const pooled = s.protocol !== 'tcp' && s.protocol !== 'udp' && s.protocol !== 'tls_passthrough';
      for (const t of pooled ? upstream.targets : []) {
        const maxConnections = upstream.spec.circuitBreaker.maxConnections;
        keys.poolKeys.add(poolKey(t, s, maxConnections));
        pools.set(t, live.pools.get(t, s, maxConnections));
      }
      services.set(s.name, { spec: s, upstream, pools });
      yield;
    }
    const cidr = buildCidrList(snapshot.node.trustedIps);
    const trusted = 'list' in cidr && snapshot.node.trustedIps.length > 0 ? cidr.list : null;
    let plugins: PluginSet | null = null;
    if (snapshot.plugins.some((p) => p.enabled))
      plugins = yield* PluginSet.build(snapshot, {
        clock: live.clock,
        rng: live.rng,
        trusted,
        state: live.pluginState,
      });
    else live.pluginState.clear();
    yield;
    const disabledPaths = new Map(snapshot.problems.map((p) => [p.path, p.message]));
    const routes: RouteRuntime[] = [];
    for (const r of snapshot.routes) {
      routes.push(routeRuntime(r, services, disabledPaths, plugins, live));
      yield;
    }
    const router = new Router(
      routes.filter((r) => r.spec.l4 === null).map((r) => ({ route: r, spec: r.spec })),
    );
    yield;
    const l4Router = new L4Router(routes.map((r) => ({ route: r, spec: r.spec })));
    return new Generation({
      id,
      snapshot,
      createdAtMs: live.clock.nowMs(),
      routes,
      router,
      l4Router,
      upstreams,
      services,
      trusted,
      keys,
    });
  }
}

/** An upstream's runtime: its balancer (kept across swaps when it can be), guard and sticky layer. */
function upstreamRuntime(
  u: UpstreamSpec,
  targets: readonly TargetState[],
  snapshot: Snapshot,
  live: LiveState,
): UpstreamRuntime {
  // A balancer (and its rotation or table state) survives a swap when neither its algorithm
  // nor an option it reads changed. Several priority levels wrap it (one inner per level).
  const levels = levelCount(u.targets);
  const zoned = zoneAware(snapshot.node.zone, u.targets);
  const identity = `${u.algorithm}|${JSON.stringify(relevantSettings(u.algorithm, u.balancer))}|${levels > 1 ? u.overprovisioningFactor : '-'}|${zoned ? snapshot.node.zone : '-'}`;
  let b = live.balancers.get(u.name);
  if (!b || b.algorithm !== identity) {
    const base = factoryFor(u.algorithm, u.balancer);
    const inner = zoned ? withZones(base, snapshot.node.zone) : base;
    const factory = levels > 1 ? withPriorities(inner, u.overprovisioningFactor) : inner;
    b = { algorithm: identity, balancer: factory.create({ rng: live.rng, clock: live.clock }) };
    live.balancers.set(u.name, b);
  }
  let guard = live.guards.get(u.name);
  if (!guard) {
    guard = new UpstreamGuard(u.name, u.circuitBreaker);
    live.guards.set(u.name, guard);
  } else guard.limits = u.circuitBreaker;
  return {
    spec: u,
    guard,
    targets,
    picker: b.balancer.update(targets),
    headerLatency: live.metrics.upstreamLatency.labels({ upstream: u.name }),
    hashing: isHashing(u.algorithm),
    sticky: stickyFor(u, targets, live),
    loadHeader: u.algorithm === 'resource' ? u.balancer.loadHeader : null,
  };
}

function routeRuntime(
  r: RouteSpec,
  services: ReadonlyMap<string, ServiceRuntime>,
  disabledPaths: ReadonlyMap<string, string>,
  plugins: PluginSet | null,
  live: LiveState,
): RouteRuntime {
  const service = services.get(r.service) ?? null;
  const label = r.name || r.id;
  const serviceLabel = service?.spec.name ?? '';
  let disabled = disabledPaths.get(r.path) ?? null;
  if (!disabled && service && !service.spec.enabled)
    disabled = `service ${JSON.stringify(serviceLabel)} is disabled`;
  if (!disabled && !service) disabled = `service ${JSON.stringify(r.service)} does not exist`;
  return {
    spec: r,
    service,
    disabled,
    label,
    serviceLabel,
    byClass: ['other', '1xx', '2xx', '3xx', '4xx', '5xx'].map((code) =>
      live.metrics.requests.labels({ route: label, service: serviceLabel, code }),
    ),
    duration: live.metrics.duration.labels({ route: label, service: serviceLabel }),
    chain: plugins === null ? null : plugins.chainFor(r, service?.spec ?? null),
  };
}
