/**
 * `UpstreamDispatcher`: an undici Dispatcher that balances every request over an upstream's targets
 * with Fulcrum's own code, so undici's `request`, `stream`, `fetch` (`dispatcher:`) and
 * `setGlobalDispatcher` get client-side load balancing. One undici Pool per target (public API);
 * the balancer stack, target states, slow start and sticky table come from the runtime's builder
 * (src/runtime/upstream-balancing.ts); health checks are the proxy's (src/health/upstream-health.ts);
 * each request is a ClientExchange (exchange.ts).
 *
 * Targets come from the upstream's `targets`, or from a source (`targets: { subscribe }`) delivering
 * full lists: each list is validated as the file's targets are, and a refused one leaves the last
 * good list in use. Targets marked `resolve` and an upstream's `file_sd` are discovered by the
 * proxy's own pipeline (src/discovery/discovery.ts, given the one-upstream snapshot the options
 * validate into, with the `dns` option as the node's DNS settings), so DNS TTLs, stale-if-error,
 * SRV and file_sd behave exactly as in the proxy. Whatever the list's origin: a target that leaves
 * has its Pool closed once its requests are done; a target that joins ramps under slow start; one
 * that stays keeps its state.
 */
import pino, { type Logger } from 'pino';
import type { Registry } from 'prom-client';
import { Dispatcher, errors, Pool } from 'undici';
import { isHashing } from '../balancers/configure.ts';
import type { TargetConfig, UpstreamConfig } from '../config/file-types.ts';
import { ConfigError } from '../config/load.ts';
import type { ServiceSpec, Snapshot, UpstreamSpec } from '../config/types.ts';
import { type Clock, holdProcess, systemClock } from '../core/clock.ts';
import { type Rng, systemRng } from '../core/random.ts';
import { Discovery } from '../discovery/discovery.ts';
import type { Outcome } from '../health/probe.ts';
import { UpstreamHealth } from '../health/upstream-health.ts';
import { Counter } from '../observability/registry.ts';
import { hashKeyOf } from '../proxy/hash-key.ts';
import { type BalancingState, buildUpstreamBalancing } from '../runtime/upstream-balancing.ts';
import { UpstreamGuard } from '../upstreams/guard.ts';
import { SlowStart } from '../upstreams/slow-start.ts';
import type { TargetState } from '../upstreams/target.ts';
import { ClientExchange, type ExchangeHost, type UpstreamView } from './exchange.ts';
import { asLegacyHandler } from './legacy-handler.ts';
import { ClientCounts, reportTo } from './metrics.ts';
import { type ClientDnsConfig, type ClientServiceConfig, clientSpecs } from './options.ts';
import { requestFacts } from './request-facts.ts';

/** A source of targets: `subscribe` delivers the full list now or soon, and again at every change. */
export interface TargetSource {
  /** Returns how to stop: a function, or an object with `unsubscribe()`; anything else means nothing to stop. */
  subscribe(update: (targets: readonly TargetConfig[]) => void): unknown;
}

export interface UpstreamDispatcherOptions {
  /** The upstream in the declarative file's shape (docs/configuration.md#upstream); `name` is required. */
  readonly upstream: UpstreamConfig;
  /** The service fields governing tries: retries, retry_policy, connect_timeout, read_timeout, request_timeout. */
  readonly service?: ClientServiceConfig;
  /** Targets from a source (discovery) instead of `upstream.targets`. */
  readonly targets?: TargetSource;
  /** The node's DNS settings for targets marked `resolve` (`dns_resolver`, `dns_order`, `dns_*_ttl`). */
  readonly dns?: ClientDnsConfig;
  /** The application's zone, for zone-aware balancing over targets with a `zone`. */
  readonly zone?: string;
  /** How to reach the targets (default `http`). */
  readonly protocol?: 'http' | 'https';
  /** Options for each target's undici Pool (TLS `connect` options, `pipelining`, keep-alive...). */
  readonly pool?: Pool.Options;
  /** The hashing algorithms' key for a request; default: what the upstream's `hash_on` names. */
  readonly hashKey?: (opts: Dispatcher.DispatchOptions) => string | null;
  /** With `sticky: { mode: source-ip }`: the key a request is pinned by (a session or user id). */
  readonly stickyKey?: (opts: Dispatcher.DispatchOptions) => string | null;
  /** Retry non-idempotent methods on every `retry_on` condition, not on connect failures only. */
  readonly retryNonIdempotent?: boolean;
  /** A prom-client registry to report metrics to (docs/client.md#metrics). */
  readonly registry?: Registry;
  /** A pino logger for health transitions and refused target lists (default: silent). */
  readonly logger?: Logger;
  /** Injected time and randomness (tests). */
  readonly clock?: Clock;
  readonly rng?: Rng;
}

