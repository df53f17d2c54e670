/**
 * A generation: everything the data plane needs to serve one configuration snapshot (router,
 * services, upstreams with their pickers and pools, bound metric children), built once and then
 * only read. Live state that must survive a swap (target statistics, balancer rotation, pools) is
 * owned by the Runtime and reused by key; what a build wants changed on it waits in the generation's
 * SwapPlan (swap-plan.ts) until the Runtime puts the generation in service (`commit`).
 */

import type { BlockList } from 'node:net';
import { isHashing } from '../balancers/configure.ts';
import type { Picker } from '../balancers/types.ts';
import type { RouteSpec, ServiceSpec, Snapshot, UpstreamSpec } from '../config/types.ts';
import { buildCidrList } from '../core/net.ts';
import type { Steps } from '../core/pace.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { CounterChild, HistogramChild } from '../observability/registry.ts';
import { type Chain, PluginSet } from '../plugins/chain.ts';
import type { SharedCounters } from '../plugins/rate-limit-policy.ts';
import { upstreamHost } from '../proxy/headers.ts';
import type { StickyRuntime } from '../proxy/sticky.ts';
import { L4Router } from '../routing/l4-router.ts';
import { Router } from '../routing/router.ts';
import { type GuardLink, UpstreamGuard } from '../upstreams/guard.ts';
import { type PoolRegistry, poolKey, type TargetPool } from '../upstreams/pools.ts';
import type { TargetState } from '../upstreams/target.ts';
import { SwapPlan } from './swap-plan.ts';
import { type BalancingState, planUpstreamBalancing, type UpstreamBalancing } from './upstream-balancing.ts';

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
  /** The Host sent to targets unless a route preserves the client's (made once, not per request). */
  readonly host: string;
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
  /** fulcrum_http_request_bytes_total / fulcrum_http_response_bytes_total: body bytes in and out. */
  readonly bytesIn: CounterChild;
  readonly bytesOut: CounterChild;
  /** The route's plugin chain (docs/plugins.md), or null when no plugin applies: one check per phase. */
  readonly chain: Chain | null;
}

/** Live state that outlives generations, owned by the Runtime (the balancing part: upstream-balancing.ts). */
export interface LiveState extends BalancingState {
  readonly pools: PoolRegistry;
  /** Per upstream name: circuit-breaker and retry-budget counters. */
  readonly guards: Map<string, UpstreamGuard>;
  /** Per plugin instance id: state that outlives generations (rate-limiting counters). */
  readonly pluginState: Map<string, unknown>;
  /** Rate-limit counts shared beyond this process (workers, Redis), or null: counted here. */
  counters: SharedCounters | null;
  /** Circuit-breaker counts kept for the node by another process (a worker's primary), or null. */
  readonly breakers: GuardLink | null;
  readonly metrics: Metrics;
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

/** The runtime objects a build makes or keeps (fulcrum_config_objects_total's `kind`). */
export const OBJECT_KINDS = ['upstream', 'service', 'route', 'plugins', 'router'] as const;
export type ObjectKind = (typeof OBJECT_KINDS)[number];

/** Per kind, how many objects a build made anew and how many it kept from the generation in service. */
export type ObjectCounts = Readonly<Record<ObjectKind, { readonly built: number; readonly kept: number }>>;

function newCounts(): Record<ObjectKind, { built: number; kept: number }> {
  return {
    upstream: { built: 0, kept: 0 },
    service: { built: 0, kept: 0 },
    route: { built: 0, kept: 0 },
    plugins: { built: 0, kept: 0 },
    router: { built: 0, kept: 0 },
  };
}

/** Per kind, `built/total` (the `rebuilt` field of the log line of a change: `upstream: "1/40"`). */
export function rebuiltSummary(c: ObjectCounts): Record<ObjectKind, string> {
  const out = {} as Record<ObjectKind, string>;
  for (const k of OBJECT_KINDS) out[k] = `${c[k].built}/${c[k].built + c[k].kept}`;
  return out;
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
  readonly plugins: PluginSet | null;
  readonly plan: SwapPlan;
  readonly objects: ObjectCounts;
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
  /** The plugin instances the routes' chains were compiled from (a later build may keep them). */
  readonly plugins: PluginSet | null;
  /**
   * What this generation's build made anew and what it kept from the generation in service
   * (counted in fulcrum_config_objects_total and logged when it goes into service).
   */
  readonly objects: ObjectCounts;
  /** Requests started on this generation and not yet finished. */
  inflight = 0;
  readonly createdAtMs: number;
  /** What the build wants changed on live objects, made by `commit` (at the swap). */
  private readonly plan: SwapPlan;

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
    this.plugins = p.plugins;
    this.plan = p.plan;
    this.objects = p.objects;
  }

  /**
   * Make the changes to live objects this generation was built with (kept targets' settings, guard
   * and affinity-table limits, plugin state, new target states, stacks, guards, tables and pools
   * joining the runtime's maps). The Runtime calls it when it puts the generation in
   * service, in the same synchronous step as the swap; a generation never committed changed nothing.
   */
  commit(): void {
    this.plan.apply();
  }

