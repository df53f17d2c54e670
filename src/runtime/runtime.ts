/**
 * The runtime: the one reference to the generation in service, swapped atomically, and the live
 * state that outlives generations (targets, balancers, pools). A retired generation is disposed
 * when its last in-flight request ends: the pools and target states that no generation still
 * uses are then released.
 */

import type { Snapshot } from '../config/types.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { DeadlineWheel } from '../core/deadline-wheel.ts';
import { finish, PACE_BUDGET_MS, PACE_MAX_STEPS, pace, type Scheduler } from '../core/pace.ts';
import type { Rng } from '../core/random.ts';
import type { Outcome } from '../health/probe.ts';
import { HealthRegistry } from '../health/registry.ts';
import type { HealthShare } from '../health/share.ts';
import type { AccessEntry, Logs } from '../observability/access-log.ts';
import { servedCertificates } from '../observability/certificates.ts';
import { Metrics } from '../observability/metrics.ts';
import { TargetFailureLog } from '../observability/target-log.ts';
import { TargetStats } from '../observability/target-stats.ts';
import type { Tracing } from '../observability/trace-hooks.ts';
import type { SharedCounters } from '../plugins/rate-limit-policy.ts';
import type { ProxyCore } from '../proxy/core.ts';
import type { AffinitySharing } from '../upstreams/affinity-table.ts';
import type { NodeBreakers } from '../upstreams/connection-slots.ts';
import { PoolRegistry } from '../upstreams/pools.ts';
import { SlowStart } from '../upstreams/slow-start.ts';
import type { TargetState } from '../upstreams/target.ts';
import { type BuildKeys, Generation, type LiveState, newBuildKeys, OBJECT_KINDS } from './generation.ts';

/** A generation built and not yet in service (Runtime.prepare). */
export interface Prepared {
  readonly gen: Generation;
  readonly keys: BuildKeys;
}

/** One configuration put in service, for the dashboard's history. */
export interface GenerationRecord {
  readonly id: number;
  readonly hash: string;
  readonly source: string;
  /** Wall-clock ms when it went into service. */
  readonly atMs: number;
  /** Whether its content differs from the generation before it. */
  readonly changed: boolean;
}

/** Generations remembered for the dashboard. */
export const GENERATION_HISTORY = 20;

/** The resolution of client connections' timeouts (nginx checks its timers as coarsely under load). */
export const CONNECTION_TICK_MS = 50;

export class Runtime implements ProxyCore {
  readonly clock: Clock;
  /**
   * The clock of transport timers (client idle and header timeouts, a target connection's
   * connect, read, write and idle timers): I/O happens in real time, so these stay on the real
   * clock even when a test drives `clock` by hand. Request-level timers (deadline, per-try,
   * hedging, backoff) and everything else use `clock`.
   */
  readonly ioClock: Clock;
  /**
   * Client connections' timeouts (header, request, keep-alive idle, lingering close), on
   * `ioClock`: one wheel rather than a timer per connection (src/core/deadline-wheel.ts). They
   * fire up to CONNECTION_TICK_MS late.
   */
  readonly connectionTimers: DeadlineWheel;
  readonly metrics: Metrics;
  readonly live: LiveState;
  readonly logs: Logs;
  /** Active and passive health checks (src/health); outlives generations. */
  readonly health: HealthRegistry;
  draining = false;
  /** OpenTelemetry tracing, set by the node when the `tracing` setting is present (tracing.ts). */
  tracing: Tracing | null = null;
  readonly rng: Rng;
  private gen: Generation;
  private readonly retired = new Set<Generation>();
  /** What builds in progress already hold (see BuildKeys). */
  private readonly building = new Set<BuildKeys>();
  private nextId = 1;
  /** Open client connections, maintained by the listeners (for metrics and status). */
  connections = 0;
  readonly access: (entry: AccessEntry) => void;
  /**
   * Why targets fail, logged once per target per interval (src/observability/target-log.ts): the
   * data plane calls `targetLog.noteFailure(target, error)` on each failed try.
   */
  readonly targetLog: TargetFailureLog;
  /** The latest generations put in service, oldest first. */
  readonly history: GenerationRecord[] = [];

