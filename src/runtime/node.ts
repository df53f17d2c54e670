/**
 * A Fulcrum node: the runtime, its proxy listeners and its admin listener, with the lifecycle
 * the CLI drives: start, reload (atomic swap, or refusal that keeps the old configuration),
 * graceful stop (stop accepting, let in-flight requests finish up to the drain timeout).
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { ConfigControl } from '../admin/control.ts';
import { AdminServer } from '../admin/server.ts';
import { ConfigError, type ConfigIssue } from '../config/load.ts';
import type { TracingSpec } from '../config/tracing.ts';
import type { ListenerSpec, Snapshot } from '../config/types.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { immediateScheduler, type Scheduler } from '../core/pace.ts';
import { type Rng, systemRng } from '../core/random.ts';
import { VERSION } from '../core/version.ts';
import { Discovery } from '../discovery/discovery.ts';
import { createListener, type ProxyListener } from '../listeners/index.ts';
import { createLogs, type LogFormat, type Logs } from '../observability/access-log.ts';
import { proxyCachesIn } from '../plugins/proxy-cache.ts';
import { inlinePipeline } from '../store/config-jobs.ts';
import { emptyState, type State } from '../store/document.ts';
import { FileStore } from '../store/file-store.ts';
import { ManagedStore } from '../store/managed-store.ts';
import type { ConfigStore } from '../store/store.ts';
import { WorkerPipeline } from './config-pipeline.ts';
import { type DashboardNode, dashboardConfig, dashboardStats } from './dashboard-view.ts';
import { discoveredTargetRows } from './discovery-view.ts';
import { FileWatch } from './file-watch.ts';
import { checkServiceHosts } from './host-check.ts';
import { Runtime } from './runtime.ts';
import { setTargetState, upstreamHealth } from './upstream-health-view.ts';

export interface NodeOptions {
  /** The declarative file; reload() re-reads it. */
  readonly configFile?: string;
  /** A snapshot to start from instead of a file (tests). */
  readonly snapshot?: Snapshot;
  /** A store to read the configuration from instead of a file (embedding: MemoryStore); reload() re-reads it. */
  readonly store?: ConfigStore;
  readonly clock?: Clock;
  readonly rng?: Rng;
  /** Override the file's logging (tests pass `off` and `silent`). */
  readonly accessLog?: string;
  readonly logLevel?: string;
  /** Override the file's `logging.format` (CLI `--log-format`). */
  readonly logFormat?: LogFormat;
  /**
   * Managed mode: the admin API's changes are persisted to this state file and read back on start
   * (`fulcrum start --managed --state FILE`). When the file does not exist yet, the node starts
   * from `configFile` if given (and writes it as the first state), else empty.
   */
  readonly stateFile?: string;
  /** File mode: reload when the declarative file changes (`fulcrum start --watch`). */
  readonly watch?: boolean;
  /** Override the file's top-level `zone` (CLI `--zone`, `FULCRUM_ZONE`): one file, nodes in many zones. */
  readonly zone?: string;
  /**
   * Validate configuration changes in a worker thread and build generations a few milliseconds at
   * a time (default true; docs/architecture.md). Off, a change is handled in one go.
   */
  readonly configWorker?: boolean;
  /** How paced work waits for the next turn of the event loop (tests count turns). */
  readonly scheduler?: Scheduler;
}

/**
 * A listener could not bind its address: the message names the listener and says why, for the
 * command line to print without a stack (EADDRINUSE, EACCES, EADDRNOTAVAIL).
 */
export class BindError extends Error {
  readonly listener: string;
  readonly code: string;
  constructor(listener: string, protocol: string, address: string, port: number, err: unknown) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const why =
      code === 'EADDRINUSE'
        ? 'the address is already in use (another process listens on it)'
        : code === 'EACCES'
          ? 'permission denied (ports below 1024 need privileges)'
          : code === 'EADDRNOTAVAIL'
            ? 'the address is not one of this machine'
            : (err as Error).message;
    super(
      `listener ${JSON.stringify(listener)} (${protocol} on ${address}:${port}) cannot bind: ${why}${code ? ` (${code})` : ''}`,
    );
    this.listener = listener;
    this.code = code;
  }
}

