/**
 * A Fulcrum node: the runtime, its proxy listeners and its admin listener, with the lifecycle
 * the CLI drives: start, reload (atomic swap, or refusal that keeps the old configuration),
 * graceful stop (stop accepting, let in-flight requests finish up to the drain timeout).
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { AdminServer } from '../admin/server.ts';
import {
  type ClusterSharing,
  clusterStatus,
  openClusterSharing,
  openClusterStore,
} from '../cluster/node-cluster.ts';
import { ConfigError, type ConfigIssue } from '../config/load.ts';
import type { TracingSpec } from '../config/tracing.ts';
import type { Snapshot } from '../config/types.ts';
import { systemClock } from '../core/clock.ts';
import { immediateScheduler, type Scheduler } from '../core/pace.ts';
import { systemRng } from '../core/random.ts';
import { VERSION } from '../core/version.ts';
import { Discovery } from '../discovery/discovery.ts';
import { createLogs, type Logs } from '../observability/access-log.ts';
import { proxyCachesIn } from '../plugins/proxy-cache.ts';
import { ClusterStore } from '../store/cluster-store.ts';
import { inlinePipeline } from '../store/config-jobs.ts';
import { emptyState, type State } from '../store/document.ts';
import { FileStore } from '../store/file-store.ts';
import { ManagedStore } from '../store/managed-store.ts';
import type { ConfigStore } from '../store/store.ts';
import { ConfigControl } from './config-control.ts';
import { WorkerPipeline } from './config-pipeline.ts';
import { type DashboardNode, dashboardConfig, dashboardStats } from './dashboard-view.ts';
import { discoveredTargetRows } from './discovery-view.ts';
import { FileWatch } from './file-watch.ts';
import { rebuiltSummary } from './generation.ts';
import { checkServiceHosts } from './host-check.ts';
import { type ListenerChange, ListenerSet } from './listener-set.ts';
import {
  BindError,
  DISCOVERY_START_WAIT_MS,
  type NodeOptions,
  type PreparedChange,
  type ProxyHost,
  type ReloadResult,
  withZone,
} from './node-options.ts';
import { NodeRedis } from './node-redis.ts';
import { processStatus } from './node-status.ts';
import { Runtime } from './runtime.ts';
import { setTargetState, upstreamHealth } from './upstream-health-view.ts';

export {
  BindError,
  DISCOVERY_START_WAIT_MS,
  type NodeOptions,
  type PreparedChange,
  type ProxyHost,
  type ReloadResult,
} from './node-options.ts';

export class FulcrumNode {
  readonly runtime: Runtime;
  readonly logs: Logs;
  /** The configuration control plane the admin API drives (entities, version, store, audit). */
  readonly control: ConfigControl;
  private readonly options: NodeOptions;
  private readonly listeners: ListenerSet;
  private admin: AdminServer | null = null;
  /** Where the proxy listeners run when not here (a primary's workers), else null. */
  proxyHost: ProxyHost | null = null;
  private watcher: FileWatch | null = null;
  private readonly startedAtMs: number;
  /** Kong's `node_id` (`GET /`): one per process. */
  private readonly nodeId = randomUUID();
  private stopping: Promise<void> | null = null;
  private readonly scheduler: Scheduler;
  /** Membership and shared health probing in cluster mode, else null. */
  readonly cluster: ClusterSharing | null;
  /** Rate-limit counters, proxy-cache stores and source-ip tables kept in Redis (node-redis.ts). */
  private readonly redis: NodeRedis;
  /** Every listener bound (start-up done). */
  private bound = false;
  /** The `tracing` setting in effect, as JSON ('' when off). */
  private tracingKey = '';
  /** The last load's lookups of service hosts (host-check.ts); settles when they have answered. */
  hostCheck: Promise<void> = Promise.resolve();
  /** Discovery (src/discovery/): the base configuration in, the configuration to serve out. */
  readonly discovery: Discovery;
  /** Whether this node runs discovery (not in a worker: NodeOptions.discovery). */
  private readonly discovers: boolean;
  /** Configuration changes put in service one after the other (a base change, a discovery change). */
  private changes: Promise<unknown> = Promise.resolve();
  private discoveryQueued = false;
  /** Discovery changes put in service (tests wait on it). */
  discoveryApplied = 0;

  private constructor(
    snapshot: Snapshot,
    options: NodeOptions,
    config: { store: ConfigStore; state: State; version: number },
    cluster: ClusterSharing | null,
  ) {
    this.options = options;
    this.cluster = cluster;
    const clock = options.clock ?? systemClock;
    const logs = createLogs(
      options.logLevel ?? snapshot.node.logging.level,
      options.accessLog ?? snapshot.node.logging.accessLog,
      clock,
      options.logFormat ?? snapshot.node.logging.format,
    );
    this.logs = options.logBindings ? { ...logs, app: logs.app.child(options.logBindings) } : logs;
    const store = config.store;
    this.redis = new NodeRedis(options, store, cluster, { clock, log: this.logs.app });
    this.runtime = new Runtime(snapshot, {
      clock,
      rng: options.rng ?? systemRng,
      logs: this.logs,
      ...(options.generation === undefined ? {} : { firstId: options.generation }),
      ...(options.healthShare !== undefined
        ? { healthShare: options.healthShare }
        : cluster !== null
          ? { healthShare: cluster.health }
          : {}),
      counters: this.redis.shared,
      ...(options.breakers === undefined ? {} : { breakers: options.breakers }),
      ...(this.redis.affinity === null ? {} : { affinityShare: this.redis.affinity }),
    });
    this.listeners = new ListenerSet(this.runtime);
    this.redis.register(this.runtime.metrics.registry);
    cluster?.health.register(this.runtime.metrics.registry);
    if (cluster !== null)
      cluster.health.attach({
        apply: (e) => this.runtime.health.receive(e),
        verdict: (upstream, target) => this.runtime.health.verdict(upstream, target),
      });
    this.discovers = options.discovery !== false;
    this.discovery = new Discovery({
      clock,
      ioClock: this.runtime.ioClock,
      rng: this.runtime.rng,
      log: this.logs.app,
      onChange: () => this.discoveryChanged(),
      clusterRedis:
        store instanceof ClusterStore
          ? { url: store.spec.redis, prefix: store.spec.prefix, timeoutMs: store.spec.timeoutMs }
          : null,
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
      const cluster =
        options.configFile === undefined
          ? null
          : await openClusterStore({
              configFile: options.configFile,
              clock,
              ...(options.cluster === undefined ? {} : { url: options.cluster }),
              ...(options.logLevel === undefined ? {} : { logLevel: options.logLevel }),
              ...(options.logFormat === undefined ? {} : { logFormat: options.logFormat }),
            });
      const store = cluster ?? new FileStore(options.configFile ?? 'fulcrum.yaml');
      config = { store, ...ConfigControl.open(store, clock) };
    }
    const snapshot = withZone(config.snapshot, options.zone);
    const cluster =
      config.store instanceof ClusterStore ? await openClusterSharing(config.store, clock) : null;
    const node = new FulcrumNode(snapshot, options, config, cluster);
    // The verdicts in force in the cluster, before the first request (and before workers fork).
    await cluster?.health.verdictsRead();
    node.proxyHost = options.proxyHost?.(snapshot, node) ?? null;
    if (node.proxyHost !== null) node.redis.notServing();
    try {
      await node.applyTracing(snapshot.node.tracing);
      if (node.discovers && node.discovery.setBase(snapshot) !== snapshot) {
        await node.discovery.ready(DISCOVERY_START_WAIT_MS);
        await node.enqueue(() => node.putDiscovered());
      }
      // In the queue: a discovery change while the workers start waits for them to be up.
      await node.enqueue(() => node.bind());
    } catch (err) {
      await node.stop();
      throw err;
    }
    for (const p of [...snapshot.problems, ...snapshot.warnings])
      node.logs.app.warn({ path: p.path }, p.message);
    node.hostCheck = checkServiceHosts(snapshot, node.logs.app, clock);
    const store = config.store;
    if (store instanceof ClusterStore) {
      store.setLog(node.logs.app.child({ node_id: store.spec.nodeId }));
      if (store.startedFrom !== 'cache') store.save(config.version, config.state);
      store.follow(
        () => node.control.version,
        (version, state) => node.control.adopt(version, state),
      );
    } else if (options.watch === true && options.configFile !== undefined && options.stateFile === undefined)
      node.watcher = new FileWatch(options.configFile, () => {
        node.logs.app.info({ file: options.configFile }, 'configuration file changed: reloading');
        void node.reload();
      });
    node.logs.app.info(
      {
        version: VERSION,
        config: snapshot.source,
        hash: snapshot.hash,
        generation: node.runtime.current.id,
        proxy: node.proxyAddresses().map((a) => `${a.address}:${a.port}`),
        admin: node.adminAddress(),
        ...(node.proxyHost === null ? {} : { workers: (await node.proxyHost.status()).length }),
      },
      options.startedMessage ?? 'fulcrum started',
    );
    return node;
  }

  /** Bind the listeners of the configuration in service (with what discovery found at start). */
  private async bind(): Promise<void> {
    const snapshot = this.runtime.current.snapshot;
    if (this.proxyHost !== null) await this.proxyHost.start(snapshot, this.runtime.current.id);
    else await this.listeners.bindAll(snapshot.node);
    if (snapshot.node.admin.enabled && this.options.admin !== false) {
      this.admin = new AdminServer(snapshot.node.admin, {
        status: () => this.fullStatus(),
        metrics: () => this.metricsText(),
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
        this.listeners.all.map((l) => {
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
    if (this.proxyHost !== null) return this.proxyHost.addresses();
    return this.listeners.addresses();
  }

  /** `/metrics`: this process's, then its workers' (each line labelled with its worker). */
  private async metricsText(): Promise<string> {
    const own = await this.runtime.metrics.render();
    const host = this.proxyHost;
    return host === null ? own : host.metrics(own);
  }

  /** Reopen log files (SIGUSR1), the workers' too. */
  reopenLogs(): void {
    this.logs.reopen();
    this.proxyHost?.reopenLogs();
  }

  adminAddress(): AddressInfo | null {
    return this.admin?.address() ?? null;
  }

  /** `GET /status`: this process's status, with each worker's when the node has workers. */
  async fullStatus(): Promise<unknown> {
    const own = this.status() as Record<string, unknown>;
    const host = this.proxyHost;
    if (host === null) return own;
    const workers = (await host.status()) as { connections?: number; requests_in_flight?: number }[];
    own.connections = workers.reduce((n, w) => n + (w.connections ?? 0), 0);
    own.requests_in_flight = workers.reduce((n, w) => n + (w.requests_in_flight ?? 0), 0);
    own.workers = workers;
    return own;
  }

  /** What `/status` shows of this process (a worker's own line in its primary's `/status`). */
  status(): unknown {
    const snap = this.runtime.current.snapshot;
    const discovery = this.discovers && snap === this.discovery.merged() && snap.hash.includes('+');
    return processStatus({
      runtime: this.runtime,
      startedAtMs: this.startedAtMs,
      cluster:
        this.control.store instanceof ClusterStore
          ? clusterStatus(this.control.store, this.control.version, this.cluster)
          : null,
      discovery: discovery ? this.discovery.status() : null,
    });
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

  /**
   * What discovery found, put in service. With workers (once they are started), through them
   * first, all or none, as any change (`host.apply`); a change they refuse is logged and the next
   * discovery change tries again.
   */
  private async putDiscovered(): Promise<void> {
    const snapshot = this.discovery.merged();
    if (this.stopping !== null || snapshot === this.runtime.current.snapshot) return;
    const host = this.bound ? this.proxyHost : null;
    let generation: number;
    if (host !== null) {
      const r = await this.throughHost(host, snapshot);
      if (!r.ok) {
        this.logs.app.error({ issues: r.issues }, 'discovered targets refused by a worker');
        return;
      }
      generation = r.generation;
    } else
      generation = (
        this.options.configWorker === false
          ? this.runtime.apply(snapshot)
          : await this.runtime.applyPaced(snapshot, this.scheduler)
      ).id;
    this.discoveryApplied++;
    this.logs.app.info({ generation, hash: snapshot.hash }, 'discovered targets changed');
  }

  /**
   * Put a validated snapshot in service (listeners added or removed as the snapshot says), with
   * what discovery finds for it, after the changes queued before it.
   */
  applySnapshot(given: Snapshot): Promise<ReloadResult> {
    return this.enqueue(() => this.applyBase(given));
  }

  private async applyBase(given: Snapshot): Promise<ReloadResult> {
    const zoned = withZone(given, this.options.zone);
    const snapshot = this.discovers ? this.discovery.setBase(zoned) : zoned;
    const host = this.proxyHost;
    if (host !== null) {
      const before = this.runtime.current.snapshot.hash;
      const r = await this.throughHost(host, snapshot);
      return r.ok ? this.applied(snapshot, r.generation, before) : r;
    }
    const p = await this.prepare(snapshot, undefined, this.options.configWorker !== false);
    return 'issues' in p ? p : this.commit(p);
  }

  /**
   * A change on a node with workers: the workers first, all or none (src/workers/pool.ts); then
   * this process's runtime, which binds no proxy listener but runs the admin API, the health
   * checks and discovery.
   */
  private async throughHost(
    host: ProxyHost,
    snapshot: Snapshot,
  ): Promise<{ ok: true; generation: number } | { ok: false; issues: readonly ConfigIssue[] }> {
    const id = this.runtime.current.id + 1;
    const r = await host.apply(snapshot, id);
    if (!r.ok) {
      this.runtime.metrics.reloads.labels({ result: 'rejected' }).inc();
      return r;
    }
    const gen =
      this.options.configWorker === false
        ? this.runtime.apply(snapshot, id)
        : await this.runtime.applyPaced(snapshot, this.scheduler, id);
    return { ok: true, generation: gen.id };
  }

  /**
   * The first half of a change: listeners added by the snapshot bound (and removed ones stopped),
   * the generation built (as `id` when given) but not in service. `commit` or `abort` it. The
   * snapshot is put in service as given (a worker's comes from its primary, discovery done).
   */
  async prepare(
    given: Snapshot,
    id?: number,
    paced = true,
  ): Promise<PreparedChange | { ok: false; issues: readonly ConfigIssue[] }> {
    const snapshot = withZone(given, this.options.zone);
    const before = this.runtime.current.snapshot.hash;
    let change: ListenerChange;
    try {
      change = await this.listeners.change(snapshot.node);
    } catch (err) {
      this.runtime.metrics.reloads.labels({ result: 'rejected' }).inc();
      const message = `cannot bind a new listener: ${(err as Error).message}`;
      this.logs.app.error(message);
      return {
        ok: false,
        issues: [{ file: snapshot.source, line: 0, column: 0, path: 'listeners', message }],
      };
    }
    const built = paced
      ? await this.runtime.prepare(snapshot, this.scheduler, id)
      : this.runtime.prepareNow(snapshot, id);
    // The tracer for the new setting is made here, where waiting is allowed (its first use imports
    // OpenTelemetry); a change abandoned after this keeps the new tracer until the next change.
    await this.applyTracing(snapshot.node.tracing);
    return { snapshot, before, ...change, built };
  }

  /** Put a prepared change in service. */
  commit(p: PreparedChange): ReloadResult {
    this.listeners.commit(p);
    const gen = this.runtime.install(p.built);
    return this.applied(p.snapshot, gen.id, p.before);
  }

  /** Drop a prepared change: its new listeners close, the generation in service stays. */
  abort(p: PreparedChange): void {
    this.listeners.abort(p);
    this.runtime.abandon(p.built);
    this.logs.app.warn({ hash: p.snapshot.hash }, 'configuration change abandoned');
  }

  private applied(snapshot: Snapshot, generation: number, before: string): ReloadResult {
    for (const p of [...snapshot.problems, ...snapshot.warnings])
      this.logs.app.warn({ path: p.path }, p.message);
    if (before !== snapshot.hash)
      this.hostCheck = checkServiceHosts(snapshot, this.logs.app, this.runtime.clock);
    const gen = this.runtime.current;
    this.logs.app.info(
      {
        generation,
        hash: snapshot.hash,
        changed: before !== snapshot.hash,
        // What the build made anew, per kind, of how many (`upstream: "1/40"`).
        ...(gen.id === generation ? { rebuilt: rebuiltSummary(gen.objects) } : {}),
      },
      'configuration applied',
    );
    return { ok: true, generation, hash: snapshot.hash, changed: before !== snapshot.hash };
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
    await this.cluster?.close();
    if (this.control.store instanceof ClusterStore) this.control.store.close();
    this.redis.close();
    const drainMs = this.runtime.current.snapshot.node.timeouts.drainMs;
    await this.proxyHost?.stop(drainMs);
    const outcome = await this.listeners.drain(drainMs, this.runtime.ioClock, () =>
      this.logs.app.warn(
        { inflight: this.runtime.inflight() },
        'drain timeout: closing remaining connections',
      ),
    );
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