  constructor(
    snapshot: Snapshot,
    deps: {
      clock: Clock;
      rng: Rng;
      logs: Logs;
      ioClock?: Clock;
      /** The first generation's number (a worker takes its primary's). */
      firstId?: number;
      /** Rate-limit counts shared beyond this process. */
      counters?: SharedCounters;
      /** Circuit-breaker counts kept for the node elsewhere (a worker's primary). */
      breakers?: NodeBreakers;
      /** Health probing shared with other processes (set before the first probes). */
      healthShare?: HealthShare;
      /** Source-ip tables shared with the cluster's nodes (`source_ip.store: cluster`). */
      affinityShare?: AffinitySharing;
    },
  ) {
    this.clock = deps.clock;
    this.ioClock = deps.ioClock ?? systemClock;
    this.connectionTimers = new DeadlineWheel(this.ioClock, CONNECTION_TICK_MS);
    this.logs = deps.logs;
    this.access = deps.logs.access;
    this.metrics = new Metrics({
      targets: () => this.live.targets.values(),
      generation: () => this.gen.id,
      connections: () => this.connections,
      certificates: () => servedCertificates(this.gen.snapshot.node),
    });
    this.live = {
      targets: new Map(),
      balancers: new Map(),
      pools: new PoolRegistry({
        keepAliveMs: snapshot.node.timeouts.upstreamKeepaliveMs,
        clock: this.ioClock,
        slots: deps.breakers === undefined ? undefined : (key, max) => deps.breakers!.slots(key, max),
      }),
      slowStart: new SlowStart(deps.clock, (names) => this.rebuildPickers(names)),
      affinity: new Map(),
      affinityShare: deps.affinityShare ?? null,
      metrics: this.metrics,
      guards: new Map(),
      pluginState: new Map(),
      counters: deps.counters ?? null,
      breakers: deps.breakers ?? null,
      rng: deps.rng,
      clock: deps.clock,
    };
    this.rng = deps.rng;
    this.health = new HealthRegistry({
      clock: deps.clock,
      ioClock: this.ioClock,
      rng: deps.rng,
      log: deps.logs.app,
      registry: this.metrics.registry,
      ...(deps.healthShare === undefined ? {} : { share: deps.healthShare }),
    });
    this.targetLog = new TargetFailureLog(deps.logs.app, deps.clock);
    this.gen = finish(Generation.build(this.takeId(deps.firstId), snapshot, this.live));
    this.gen.commit();
    this.observe(this.gen, true);
    this.health.sync(this.gen.upstreams.values());
  }

  /** Give new targets their rolling statistics, count what the build made, remember the generation. */
  private observe(gen: Generation, changed: boolean): void {
    for (const t of this.live.targets.values())
      if (t.observer === null) t.observer = new TargetStats(this.clock);
    for (const kind of OBJECT_KINDS) {
      const n = gen.objects[kind];
      this.metrics.configObjects.labels({ kind, outcome: 'built' }).inc(n.built);
      this.metrics.configObjects.labels({ kind, outcome: 'kept' }).inc(n.kept);
    }
    const s = gen.snapshot;
    this.history.push({ id: gen.id, hash: s.hash, source: s.source, atMs: gen.createdAtMs, changed });
    if (this.history.length > GENERATION_HISTORY) this.history.shift();
  }

  get current(): Generation {
    return this.gen;
  }

  accessLog(entry: AccessEntry): void {
    this.access(entry);
  }

  get accessLogging(): boolean {
    return this.logs.accessOn;
  }

  /** Build a generation from the snapshot at once and put it in service; the old one drains. */
  apply(snapshot: Snapshot, id?: number): Generation {
    return this.swap(
      finish(Generation.build(this.takeId(id), snapshot, this.live, newBuildKeys(), this.gen)),
    );
  }

  /**
   * Build a generation a few milliseconds at a time, traffic flowing on the generation in service
   * in between (docs/architecture.md), then put it in service.
   */
  async applyPaced(snapshot: Snapshot, scheduler: Scheduler, id?: number): Promise<Generation> {
    return this.install(await this.prepare(snapshot, scheduler, id));
  }

  /**
   * Build a generation a few milliseconds at a time without putting it in service: the first half
   * of a change that several processes apply together (src/workers/). `id` is the generation
   * number to give it (the node's workers all use the primary's), else the next one. The result
   * goes to `install` or `abandon`; until then what it holds stays registered.
   */
  async prepare(snapshot: Snapshot, scheduler: Scheduler, id?: number): Promise<Prepared> {
    const keys = newBuildKeys();
    this.building.add(keys);
    try {
      const budget = { clock: this.clock, maxMs: PACE_BUDGET_MS, maxSteps: PACE_MAX_STEPS };
      const gen = await pace(
        Generation.build(this.takeId(id), snapshot, this.live, keys, this.gen),
        scheduler,
        budget,
      );
      return { gen, keys };
    } catch (err) {
      this.building.delete(keys);
      throw err;
    }
  }