/**
 * How long requests wait for discovery's first answers before the dispatcher starts with what it has
 * (the node waits as long before it binds: src/runtime/node-options.ts).
 */
export const CLIENT_DISCOVERY_WAIT_MS = 5000;

/** The view before a target source's first list: every pick finds nothing. */
const NO_TARGETS: UpstreamView = Object.freeze({
  picker: { pick: () => null },
  sticky: null,
  pools: new Map(),
});

export class UpstreamDispatcher extends Dispatcher implements ExchangeHost {
  readonly name: string;
  view: UpstreamView;
  readonly guard: UpstreamGuard;
  readonly counts = new ClientCounts();
  readonly policy: ServiceSpec['retryPolicy'];
  readonly retries: number;
  readonly requestTimeoutMs: number;
  readonly retryNonIdempotent: boolean;
  readonly loadHeader: string | null;
  readonly clock: Clock;
  readonly rng: Rng;
  private readonly options: UpstreamDispatcherOptions;
  private spec: UpstreamSpec;
  private readonly service: ServiceSpec;
  private readonly live: BalancingState;
  private readonly pools = new Map<string, Pool>();
  private readonly log: Logger;
  private readonly health: UpstreamHealth | null;
  private readonly hashing: boolean;
  private readonly unreport: (() => void) | null;
  private stop: (() => void) | null = null;
  private closed = false;
  /** Runs the providers the upstream asks for (`resolve` targets, `file_sd`); null until one does. */
  private discovery: Discovery | null = null;
  /** Requests that came before discovery's first answers; null once the first view is built. */
  private waiting: [Dispatcher.DispatchOptions, Dispatcher.DispatchHandler][] | null = null;
  private readonly first: Promise<void>;
  private firstBuilt: () => void = () => {};
  /**
   * While requests or `ready()` wait for discovery: keeps the process alive (the DNS socket and
   * timers are unref'd, as the node's are), released at the first view or at close.
   */
  private release: (() => void) | null = null;

  /** Throws a ConfigError listing every problem of the options. */
  constructor(options: UpstreamDispatcherOptions) {
    super();
    this.options = options;
    if (options.targets !== undefined && options.upstream?.targets !== undefined)
      throw new ConfigError([
        {
          file: '<client options>',
          line: 0,
          column: 0,
          path: 'targets',
          message: 'give targets in the upstream or a source, not both',
        },
      ]);
    const { upstream, service, snapshot } = clientSpecs(
      options.upstream,
      options.service ?? {},
      options.targets === undefined ? undefined : [],
      options.dns,
    );
    if (upstream.sticky !== null && options.stickyKey === undefined)
      throw new ConfigError([
        {
          file: '<client options>',
          line: 0,
          column: 0,
          path: 'upstream.sticky',
          message: 'needs the stickyKey option (what a request is pinned by)',
        },
      ]);
    this.spec = upstream;
    this.service = service;
    this.name = upstream.name;
    this.clock = options.clock ?? systemClock;
    this.rng = options.rng ?? systemRng;
    this.log = options.logger ?? pino({ level: 'silent' });
    this.policy = service.retryPolicy;
    this.retries = service.retries;
    this.requestTimeoutMs = service.requestTimeoutMs;
    this.retryNonIdempotent = options.retryNonIdempotent === true;
    this.loadHeader = upstream.algorithm === 'resource' ? upstream.balancer.loadHeader : null;
    this.hashing = isHashing(upstream.algorithm);
    this.guard = new UpstreamGuard(upstream.name, upstream.circuitBreaker);
    this.live = {
      targets: new Map(),
      balancers: new Map(),
      affinity: new Map(),
      slowStart: new SlowStart(this.clock, () => this.rebuild()),
      rng: this.rng,
      clock: this.clock,
    };
    const hc = upstream.healthchecks;
    this.health =
      hc.activeOn || hc.passiveOn
        ? new UpstreamHealth(upstream, {
            clock: this.clock,
            ioClock: this.clock,
            rng: this.rng,
            log: this.log,
            checks: new Counter('fulcrum_client_health_checks_total', 'Active health check probes.'),
          })
        : null;
    this.first = new Promise((resolve) => {
      this.firstBuilt = resolve;
    });
    // With a source, nothing is built before its first list; with discovery, before its first answers
    // (requests wait for them): that list is the fleet at start, which does not ramp under slow start
    // (as a node's first configuration does not).
    this.spec = this.discover(snapshot);
    const discovering = this.discovery !== null && options.targets === undefined;
    this.view = options.targets === undefined && !discovering ? this.build() : NO_TARGETS;
    if (this.view !== NO_TARGETS) this.firstBuilt();
    this.health?.start(this.targets());
    this.unreport = options.registry === undefined ? null : reportTo(options.registry, this);
    if (options.targets !== undefined) this.subscribe(options.targets);
    if (discovering) {
      this.waiting = [];
      void this.discovery!.ready(CLIENT_DISCOVERY_WAIT_MS).then(() => this.startDiscovered());
    }
  }