  /** Changes still waiting for `commit` (tests). */
  get pendingChanges(): number {
    return this.plan.size;
  }

  /**
   * Build a generation from a snapshot, yielding after each unit of work (an upstream or a chunk of
   * its targets, a service, a route) so that a driver can let traffic run in between
   * (src/core/pace.ts). The work is linear in the snapshot. Live state is reused by key, and no
   * object the generation in service uses is changed: what changes on a kept object (a target's
   * weight, a guard's limits) and which new objects join the runtime's maps (target states, the
   * rebuilt upstream's own balancer stack) is queued for `commit` (copy-on-swap). A snapshot with the same
   * content as the generation in service (its hash, and the same zone) builds nothing: the new
   * generation shares all of that generation's runtime objects.
   *
   * With `prev` (the generation in service), what holds the same spec objects is kept rather than
   * rebuilt: an upstream (its targets, picker, guard), a service on a kept upstream (its pools), the
   * plugin instances while plugins, consumers and trusted addresses are the same, a route on a kept
   * service, and the routers while the routes' rules are the same. A discovery change (a new spec for
   * one upstream, src/discovery/) so rebuilds that upstream, its services and their routes' runtime
   * objects, and nothing else.
   */
  static *build(
    id: number,
    snapshot: Snapshot,
    live: LiveState,
    keys = newBuildKeys(),
    prev: Generation | null = null,
  ): Steps<Generation> {
    if (prev !== null && sameContent(prev.snapshot, snapshot))
      return prev.again(id, snapshot, keys, live.clock.nowMs());
    const plan = new SwapPlan();
    const objects = newCounts();
    const upstreams = new Map<string, UpstreamRuntime>();
    const sameZone = prev !== null && prev.snapshot.node.zone === snapshot.node.zone;
    for (const u of snapshot.upstreams) {
      keys.upstreams.add(u.name);
      const kept = sameZone ? prev.upstreams.get(u.name) : undefined;
      if (kept !== undefined && kept.spec === u) {
        for (const t of kept.targets) keys.targetKeys.add(t.key);
        upstreams.set(u.name, kept);
        objects.upstream.kept++;
        continue;
      }
      const b = planUpstreamBalancing(u, snapshot.node.zone, live, plan);
      for (const t of b.targets) keys.targetKeys.add(t.key);
      upstreams.set(u.name, upstreamRuntime(u, b, live, plan));
      objects.upstream.built++;
      yield;
    }
    const services = new Map<string, ServiceRuntime>();
    /** Pools this build made (registered at the swap), shared by its services like registered ones. */
    const madePools = new Map<string, TargetPool>();
    for (const s of snapshot.services) {
      const upstream = upstreams.get(s.upstream)!;
      const maxConnections = upstream.spec.circuitBreaker.maxConnections;
      const kept = prev?.services.get(s.name);
      if (kept !== undefined && kept.spec === s && kept.upstream === upstream) {
        for (const t of kept.pools.keys()) keys.poolKeys.add(poolKey(t, s, maxConnections));
        services.set(s.name, kept);
        objects.service.kept++;
        continue;
      }
      const pools = new Map<TargetState, TargetPool>();
      // tcp and udp services connect per connection (src/proxy/tcp-tunnel.ts), without a pool.
      const pooled = s.protocol !== 'tcp' && s.protocol !== 'udp' && s.protocol !== 'tls_passthrough';
      for (const t of pooled ? upstream.targets : []) {
        const key = poolKey(t, s, maxConnections);
        keys.poolKeys.add(key);
        let pool = live.pools.find(key) ?? madePools.get(key);
        if (pool === undefined) {
          pool = live.pools.make(t, s, maxConnections);
          madePools.set(key, pool);
        }
        pools.set(t, pool);
        if (pools.size % TARGETS_PER_STEP === 0) yield;
      }
      services.set(s.name, { spec: s, upstream, pools, host: upstreamHost(s, upstream.spec) });
      objects.service.built++;
      yield;
    }
    if (madePools.size > 0)
      plan.later(() => {
        for (const [key, pool] of madePools) live.pools.add(key, pool);
      });
    const cidr = buildCidrList(snapshot.node.trustedIps);
    const trusted = 'list' in cidr && snapshot.node.trustedIps.length > 0 ? cidr.list : null;
    let plugins: PluginSet | null = null;
    // Plugin instances depend on the plugins, the consumers and the trusted addresses only.
    const before = prev?.snapshot;
    const keepPlugins =
      before !== undefined &&
      before.plugins === snapshot.plugins &&
      before.consumers === snapshot.consumers &&
      before.node.trustedIps === snapshot.node.trustedIps;
    if (keepPlugins) {
      plugins = prev!.plugins;
      objects.plugins.kept++;
    } else {
      objects.plugins.built++;
      // The instances' state as the new plugins want it (kept by key, made, dropped), on a copy:
      // the runtime's map takes it at the swap.
      const state = new Map(live.pluginState);
      if (snapshot.plugins.some((p) => p.enabled))
        plugins = yield* PluginSet.build(snapshot, {
          clock: live.clock,
          rng: live.rng,
          trusted,
          state,
          atSwap: (step) => plan.later(step),
          counters: live.counters,
          outcomes: live.metrics.pluginOutcomes,
        });
      else state.clear();
      plan.later(() => {
        // State no instance asked for goes; what holds something outside (a Redis store's
        // connection) is told so, at the swap: the generation in service used it until now.
        const dropped = [...live.pluginState].filter(([k, v]) => state.get(k) !== v);
        live.pluginState.clear();
        for (const [k, v] of state) live.pluginState.set(k, v);
        for (const [, v] of dropped) (v as { dispose?: () => void } | null)?.dispose?.();
      });
    }
    yield;
    const disabledPaths = new Map(snapshot.problems.map((p) => [p.path, p.message]));
    const keptRoutes =
      keepPlugins && before.problems === snapshot.problems
        ? new Map(prev!.routes.map((r) => [r.spec, r]))
        : null;
    const routes: RouteRuntime[] = [];
    /** Old route → new, for routes whose matching rules are the same (only their service was rebuilt). */
    const moved = new Map<RouteRuntime, RouteRuntime>();
    for (const r of snapshot.routes) {
      const kept = keptRoutes?.get(r);
      const service = services.get(r.service) ?? null;
      if (kept !== undefined && kept.service === service) {
        routes.push(kept);
        objects.route.kept++;
      } else {
        objects.route.built++;
        const made = routeRuntime(r, services, disabledPaths, plugins, live);
        if (kept !== undefined) moved.set(kept, made);
        routes.push(made);
        yield;
      }
    }
    // The routers hold the routes in matching order: when the rules are the same, only the route
    // objects they carry change (a copy, no sort); otherwise they are built anew.
    const sameRules =
      keptRoutes !== null &&
      prev!.routes.length === routes.length &&
      prev!.routes.every((r, i) => r === routes[i] || moved.get(r) === routes[i]);
    const router = !sameRules
      ? new Router(routes.filter((r) => r.spec.l4 === null).map((r) => ({ route: r, spec: r.spec })))
      : moved.size === 0
        ? prev!.router
        : prev!.router.remap(moved);
    if (sameRules) objects.router.kept++;
    else objects.router.built++;
    yield;
    const l4Router = !sameRules
      ? new L4Router(routes.map((r) => ({ route: r, spec: r.spec })))
      : moved.size === 0
        ? prev!.l4Router
        : prev!.l4Router.remap(moved);
    return new Generation({
      plugins,
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
      plan,
      objects,
    });
  }