  /** Build a generation at once, not in service (Runtime.prepare without pacing). */
  prepareNow(snapshot: Snapshot, id?: number): Prepared {
    const keys = newBuildKeys();
    // Registered like a paced build's: the caller may wait before `install` (node.prepare does).
    this.building.add(keys);
    try {
      return { gen: finish(Generation.build(this.takeId(id), snapshot, this.live, keys, this.gen)), keys };
    } catch (err) {
      this.building.delete(keys);
      throw err;
    }
  }

  /**
   * Put a prepared generation in service: the changes its build queued for live objects are made
   * and the reference swapped, in one synchronous step.
   */
  install(p: Prepared): Generation {
    this.building.delete(p.keys);
    return this.swap(p.gen);
  }

  /**
   * Drop a prepared generation. Its build changed nothing the generation in service uses and
   * registered nothing new (its changes wait in the generation, never committed; the pools it made
   * never connected), so dropping it is all: the keys it kept from release are let go.
   */
  abandon(p: Prepared): void {
    this.building.delete(p.keys);
    this.release();
  }

  private takeId(id: number | undefined): number {
    if (id === undefined) return this.nextId++;
    this.nextId = Math.max(this.nextId, id + 1);
    return id;
  }

  private swap(next: Generation): Generation {
    const old = this.gen;
    next.commit();
    this.gen = next;
    this.observe(next, old.snapshot.hash !== next.snapshot.hash);
    this.targetLog.sweep();
    this.health.sync(next.upstreams.values());
    this.retired.add(old);
    this.metrics.reloads.labels({ result: 'ok' }).inc();
    if (old.inflight === 0) this.dispose(old);
    else this.release();
    return next;
  }

  reportOutcome(t: TargetState, o: Outcome): void {
    if (typeof o === 'number' && o >= 500 && t.observer instanceof TargetStats) t.observer.httpError();
    this.health.report(t, o);
  }

  onExchangeEnd(gen: Generation): void {
    if (gen !== this.gen && gen.inflight === 0 && this.retired.has(gen)) this.dispose(gen);
  }

  private dispose(gen: Generation): void {
    this.retired.delete(gen);
    this.release();
  }

  /** Release pools, balancers and target states that no generation in use needs any more. */
  private release(): void {
    const pools = new Set(this.gen.poolKeys);
    const targets = new Set(this.gen.targetKeys);
    const upstreams = new Set(this.gen.upstreams.keys());
    for (const g of this.retired) {
      for (const k of g.poolKeys) pools.add(k);
      for (const k of g.targetKeys) targets.add(k);
      for (const k of g.upstreams.keys()) upstreams.add(k);
    }
    for (const b of this.building) {
      for (const k of b.poolKeys) pools.add(k);
      for (const k of b.targetKeys) targets.add(k);
      for (const k of b.upstreams) upstreams.add(k);
    }
    this.live.pools.retain(pools);
    for (const k of this.live.targets.keys()) if (!targets.has(k)) this.live.targets.delete(k);
    for (const k of this.live.balancers.keys()) if (!upstreams.has(k)) this.live.balancers.delete(k);
    for (const k of this.live.guards.keys()) if (!upstreams.has(k)) this.live.guards.delete(k);
    for (const k of this.live.affinity.keys())
      if (!upstreams.has(k)) {
        this.live.affinity.delete(k);
        this.live.affinityShare?.detach(k);
      }
  }

  /**
   * Slow start moved effective weights: rebuild the pickers of these upstreams in the generation in
   * service (a retired one keeps its pickers; it only finishes what it started).
   */
  private rebuildPickers(names: ReadonlySet<string>): void {
    for (const name of names) {
      const u = this.gen.upstreams.get(name);
      const b = this.live.balancers.get(name);
      if (u && b) u.picker = b.update(u.targets);
    }
  }

  /** Node stop: stop the timers the runtime owns (the slow-start ticker). */
  close(): void {
    this.live.slowStart.stop();
    this.health.stop();
    this.targetLog.stop();
  }

  /** Requests in flight across every generation. */
  inflight(): number {
    let n = this.gen.inflight;
    for (const g of this.retired) n += g.inflight;
    return n;
  }
}