  /**
   * Settles once the dispatcher has its first targets: at once with `upstream.targets`, at a source's
   * first list, or when discovery has answered (or after CLIENT_DISCOVERY_WAIT_MS without answers).
   */
  ready(): Promise<void> {
    if (this.waiting !== null) this.release ??= holdProcess();
    return this.first;
  }

  /** The upstream of `snapshot` with its discovered targets (it as it is when it discovers nothing). */
  private discover(snapshot: Snapshot): UpstreamSpec {
    const u = snapshot.upstreams[0]!;
    if (this.discovery === null) {
      if (!u.fileSd && !u.targets.some((t) => t.resolve === true)) return u;
      this.discovery = new Discovery({
        clock: this.clock,
        ioClock: this.clock,
        rng: this.rng,
        log: this.log,
        onChange: () => this.discovered(),
      });
    }
    return this.discovery.setBase(snapshot).upstreams[0]!;
  }

  /** Discovery's first answers are in (or the wait is over): build, and send the requests that waited. */
  private startDiscovered(): void {
    const waiting = this.waiting;
    this.waiting = null;
    this.release?.();
    this.release = null;
    if (this.closed) return;
    this.apply(this.discovery!.merged().upstreams[0]!);
    this.firstBuilt();
    for (const [opts, handler] of waiting ?? []) this.dispatch(opts, handler);
  }

  /** Discovery found other targets: put them in service (not before the first view). */
  private discovered(): void {
    if (this.closed || this.waiting !== null || this.discovery === null) return;
    if (this.view === NO_TARGETS && this.options.targets !== undefined) return;
    const spec = this.discovery.merged().upstreams[0]!;
    if (spec === this.spec) return;
    this.counts.targetUpdates.applied++;
    this.apply(spec);
  }

  /** The target states in use now. */
  targets(): readonly TargetState[] {
    return [...this.view.pools.keys()];
  }

  get upstream(): string {
    return this.name;
  }

  /** Passive health (ExchangeHost). */
  report(t: TargetState, o: Outcome): void {
    this.health?.passive(t, o);
  }

  /** Build the view for the spec now: target states, balancer stack, sticky layer, one Pool per target. */
  private build(): UpstreamView {
    const { targets, picker, sticky } = buildUpstreamBalancing(this.spec, this.options.zone ?? '', this.live);
    const pools = new Map<TargetState, Pool>();
    for (const t of targets) {
      let p = this.pools.get(t.key);
      if (p === undefined) {
        p = this.newPool(t);
        this.pools.set(t.key, p);
      }
      pools.set(t, p);
    }
    return { picker, sticky, pools };
  }

  private newPool(t: TargetState): Pool {
    const s = this.service;
    const max = this.spec.circuitBreaker.maxConnections;
    const pool = new Pool(`${this.options.protocol ?? 'http'}://${t.target}`, {
      connectTimeout: s.connectTimeoutMs,
      headersTimeout: s.readTimeoutMs,
      bodyTimeout: s.readTimeoutMs,
      ...(max > 0 ? { connections: max } : {}),
      ...this.options.pool,
    });
    // Connection events, as BalancedPool forwards its pools' (origin, [dispatchers], error?).
    pool.on('connect', (origin, targets) => this.emit('connect', origin, [this, ...targets]));
    pool.on('disconnect', (origin, targets, err) => this.emit('disconnect', origin, [this, ...targets], err));
    pool.on('connectionError', (origin, targets, err) =>
      this.emit('connectionError', origin, [this, ...targets], err),
    );
    return pool;
  }

