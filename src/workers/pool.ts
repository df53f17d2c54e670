/**
 * The primary of a node with worker processes (`workers: N`): it forks the workers, hands them
 * the configuration, and applies each change to all of them or to none; it runs what must run
 * once per node (the admin API, health probing, file watching: the FulcrumNode it belongs to) and
 * passes the results on; it takes every rate-limit decision of `policy: local` (counters.ts) and
 * keeps the node's circuit-breaker counts (breakers.ts); it
 * replaces a worker that dies and drains them all on stop. docs/cluster.md describes the whole.
 *
 * Everything that touches the set of workers (starting one, a change) runs in one queue, so a
 * worker that starts while a change is under way gets the configuration that change leaves.
 */
import cluster, { type Worker } from 'node:cluster';
import { createSocket } from 'node:dgram';
import { type AddressInfo, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { ConfigIssue } from '../config/load.ts';
import type { CircuitBreakerSpec } from '../config/resilience.ts';
import type { ListenerSpec, Snapshot } from '../config/types.ts';
import { splitBulk } from '../core/bulk.ts';
import type { Clock } from '../core/clock.ts';
import type { HealthEvent } from '../health/share.ts';
import { defaultSecret, STICKY_KEY_ENV } from '../proxy/sticky.ts';
import type { ProxyHost, ReloadResult } from '../runtime/node.ts';
import { PrimaryBreakers } from './breakers.ts';
import { type CounterAsk, PrimaryCounters } from './counters.ts';
import type { ListenMode } from './listen-mode.ts';
import { mergeMetrics } from './metrics-merge.ts';
import { type FromWorker, type ToWorker, WORKER_ENV, type WorkerSettings } from './protocol.ts';

/** How long a worker may take to start, or to build a change, before it counts as failed. */
export const WORKER_START_TIMEOUT_MS = 30_000;
export const WORKER_PREPARE_TIMEOUT_MS = 60_000;
/** How long a worker may take to answer `/status` or `/metrics`. */
export const WORKER_ASK_TIMEOUT_MS = 2_000;
/** A worker that dies sooner than this after starting is restarted after a growing delay. */
export const WORKER_STABLE_MS = 5_000;
export const WORKER_RESTART_MAX_DELAY_MS = 30_000;

const ENTRY = fileURLToPath(
  new URL(import.meta.url.endsWith('.ts') ? './worker-main.ts' : './worker-main.js', import.meta.url),
);

interface Slot {
  readonly index: number;
  worker: Worker | null;
  state: 'starting' | 'serving' | 'gone';
  generation: number;
  startedAtMs: number;
  restarts: number;
  /** Consecutive quick deaths (for the restart delay). */
  quickDeaths: number;
  addresses: readonly AddressInfo[];
  /** Replies awaited from this worker, by a key (`prepared:7`, `answer:3`). */
  readonly waiting: Map<string, (m: FromWorker | null) => void>;
}

export interface PoolDeps {
  readonly count: number;
  readonly mode: ListenMode;
  readonly log: Logger;
  readonly clock: Clock;
  /** Settings every worker gets (the command line's overrides), without its index and mode. */
  readonly settings: Omit<WorkerSettings, 'index' | 'mode'>;
  /** The node's current health verdicts, for a worker that starts late. */
  verdicts(): HealthEvent[];
  /** A worker published a health event (a passive ejection): the node applies it. */
  healthFromWorker(e: HealthEvent): void;
  /** The cluster's live nodes now (1 for a node alone). */
  nodes?(): number;
  /** An upstream's circuit breaker in the node's configuration in service (undefined: none such). */
  limits?(upstream: string): CircuitBreakerSpec | undefined;
}

export class WorkerPool implements ProxyHost {
  private readonly deps: PoolDeps;
  private readonly slots: Slot[] = [];
  private current: { snapshot: Snapshot; generation: number } | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private stopping = false;
  private nextAsk = 1;
  /** Ports picked for listeners that ask for port 0, by listener (stable across reloads). */
  private readonly ports = new Map<string, number>();
  readonly counters: PrimaryCounters;
  readonly breakers: PrimaryBreakers;

  constructor(deps: PoolDeps) {
    this.deps = deps;
    this.counters = new PrimaryCounters(() => deps.clock.nowMs());
    this.breakers = new PrimaryBreakers({
      nowMs: () => deps.clock.monoMs(),
      limits: (upstream) => deps.limits?.(upstream),
      send: (worker, m) => {
        const s = this.slots[worker - 1];
        if (s !== undefined) this.send(s, m);
      },
    });
    for (let i = 0; i < deps.count; i++)
      this.slots.push({
        index: i + 1,
        worker: null,
        state: 'gone',
        generation: 0,
        startedAtMs: 0,
        restarts: 0,
        quickDeaths: 0,
        addresses: [],
        waiting: new Map(),
      });
  }

  async start(snapshot: Snapshot, generation: number): Promise<void> {
    cluster.setupPrimary({ exec: ENTRY, args: [], serialization: 'advanced', silent: false });
    this.current = { snapshot: await this.withPorts(snapshot), generation };
    const started = await Promise.all(this.slots.map((s) => this.fork(s)));
    const failed = started.find((r) => r !== null);
    if (failed !== undefined) throw new Error(`worker could not start: ${failed}`);
  }

  addresses(): AddressInfo[] {
    return [...(this.slots.find((s) => s.state === 'serving')?.addresses ?? [])];
  }

  /** A change, to every serving worker: all prepare it, then all commit it, or all abort it. */
  apply(given: Snapshot, generation: number): Promise<ReloadResult> {
    return this.enqueue(async () => {
      const snapshot = await this.withPorts(given);
      const live = this.slots.filter((s) => s.state === 'serving' && s.worker !== null);
      const answers = await Promise.all(
        live.map((s) => {
          const reply = this.await(s, `prepared:${generation}`, WORKER_PREPARE_TIMEOUT_MS);
          this.sendSnapshot(s, { t: 'prepare', generation }, snapshot);
          return reply;
        }),
      );
      const issues: ConfigIssue[] = [];
      answers.forEach((m, i) => {
        if (m?.t === 'prepared') return;
        const why =
          m === null
            ? 'did not answer (it exited or timed out)'
            : m.t === 'refused'
              ? m.issues.map((x) => x.message).join('; ')
              : 'answered out of turn';
        issues.push({
          file: given.source,
          line: 0,
          column: 0,
          path: '',
          message: `worker ${live[i]!.index}: ${why}`,
        });
      });
      if (issues.length > 0) {
        for (const s of live) this.send(s, { t: 'abort', generation });
        this.deps.log.error(
          { generation, issues: issues.map((i) => i.message) },
          'change refused by the workers',
        );
        return { ok: false, issues };
      }
      const done = live.map((s) => this.await(s, `committed:${generation}`, WORKER_PREPARE_TIMEOUT_MS));
      for (const s of live) this.send(s, { t: 'commit', generation });
      await Promise.all(done);
      for (const s of live) s.generation = generation;
      this.current = { snapshot, generation };
      return { ok: true, generation, hash: given.hash, changed: true };
    });
  }

  /** Tell every worker how many nodes the cluster has now (their share of `policy: redis` limits). */
  broadcastNodes(count: number): void {
    for (const s of this.slots) if (s.state === 'serving') this.send(s, { t: 'nodes', count });
  }

  /** Every worker signs sticky cookies with the node's new default key (hex) from now on. */
  broadcastStickyKey(key: string): void {
    for (const s of this.slots) if (s.state === 'serving') this.send(s, { t: 'sticky-key', key });
  }

  /** Pass a health event to every worker but the one it came from. */
  broadcastHealth(e: HealthEvent, except: Slot | null = null): void {
    for (const s of this.slots) if (s !== except && s.state === 'serving') this.send(s, { t: 'health', e });
  }

  async status(): Promise<unknown[]> {
    return Promise.all(
      this.slots.map(async (s) => {
        const own = {
          worker: s.index,
          pid: s.worker?.process.pid ?? null,
          state: s.state,
          generation: s.generation,
          started_at: s.startedAtMs > 0 ? new Date(s.startedAtMs).toISOString() : null,
          restarts: s.restarts,
        };
        if (s.state !== 'serving') return own;
        const v = (await this.ask(s, 'status')) as Record<string, unknown> | null;
        if (v === null) return { ...own, error: 'no answer' };
        return {
          ...own,
          connections: v.connections,
          requests_in_flight: v.requests_in_flight,
          draining: v.draining,
        };
      }),
    );
  }

  async metrics(own: string): Promise<string> {
    const texts = await Promise.all(
      this.slots.map(async (s) => ({
        worker: s.index,
        text: s.state === 'serving' ? ((await this.ask(s, 'metrics')) as string | null) : null,
      })),
    );
    return mergeMetrics(
      texts.filter((t): t is { worker: number; text: string } => typeof t.text === 'string'),
      own,
    );
  }

  reopenLogs(): void {
    for (const s of this.slots) if (s.worker !== null) this.send(s, { t: 'reopen' });
  }

  /** Every worker drains and exits (each within its drain time); a straggler is killed. */
  async stop(drainMs: number): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map((s) => {
        const w = s.worker;
        if (w === null || w.isDead()) return Promise.resolve();
        const exited = new Promise<void>((r) => w.once('exit', () => r()));
        this.send(s, { t: 'stop' });
        const kill = this.deps.clock.setTimer(drainMs + 5_000, () => w.process.kill('SIGKILL'), null);
        return exited.then(() => this.deps.clock.clearTimer(kill));
      }),
    );
  }

  /** Start the slot's worker with the configuration in force; null once serving, else why not. */
  private fork(s: Slot): Promise<string | null> {
    // The primary's default sticky key goes to every worker: a cookie is good on all of them.
    const w = cluster.fork({
      [WORKER_ENV]: String(s.index),
      [STICKY_KEY_ENV]: defaultSecret().toString('hex'),
    });
    s.worker = w;
    s.state = 'starting';
    s.startedAtMs = this.deps.clock.nowMs();
    w.on('message', (m: FromWorker) => this.onMessage(s, w, m));
    w.on('exit', (code, signal) => this.onExit(s, w, code, signal));
    const ready = this.await(s, 'ready', WORKER_START_TIMEOUT_MS);
    const hello = this.await(s, 'hello', WORKER_START_TIMEOUT_MS);
    return hello.then((h) => (h === null ? 'it exited or did not load in time' : this.started(s, w, ready)));
  }

  /** The worker listens: send it the configuration and wait for it to serve. */
  private started(s: Slot, w: Worker, ready: Promise<FromWorker | null>): Promise<string | null> {
    const cur = this.current!;
    this.sendSnapshot(
      s,
      {
        t: 'start',
        settings: {
          ...this.deps.settings,
          index: s.index,
          mode: this.deps.mode,
          nodes: this.deps.nodes?.() ?? 1,
        },
        generation: cur.generation,
        health: this.deps.verdicts(),
      },
      cur.snapshot,
    );
    return ready.then((m) => {
      if (m?.t === 'ready') {
        s.state = 'serving';
        s.generation = m.generation;
        s.addresses = m.addresses;
        // The node may have adopted the cluster's sticky key since this worker forked with the old
        // one in its environment (broadcasts reach serving workers only); the same key is a no-op.
        this.send(s, { t: 'sticky-key', key: defaultSecret().toString('hex') });
        this.deps.log.info(
          { worker: s.index, pid: w.process.pid, generation: m.generation },
          'worker serving',
        );
        return null;
      }
      const why = m?.t === 'failed' ? m.message : 'it exited or did not answer in time';
      if (!w.isDead()) w.process.kill('SIGKILL');
      return why;
    });
  }

  private onMessage(s: Slot, w: Worker, m: FromWorker): void {
    if (s.worker !== w) return;
    switch (m.t) {
      case 'rl':
      case 'rl-def': {
        const a = this.counters.handle(m as CounterAsk);
        if (a !== null) this.send(s, a);
        return;
      }
      case 'cb':
        return this.breakers.handle(s.index, m);
      case 'health':
        this.deps.healthFromWorker(m.e);
        this.broadcastHealth(m.e, s);
        return;
      case 'hello':
        return this.settle(s, 'hello', m);
      case 'ready':
      case 'failed':
        return this.settle(s, 'ready', m);
      case 'prepared':
      case 'refused':
        return this.settle(s, `prepared:${m.generation}`, m);
      case 'committed':
        return this.settle(s, `committed:${m.generation}`, m);
      case 'answer':
        return this.settle(s, `answer:${m.id}`, m);
    }
  }

  private onExit(s: Slot, w: Worker, code: number | null, signal: string | null): void {
    if (s.worker !== w) return;
    const wasServing = s.state === 'serving';
    s.worker = null;
    s.state = 'gone';
    // What the dead worker held of the node's circuit breakers comes back.
    this.breakers.gone(s.index);
    for (const done of [...s.waiting.values()]) done(null);
    s.waiting.clear();
    if (this.stopping) return;
    const lived = this.deps.clock.nowMs() - s.startedAtMs;
    s.quickDeaths = lived < WORKER_STABLE_MS ? s.quickDeaths + 1 : 0;
    const delay = s.quickDeaths === 0 ? 0 : Math.min(WORKER_RESTART_MAX_DELAY_MS, 100 * 2 ** s.quickDeaths);
    this.deps.log.error(
      { worker: s.index, pid: w.process.pid, code, signal, serving: wasServing, restart_in_ms: delay },
      'worker exited: starting a replacement',
    );
    this.deps.clock.setTimer(
      delay,
      () => {
        if (this.stopping) return;
        s.restarts++;
        void this.enqueue(() => this.fork(s)).then((why) => {
          if (why !== null) this.deps.log.error({ worker: s.index, why }, 'replacement worker did not start');
        });
      },
      null,
    );
  }

  private ask(s: Slot, what: 'status' | 'metrics'): Promise<unknown> {
    const id = this.nextAsk++;
    const reply = this.await(s, `answer:${id}`, WORKER_ASK_TIMEOUT_MS);
    this.send(s, { t: 'ask', id, what });
    return reply.then((m) => (m?.t === 'answer' ? m.value : null));
  }

  private await(s: Slot, key: string, timeoutMs: number): Promise<FromWorker | null> {
    return new Promise((resolve) => {
      const timer = this.deps.clock.setTimer(timeoutMs, () => this.settle(s, key, null), null);
      s.waiting.set(key, (m) => {
        this.deps.clock.clearTimer(timer);
        resolve(m);
      });
    });
  }

  private settle(s: Slot, key: string, m: FromWorker | null): void {
    const done = s.waiting.get(key);
    if (done === undefined) return;
    s.waiting.delete(key);
    done(m);
  }

  private send(s: Slot, m: ToWorker): void {
    const w = s.worker;
    if (w === null || !w.isConnected()) return;
    try {
      w.send(m);
    } catch {
      // The channel closed under us: the exit handler deals with the worker.
    }
  }

  /** A snapshot in slices after its head message (protocol.ts). */
  private sendSnapshot(
    s: Slot,
    first:
      | Omit<Extract<ToWorker, { t: 'start' }>, 'head'>
      | Omit<Extract<ToWorker, { t: 'prepare' }>, 'head'>,
    snapshot: Snapshot,
  ): void {
    const { head, parts } = splitBulk(snapshot);
    this.send(s, { ...first, head } as ToWorker);
    for (const part of parts) this.send(s, { t: 'part', part });
    this.send(s, { t: 'end' });
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The snapshot with every port-0 listener given a real free port, the same for every worker and
   * kept while the listener is: each worker binds its own socket (reuseport), or the cluster module
   * shares one per address and port, where two port-0 listeners would get the same one.
   */
  private async withPorts(snapshot: Snapshot): Promise<Snapshot> {
    const listeners = snapshot.node.listeners;
    if (!listeners.some((l) => l.port === 0)) return snapshot;
    const out: ListenerSpec[] = [];
    const keep = new Set<string>();
    for (const l of listeners) {
      if (l.port !== 0) {
        out.push(l);
        continue;
      }
      const key = `${l.name}|${l.protocol}|${l.address}`;
      keep.add(key);
      let port = this.ports.get(key);
      if (port === undefined) {
        port = await freePort(l.address, l.protocol === 'udp');
        this.ports.set(key, port);
      }
      out.push(Object.freeze({ ...l, port }));
    }
    for (const k of this.ports.keys()) if (!keep.has(k)) this.ports.delete(k);
    return Object.freeze({
      ...snapshot,
      node: Object.freeze({ ...snapshot.node, listeners: Object.freeze(out) }),
    });
  }
}

/** A port free on `address` now (bound and released at once). */
function freePort(address: string, udp: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    if (udp) {
      const sock = createSocket(address.includes(':') ? 'udp6' : 'udp4');
      sock.once('error', reject);
      sock.bind(0, address, () => {
        const { port } = sock.address();
        sock.close(() => resolve(port));
      });
      return;
    }
    const server = createServer();
    server.once('error', reject);
    server.listen({ host: address, port: 0, exclusive: true }, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