  /** This generation's runtime objects under a new number and snapshot of the same content. */
  private again(id: number, snapshot: Snapshot, keys: BuildKeys, nowMs: number): Generation {
    for (const k of this.poolKeys) keys.poolKeys.add(k);
    for (const k of this.targetKeys) keys.targetKeys.add(k);
    for (const k of this.upstreams.keys()) keys.upstreams.add(k);
    return new Generation({
      id,
      snapshot,
      createdAtMs: nowMs,
      routes: this.routes,
      router: this.router,
      l4Router: this.l4Router,
      upstreams: this.upstreams,
      services: this.services,
      trusted: this.trusted,
      keys,
      plugins: this.plugins,
      plan: new SwapPlan(),
      objects: {
        upstream: { built: 0, kept: this.upstreams.size },
        service: { built: 0, kept: this.services.size },
        route: { built: 0, kept: this.routes.length },
        plugins: { built: 0, kept: 1 },
        router: { built: 0, kept: 1 },
      },
    });
  }
}

/** Whether two snapshots hold the same configuration (the hash is of the normalized content). */
function sameContent(a: Snapshot, b: Snapshot): boolean {
  return a === b || (a.hash === b.hash && a.node.zone === b.node.zone);
}

/**
 * An upstream's runtime: its balancing (upstream-balancing.ts), guard and response-side settings.
 * A kept guard takes its new limits at the swap, a new one is registered then.
 */
function upstreamRuntime(
  u: UpstreamSpec,
  b: UpstreamBalancing,
  live: LiveState,
  plan: SwapPlan,
): UpstreamRuntime {
  const current = live.guards.get(u.name);
  const guard = current ?? new UpstreamGuard(u.name, u.circuitBreaker, live.breakers);
  if (current === undefined) plan.later(() => live.guards.set(u.name, guard));
  else if (current.limits !== u.circuitBreaker) plan.later(() => (current.limits = u.circuitBreaker));
  return {
    spec: u,
    guard,
    targets: b.targets,
    picker: b.picker,
    headerLatency: live.metrics.upstreamLatency.labels({ upstream: u.name }),
    hashing: isHashing(u.algorithm),
    sticky: b.sticky,
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
    bytesIn: live.metrics.requestBytes.labels({ route: label, service: serviceLabel }),
    bytesOut: live.metrics.responseBytes.labels({ route: label, service: serviceLabel }),
    chain: plugins === null ? null : plugins.chainFor(r, service?.spec ?? null),
  };
}