  /** Slow start moved effective weights: a new picker over the same targets. */
  private rebuild(): void {
    if (this.closed) return;
    this.view = { ...this.view, picker: this.live.balancers.get(this.name)!.update(this.targets()) };
  }

  private subscribe(source: TargetSource): void {
    const stop = source.subscribe((list) => this.setTargets(list)) as
      | (() => void)
      | { unsubscribe?: unknown }
      | null
      | undefined;
    if (typeof stop === 'function') this.stop = stop;
    else if (stop != null && typeof stop.unsubscribe === 'function') {
      const handle = stop as { unsubscribe(): void };
      this.stop = () => handle.unsubscribe();
    }
  }

  /** A full target list from the source: validated as the file's; refused lists change nothing. */
  private setTargets(list: readonly TargetConfig[]): void {
    if (this.closed) return;
    let snapshot: Snapshot;
    try {
      snapshot = clientSpecs(
        this.options.upstream,
        this.options.service ?? {},
        list,
        this.options.dns,
      ).snapshot;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      this.counts.targetUpdates.refused++;
      this.log.error(
        { upstream: this.name, issues: err.issues },
        'target list refused; the last good one stays in use',
      );
      return;
    }
    this.counts.targetUpdates.applied++;
    this.apply(this.discover(snapshot));
    this.firstBuilt();
  }

  /** Put `spec`'s targets in service: states kept for the targets that stay, departed ones drained. */
  private apply(spec: UpstreamSpec): void {
    this.spec = spec;
    this.view = this.build();
    const keep = new Set([...this.view.pools.keys()].map((t) => t.key));
    for (const [key, pool] of this.pools)
      if (!keep.has(key)) {
        this.pools.delete(key);
        this.live.targets.delete(key);
        // Requests already sent there finish; nothing new is picked for it.
        pool.close().catch(() => {});
      }
    this.health?.setTargets(this.targets());
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const h = asLegacyHandler(handler);
    if (this.closed) {
      h.onError?.(new errors.ClientClosedError());
      return false;
    }
    if (this.waiting !== null) {
      this.waiting.push([opts, handler]);
      this.release ??= holdProcess();
      return true;
    }
    const hashKey = this.hashing ? this.hashKeyOf(opts) : null;
    const stickyKey = this.view.sticky === null ? '' : (this.options.stickyKey?.(opts) ?? '');
    new ClientExchange(this, opts, h, hashKey, stickyKey).start();
    return true;
  }

  private hashKeyOf(opts: Dispatcher.DispatchOptions): string | null {
    if (this.options.hashKey !== undefined) return this.options.hashKey(opts);
    if (this.spec.hashOn.kind === 'none') return null;
    return hashKeyOf(this.spec, requestFacts(opts)).key;
  }

  /** Stop taking requests; resolves once every request in flight is done and the pools closed. */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const done = this.shutdown((p) => p.close());
    if (callback === undefined) return done;
    done.then(
      () => callback(),
      () => callback(),
    );
  }

  /** Stop at once: requests in flight fail with `err`. */
  override destroy(err?: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === 'function' ? null : (a ?? null);
    const callback = typeof a === 'function' ? a : b;
    const done = this.shutdown((p) => p.destroy(err));
    if (callback === undefined) return done;
    done.then(
      () => callback(),
      () => callback(),
    );
  }

  private async shutdown(each: (p: Pool) => Promise<void>): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.stop?.();
      this.discovery?.close();
      for (const [, handler] of this.waiting ?? [])
        asLegacyHandler(handler).onError?.(new errors.ClientClosedError());
      this.waiting = null;
      this.release?.();
      this.release = null;
      this.firstBuilt();
      this.health?.stop(false);
      this.live.slowStart.stop();
      this.unreport?.();
    }
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(pools.map(each));
  }
}

/** An undici Dispatcher balancing over `options.upstream` (docs/client.md). Throws a ConfigError on bad options. */
export function upstreamDispatcher(options: UpstreamDispatcherOptions): UpstreamDispatcher {
  return new UpstreamDispatcher(options);
}