export type ReloadResult =
  | { ok: true; generation: number; hash: string; changed: boolean }
  | { ok: false; issues: readonly ConfigIssue[] };

function listenerKey(l: ListenerSpec): string {
  return `${l.name}|${l.protocol}|${l.address}|${l.port}`;
}

/**
 * At start, how long the first answers of discovery (DNS, file_sd) are awaited before the listeners
 * bind; past it the node starts with what it has and takes the rest as it arrives.
 */
export const DISCOVERY_START_WAIT_MS = 5000;

/** The snapshot with the node's zone replaced by an override (the override wins over the file). */
function withZone(snapshot: Snapshot, zone: string | undefined): Snapshot {
  if (zone === undefined || zone === snapshot.node.zone) return snapshot;
  return Object.freeze({ ...snapshot, node: Object.freeze({ ...snapshot.node, zone }) });
}

export class FulcrumNode {
  readonly runtime: Runtime;
  readonly logs: Logs;
  /** The configuration control plane the admin API drives (entities, version, store, audit). */
  readonly control: ConfigControl;
  private readonly options: NodeOptions;
  private listeners: ProxyListener[] = [];
  private admin: AdminServer | null = null;
  private watcher: FileWatch | null = null;
  private readonly startedAtMs: number;
  /** Kong's `node_id` (`GET /`): one per process. */
  private readonly nodeId = randomUUID();
  private stopping: Promise<void> | null = null;
  private readonly scheduler: Scheduler;
  /** Every listener bound (start-up done). */
  private bound = false;
  /** The `tracing` setting in effect, as JSON ('' when off). */
  private tracingKey = '';
  /** The last load's lookups of service hosts (host-check.ts); settles when they have answered. */
  hostCheck: Promise<void> = Promise.resolve();
  /** Discovery (src/discovery/): the base configuration in, the configuration to serve out. */
  readonly discovery: Discovery;
  /** Configuration changes put in service one after the other (a base change, a discovery change). */
  private changes: Promise<unknown> = Promise.resolve();
  private discoveryQueued = false;
  /** Discovery changes put in service (tests wait on it). */
  discoveryApplied = 0;

  private constructor(
    snapshot: Snapshot,
    options: NodeOptions,
    config: { store: ConfigStore; state: State; version: number },
  ) {
    this.options = options;
    const clock = options.clock ?? systemClock;
    this.logs = createLogs(
      options.logLevel ?? snapshot.node.logging.level,
      options.accessLog ?? snapshot.node.logging.accessLog,
      clock,
      options.logFormat ?? snapshot.node.logging.format,
    );
    this.runtime = new Runtime(snapshot, { clock, rng: options.rng ?? systemRng, logs: this.logs });
    this.discovery = new Discovery({
      clock,
      ioClock: this.runtime.ioClock,
      rng: this.runtime.rng,
      log: this.logs.app,
      onChange: () => this.discoveryChanged(),
    });
    this.startedAtMs = clock.nowMs();
    this.scheduler = options.scheduler ?? immediateScheduler;
    this.control = new ConfigControl(config.store, config, {
      clock,
      log: this.logs.app,
      apply: (s) => this.applySnapshot(s),
      pipeline: options.configWorker === false ? inlinePipeline : new WorkerPipeline(this.scheduler),
    });
  }

