/**
 * The registry on etcd v3 (docs/discovery.md#etcd): registrations are keys
 * `<prefix>upstreams/<upstream>/targets/<address>:<port>` with a JSON value `{weight, priority,
 * zone, tags}`, each attached to a lease that the registering party keeps alive; when it stops,
 * etcd deletes the key at the lease's expiry and the watch tells us. The layout is Traefik's KV
 * layout (a prefix per service, its servers below) with the address as the last key part instead
 * of Traefik's server index, so that two instances registering at once cannot take the same key.
 *
 * Reading: a range over the prefix, then a watch from the revision after it. When the watch stream
 * breaks (etcd restarted, the connection dropped) or etcd cancels it (the revision was compacted
 * away), the watch is dropped and the whole dance starts again: re-list, then watch from the new
 * revision, retrying with a growing delay while etcd is away. The targets last read keep serving
 * meanwhile (registrations cannot be renewed while etcd is away, so they are not stale yet).
 *
 * Client: the `etcd3` package (Microsoft's, maintained, gRPC through @grpc/grpc-js), loaded on first
 * use so that a node without an etcd registry never loads gRPC.
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import type { EtcdRegistrySpec } from '../config/registry.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import { type RegisteredTarget, RegistrationSet } from './registry.ts';

/** Delays between attempts to list and watch again while etcd is away: 200 ms growing to 2 s. */
const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 2000;

export interface RegistryDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly onChange: () => void;
}

type EtcdModule = typeof import('etcd3');
let loaded: Promise<EtcdModule> | null = null;

export class EtcdRegistry {
  readonly spec: EtcdRegistrySpec;
  private readonly deps: RegistryDeps;
  private readonly set: RegistrationSet;
  private client: Etcd3 | null = null;
  private watcher: Watcher | null = null;
  private retry: TimerHandle | null = null;
  private retryMs = RETRY_MIN_MS;
  private syncing = false;
  private closed = false;
  /** The revision the watch started after; null while not watching. */
  private revision: string | null = null;
  private error: string | null = null;
  private readonly first: Promise<void>;
  private firstDone: () => void = () => {};
  /** Lists and watches started (tests and status: the watch resumed). */
  syncs = 0;

  constructor(spec: EtcdRegistrySpec, deps: RegistryDeps) {
    this.spec = spec;
    this.deps = deps;
    this.set = new RegistrationSet(deps.onChange, (key, why) =>
      deps.log.error({ key }, `registry (etcd): ${key} refused: ${why}`),
    );
    this.first = new Promise((r) => {
      this.firstDone = r;
    });
    void this.sync();
  }

  targets(upstream: string): readonly RegisteredTarget[] {
    return this.set.targets(upstream);
  }

  /** Settles after the first list (or the first failure to list). */
  ready(): Promise<void> {
    return this.first;
  }

  status(): unknown {
    return {
      endpoints: this.spec.endpoints,
      prefix: this.spec.prefix,
      watching: this.revision !== null,
      revision: this.revision,
      error: this.error,
      registrations: this.set.size(),
      refused: this.set.errors(),
    };
  }

  close(): void {
    this.closed = true;
    if (this.retry !== null) this.deps.clock.clearTimer(this.retry);
    this.retry = null;
    const w = this.watcher;
    const c = this.client;
    this.watcher = null;
    this.client = null;
    // A client closed with a watcher attached retries forever: cancel first.
    void (w === null ? Promise.resolve() : w.cancel().catch(() => {})).then(() => c?.close());
  }

  /** Fire the retry timer (`onRetry`). */
  retryNow(): void {
    this.retry = null;
    void this.sync();
  }

  /** List the prefix, then watch from the revision after the list. */
  private async sync(): Promise<void> {
    if (this.closed || this.syncing) return;
    this.syncing = true;
    this.syncs++;
    this.dropWatch();
    const prefix = this.spec.prefix;
    try {
      loaded ??= import('etcd3');
      const { Etcd3 } = await loaded;
      this.client ??= new Etcd3({ hosts: [...this.spec.endpoints], dialTimeout: this.spec.dialTimeoutMs });
      const client = this.client;
      const res = await client.getAll().prefix(prefix).exec();
      if (this.closed) return;
      const seen = new Set<string>();
      const now = this.deps.clock.nowMs();
      for (const kv of res.kvs) {
        const key = kv.key.toString();
        seen.add(key);
        this.put(key, kv.value.toString(), now);
      }
      this.set.retain(seen);
      this.set.commit();
      const from = (BigInt(res.header.revision) + 1n).toString();
      const w = await client.watch().prefix(prefix).startRevision(from).create();
      if (this.closed) {
        void w.cancel().catch(() => {});
        return;
      }
      this.watcher = w;
      w.on('put', (kv: IKeyValue) => this.event(w, kv, true));
      w.on('delete', (kv: IKeyValue) => this.event(w, kv, false));
      w.on('disconnected', () => this.broken(w, 'the watch stream broke'));
      w.on('error', (err: Error) => this.broken(w, err.message || 'the watch was cancelled'));
      if (this.error !== null)
        this.deps.log.info({ revision: res.header.revision }, 'registry (etcd): listed and watching again');
      this.error = null;
      this.revision = res.header.revision;
      this.retryMs = RETRY_MIN_MS;
    } catch (err) {
      this.failed((err as Error).message);
    } finally {
      this.syncing = false;
      this.firstDone();
    }
  }

  private put(key: string, value: string, now: number): void {
    const rest = key.slice(this.spec.prefix.length);
    const m = /^upstreams\/([^/]+)\/targets\/([^/]+)$/.exec(rest);
    if (m === null) return; // another layout's key under the same prefix: not ours
    this.set.put(m[1]!, m[2]!, value, key, now);
  }

  private event(w: Watcher, kv: IKeyValue, put: boolean): void {
    if (w !== this.watcher) return;
    const key = kv.key.toString();
    if (put) this.put(key, kv.value.toString(), this.deps.clock.nowMs());
    else this.set.delete(key);
    this.set.commit();
  }

  /** The watch stream broke or was cancelled (compaction): list and watch again. */
  private broken(w: Watcher, why: string): void {
    if (w !== this.watcher || this.closed) return;
    this.failed(why);
  }

  private failed(why: string): void {
    this.dropWatch();
    if (this.error === null)
      this.deps.log.warn(
        { endpoints: this.spec.endpoints },
        `registry (etcd): ${why}; registered targets keep serving while it lists and watches again`,
      );
    this.error = why;
    if (this.closed || this.retry !== null) return;
    this.retry = this.deps.clock.setTimer(this.retryMs, onRetry, this);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  private dropWatch(): void {
    const w = this.watcher;
    this.watcher = null;
    this.revision = null;
    if (w !== null) void w.cancel().catch(() => {});
  }
}

function onRetry(r: EtcdRegistry): void {
  r.retryNow();
}