  static async start(options: NodeOptions): Promise<FulcrumNode> {
    const clock = options.clock ?? systemClock;
    let config: { store: ConfigStore; state: State; version: number; snapshot: Snapshot };
    if (options.snapshot !== undefined)
      config = {
        store: new FileStore('<embedded>'),
        state: emptyState(),
        version: 1,
        snapshot: options.snapshot,
      };
    else if (options.store !== undefined)
      config = { store: options.store, ...ConfigControl.open(options.store, clock) };
    else if (options.stateFile !== undefined) {
      const seed = options.configFile === undefined ? undefined : new FileStore(options.configFile);
      const store = new ManagedStore(options.stateFile);
      config = { store, ...ConfigControl.open(store, clock, seed) };
    } else {
      const store = new FileStore(options.configFile ?? 'fulcrum.yaml');
      config = { store, ...ConfigControl.open(store, clock) };
    }
    const snapshot = withZone(config.snapshot, options.zone);
    const node = new FulcrumNode(snapshot, options, config);
    try {
      await node.applyTracing(snapshot.node.tracing);
      if (node.discovery.setBase(snapshot) !== snapshot) {
        await node.discovery.ready(DISCOVERY_START_WAIT_MS);
        await node.enqueue(() => node.putDiscovered());
      }
      await node.bind(snapshot);
    } catch (err) {
      await node.stop();
      throw err;
    }
    for (const p of [...snapshot.problems, ...snapshot.warnings])
      node.logs.app.warn({ path: p.path }, p.message);
    node.hostCheck = checkServiceHosts(snapshot, node.logs.app, clock);
    if (options.watch === true && options.configFile !== undefined && options.stateFile === undefined)
      node.watcher = new FileWatch(options.configFile, () => {
        node.logs.app.info({ file: options.configFile }, 'configuration file changed: reloading');
        void node.reload();
      });
    node.logs.app.info(
      {
        version: VERSION,
        config: snapshot.source,
        hash: snapshot.hash,
        proxy: node.proxyAddresses().map((a) => `${a.address}:${a.port}`),
        admin: node.adminAddress(),
      },
      'fulcrum started',
    );
    return node;
  }

  private async bind(snapshot: Snapshot): Promise<void> {
    for (const spec of snapshot.node.listeners) {
      const l = createListener(spec, snapshot.node, this.runtime);
      try {
        await l.listen();
      } catch (err) {
        throw new BindError(spec.name, spec.protocol, spec.address, spec.port, err);
      }
      this.listeners.push(l);
    }
    if (snapshot.node.admin.enabled) {
      this.admin = new AdminServer(snapshot.node.admin, {
        status: () => this.status(),
        metrics: () => this.runtime.metrics.render(),
        control: this.control,
        token: () => this.runtime.current.snapshot.node.admin.token,
        allowedHosts: () => this.runtime.current.snapshot.node.admin.allowedHosts,
        upstreamHealth: (name) => upstreamHealth(this.runtime, name),
        discoveredTargets: (name) => discoveredTargetRows(this.runtime, this.discovery, name),
        setTargetState: (u, t, state) => setTargetState(this.runtime, u, t, state),
        readiness: () => this.readiness(),
        clock: this.runtime.clock,
        kong: { proxyCaches: () => proxyCachesIn(this.runtime.live.pluginState), nodeId: this.nodeId },
        dashboard: {
          config: () => dashboardConfig(this.dashboardNode()),
          stats: () => dashboardStats(this.dashboardNode()),
          generation: () => this.runtime.current.id,
        },
      });
      const a = snapshot.node.admin;
      await this.admin.listen().catch((err: unknown) => {
        throw new BindError('admin', a.tls === null ? 'http' : 'https', a.address, a.port, err);
      });
    }
    this.bound = true;
  }

  /**
   * `GET /status/ready` (Kong's readiness probe): ready once the configuration is loaded and every
   * listener is bound, until the node starts draining.
   */
  readiness(): { ready: boolean; message: string } {
    if (this.runtime.draining) return { ready: false, message: 'draining: the node is stopping' };
    if (!this.bound) return { ready: false, message: 'starting: listeners are not bound yet' };
    return { ready: true, message: 'ready' };
  }

  /** What the dashboard's view reads of this node (src/runtime/dashboard-view.ts). */
  private dashboardNode(): DashboardNode {
    return {
      runtime: this.runtime,
      startedAtMs: this.startedAtMs,
      readiness: () => this.readiness(),
      audits: () => this.control.audits,
      listeners: () =>
        this.listeners.map((l) => {
          const a = l.address();
          // HTTP listeners count their connections (HTTP/2: sessions); L4 listeners report to the metrics.
          const http = l.openConnections;
          return {
            name: l.spec.name,
            protocol: l.spec.protocol,
            address: a?.address ?? l.spec.address,
            port: a?.port ?? l.spec.port,
            open: http ?? this.runtime.metrics.l4Open.get(l.spec.name) ?? null,
          };
        }),
    };
  }

  proxyAddresses(): AddressInfo[] {
    return this.listeners.map((l) => l.address()).filter((a): a is AddressInfo => a !== null);
  }

  adminAddress(): AddressInfo | null {
    return this.admin?.address() ?? null;
  }

  status(): unknown {
    const gen = this.runtime.current;
    const snap = gen.snapshot;
    return {
      version: VERSION,
      uptime_s: Math.round((this.runtime.clock.nowMs() - this.startedAtMs) / 1000),
      config: {
        source: snap.source,
        hash: snap.hash,
        generation: gen.id,
        loaded_at: new Date(gen.createdAtMs).toISOString(),
      },
      counts: {
        services: snap.services.length,
        routes: snap.routes.length,
        upstreams: snap.upstreams.filter((u) => !u.implicit).length,
        targets: snap.upstreams.reduce((n, u) => n + u.targets.length, 0),
        consumers: snap.consumers.length,
      },
      routes_disabled: gen.routes
        .filter((r) => r.disabled !== null)
        .map((r) => ({ route: r.label, path: r.spec.path, reason: r.disabled })),
      connections: this.runtime.connections,
      requests_in_flight: this.runtime.inflight(),
      draining: this.runtime.draining,
      upstreams: this.runtime.health.status(gen.upstreams.values()),
      ...(snap === this.discovery.merged() && snap.hash.includes('+')
        ? { discovery: this.discovery.status() }
        : {}),
    };
  }

  /**
   * Re-read the configuration (the file, or the state file in managed mode) and swap it in; on
   * any error keep serving the old one.
   */
  async reload(): Promise<ReloadResult> {
    if (!this.options.configFile && !this.options.stateFile && !this.options.store)
      return {
        ok: false,
        issues: [
          { file: '<none>', line: 0, column: 0, path: '', message: 'this node was not started from a file' },
        ],
      };
    try {
      return await this.control.reload({ who: 'signal', token: false, method: 'RELOAD', path: '' });
    } catch (err) {
      // Whatever went wrong reading the new configuration, the old one keeps serving: a reload
      // (SIGHUP, --watch) has no caller to throw to, and must never take the process down.
      const issues: readonly ConfigIssue[] =
        err instanceof ConfigError
          ? err.issues
          : [
              {
                file: this.options.stateFile ?? this.options.configFile ?? '<none>',
                line: 0,
                column: 0,
                path: '',
                message: `cannot load: ${(err as Error).message}`,
              },
            ];
      if (!(err instanceof ConfigError)) this.logs.app.error({ err }, 'unexpected error while reloading');
      this.runtime.metrics.reloads.labels({ result: 'rejected' }).inc();
      for (const i of issues)
        this.logs.app.error({ file: i.file, line: i.line, column: i.column, path: i.path }, i.message);
      this.logs.app.error('configuration refused; the previous configuration keeps serving');
      return { ok: false, issues };
    }
  }

  /** Run configuration changes one at a time, in order. */
  private enqueue<T>(f: () => Promise<T>): Promise<T> {
    const p = this.changes.then(f, f);
    this.changes = p.catch(() => {});
    return p;
  }

  /** Discovery has new targets: put them in service after what is queued (once for many changes). */
  private discoveryChanged(): void {
    if (this.discoveryQueued) return;
    this.discoveryQueued = true;
    void this.enqueue(async () => {
      this.discoveryQueued = false;
      await this.putDiscovered();
    });
  }

  private async putDiscovered(): Promise<void> {
    const snapshot = this.discovery.merged();
    if (this.stopping !== null || snapshot === this.runtime.current.snapshot) return;
    const gen =
      this.options.configWorker === false
        ? this.runtime.apply(snapshot)
        : await this.runtime.applyPaced(snapshot, this.scheduler);
    this.discoveryApplied++;
    this.logs.app.info({ generation: gen.id, hash: snapshot.hash }, 'discovered targets changed');
  }

  /**
   * Put a validated snapshot in service (listeners added or removed as the snapshot says), with
   * what discovery finds for it.
   */
  applySnapshot(given: Snapshot): Promise<ReloadResult> {
    return this.enqueue(() => this.applyBase(given));
  }

  private async applyBase(given: Snapshot): Promise<ReloadResult> {
    const snapshot = this.discovery.setBase(withZone(given, this.options.zone));
    const before = this.runtime.current.snapshot.hash;
    const wanted = new Map(snapshot.node.listeners.map((l) => [listenerKey(l), l]));
    const kept: ProxyListener[] = [];
    const reconfigure: [ProxyListener, ListenerSpec][] = [];
    for (const l of this.listeners) {
      const next = wanted.get(listenerKey(l.spec));
      if (next !== undefined) {
        reconfigure.push([l, next]);
        kept.push(l);
        wanted.delete(listenerKey(l.spec));
      } else void l.stopAccepting();
    }
    try {
      for (const spec of wanted.values()) {
        const l = createListener(spec, snapshot.node, this.runtime);
        await l.listen().catch((err: unknown) => {
          throw new BindError(spec.name, spec.protocol, spec.address, spec.port, err);
        });
        kept.push(l);
      }
    } catch (err) {
      this.runtime.metrics.reloads.labels({ result: 'rejected' }).inc();
      const message = `cannot bind a new listener: ${(err as Error).message}`;
      this.logs.app.error(message);
      return {
        ok: false,
        issues: [{ file: snapshot.source, line: 0, column: 0, path: 'listeners', message }],
      };
    }
    this.listeners = kept;
    for (const [l, spec] of reconfigure) l.reconfigure?.(spec);
    const gen =
      this.options.configWorker === false
        ? this.runtime.apply(snapshot)
        : await this.runtime.applyPaced(snapshot, this.scheduler);
    await this.applyTracing(snapshot.node.tracing);
    for (const p of [...snapshot.problems, ...snapshot.warnings])
      this.logs.app.warn({ path: p.path }, p.message);
    if (before !== snapshot.hash)
      this.hostCheck = checkServiceHosts(snapshot, this.logs.app, this.runtime.clock);
    this.logs.app.info(
      { generation: gen.id, hash: snapshot.hash, changed: before !== snapshot.hash },
      'configuration applied',
    );
    return { ok: true, generation: gen.id, hash: snapshot.hash, changed: before !== snapshot.hash };
  }

  /**
   * Put the `tracing` setting in effect. OpenTelemetry is imported only here, when the setting is
   * present: a node without it loads none of it. A changed setting replaces the tracer; the old one
   * sends what it holds and stops.
   */
  private async applyTracing(spec: TracingSpec | null): Promise<void> {
    const key = spec === null ? '' : JSON.stringify(spec);
    if (key === this.tracingKey) return;
    this.tracingKey = key;
    const old = this.runtime.tracing;
    if (spec === null) this.runtime.tracing = null;
    else {
      const { createTracing } = await import('../observability/tracing.ts');
      this.runtime.tracing = createTracing(spec, { clock: this.runtime.clock, log: this.logs.app });
    }
    if (old !== null) void old.shutdown().catch(() => {});
  }

  /** Graceful stop: refuse new connections, finish in-flight requests up to drain_ms, then close. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.runtime.draining = true;
    this.runtime.health.stop();
    const drainMs = this.runtime.current.snapshot.node.timeouts.drainMs;
    const closed = Promise.all(this.listeners.map((l) => l.stopAccepting()));
    const deadline = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), drainMs).unref());
    const idle = setInterval(() => {
      for (const l of this.listeners) l.closeIdle();
    }, 50);
    const outcome = await Promise.race([closed.then(() => 'drained' as const), deadline]);
    clearInterval(idle);
    if (outcome === 'timeout') {
      this.logs.app.warn(
        { inflight: this.runtime.inflight() },
        'drain timeout: closing remaining connections',
      );
      for (const l of this.listeners) l.destroyAll();
    }
    this.watcher?.close();
    this.discovery.close();
    await this.admin?.close();
    await this.control.pipeline.close();
    this.runtime.close();
    await this.runtime.live.pools.closeAll();
    // The spans of the last requests are sent before the node reports it stopped.
    await this.runtime.tracing?.shutdown().catch(() => {});
    // A node that never started (a port in use) says why on the command line, not here.
    if (this.bound) this.logs.app.info({ outcome }, 'fulcrum stopped');
    this.logs.flush();
  }
}
