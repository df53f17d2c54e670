/**
 * Cluster mode (`cluster:` or `fulcrum start --cluster redis://...`): the configuration's entities
 * live in Redis, shared by every node; each node's own settings (listeners, admin, logging, ...)
 * stay in its local file, so that nodes on one machine or many can bind what they need.
 *
 * In Redis (keys under the cluster's `prefix`):
 * - `<prefix>:config`: a hash {version, state}: the state in force (entities as JSON) and its
 *   version number, 1, 2, 3, ...;
 * - `<prefix>:config:log`: a stream with one entry per version, id `<version>-1`, holding that
 *   version's state (trimmed to about CONFIG_LOG_KEEP entries).
 *
 * A write is a compare-and-set in one Lua script: it succeeds only if the version in Redis is
 * still the one the writer built on (two admins writing on two nodes at once: one wins, the other
 * gets 409), and it sets the hash and appends to the stream together. A Redis that holds no
 * version (it lost its memory) takes the first write of any node, which re-seeds the cluster. Every node follows the
 * stream (XREAD BLOCK from the version it has), so it applies each version once and in order, and
 * after a disconnection it reads what it missed from where it stopped.
 *
 * The last version a node applied is kept in a local cache file (the managed state file format):
 * a node started while Redis is away serves it. While Redis is away, admin writes are refused
 * (503) and the node keeps serving what it has.
 */
import type { Logger } from 'pino';
import { connectRedis, type Redis, ready, whenReady } from '../cluster/redis.ts';
import type { ClusterSpec } from '../config/types.ts';
import { emptyState, KINDS, type State } from './document.ts';
import { ManagedStore } from './managed-store.ts';
import type { ConfigStore, Loaded } from './store.ts';

/** Stream entries kept (a node behind by more catches up from the oldest kept, then the newest). */
export const CONFIG_LOG_KEEP = 1000;
/** How long a start waits for Redis before serving the cached configuration. */
export const CLUSTER_CONNECT_WAIT_MS = 3000;

const PUBLISH = `
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if cur ~= tonumber(ARGV[1]) and cur ~= 0 then return {0, cur} end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'state', ARGV[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], ARGV[2] .. '-1', 'state', ARGV[3])
return {1, tonumber(ARGV[2])}
`;

type Client = Redis & {
  fulcrumPublish(
    config: string,
    log: string,
    before: number,
    version: number,
    state: string,
    keep: number,
  ): Promise<[number, number]>;
};

/** A write the cluster store refused: `status` 409 (someone wrote first) or 503 (Redis away). */
export class ClusterWriteError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** The entities of a state as stored in Redis (node settings are each node's own). */
function shared(state: State): string {
  const out: Record<string, unknown> = {};
  for (const k of KINDS) out[k] = state[k];
  return JSON.stringify(out);
}

export class ClusterStore implements ConfigStore {
  readonly kind = 'cluster' as const;
  readonly writable = true;
  /** The local cache file (what `save` writes). */
  readonly location: string;
  readonly spec: ClusterSpec;
  private readonly client: Client;
  private readonly reader: Redis;
  private readonly cache: ManagedStore;
  private readonly node: Record<string, unknown>;
  private log: Logger;
  private held: { version: number; state: State };
  private following = false;
  private closed = false;
  /** Where the state in force came from at start: Redis, the cache file, or the local file (seed). */
  startedFrom: 'redis' | 'cache' | 'seed' | 'empty' = 'empty';

  private constructor(
    spec: ClusterSpec,
    client: Client,
    reader: Redis,
    cacheFile: string,
    node: Record<string, unknown>,
    log: Logger,
  ) {
    this.spec = spec;
    this.client = client;
    this.reader = reader;
    this.location = cacheFile;
    this.cache = new ManagedStore(cacheFile);
    this.node = node;
    this.log = log;
    this.held = { version: 0, state: { ...emptyState(), node } };
  }

  /**
   * Connect, and take the configuration from Redis; when Redis cannot be reached within
   * CLUSTER_CONNECT_WAIT_MS, from the cache file. When the cluster has none yet, `seed` (the
   * local file's entities) becomes version 1.
   */
  static async open(
    spec: ClusterSpec,
    opts: { cacheFile: string; node: Record<string, unknown>; seed: State | null; log: Logger },
  ): Promise<ClusterStore> {
    const client = (await connectRedis(
      { url: spec.redis },
      { timeoutMs: spec.timeoutMs, name: 'fulcrum-config' },
    )) as Client;
    client.defineCommand('fulcrumPublish', { numberOfKeys: 2, lua: PUBLISH });
    const reader = await connectRedis(
      { url: spec.redis },
      { timeoutMs: spec.timeoutMs, name: 'fulcrum-config-log', blocking: true },
    );
    const store = new ClusterStore(spec, client, reader, opts.cacheFile, opts.node, opts.log);
    if (await whenReady(client, CLUSTER_CONNECT_WAIT_MS)) {
      try {
        let got = await store.fetch();
        if (got === null && opts.seed !== null) {
          try {
            await store.publish(0, 1, opts.seed);
            store.startedFrom = 'seed';
            return store;
          } catch (err) {
            // Another node seeded the cluster first: take its version.
            if (!(err instanceof ClusterWriteError && err.status === 409)) throw err;
            got = await store.fetch();
          }
        }
        if (got !== null) {
          store.held = got;
          store.startedFrom = 'redis';
        }
        return store;
      } catch (err) {
        opts.log.warn({ err: (err as Error).message }, 'cluster: cannot read the configuration from Redis');
      }
    }
    const cached = store.cache.load();
    if (cached.kind === 'state') {
      store.held = { version: cached.version, state: { ...cached.state, node: opts.node } };
      store.startedFrom = 'cache';
      opts.log.warn(
        { redis: spec.redis, cache: opts.cacheFile, version: cached.version },
        'cluster: Redis is away: serving the configuration last received (cache file)',
      );
    } else
      opts.log.warn(
        { redis: spec.redis },
        'cluster: Redis is away and there is no cache file: starting empty',
      );
    return store;
  }

  /** The node's own logger, once it exists (the store opens before the node). */
  setLog(log: Logger): void {
    this.log = log;
  }

  /** The logger in use (the node's, once set). */
  logger(): Logger {
    return this.log;
  }

  get version(): number {
    return this.held.version;
  }

  /** What `/status` shows under `cluster`. */
  status(): Record<string, unknown> {
    return {
      node_id: this.spec.nodeId,
      redis: this.spec.redis.replace(/\/\/[^@/]*@/, '//***@'),
      connected: this.available(),
      started_from: this.startedFrom,
      cache_file: this.location,
    };
  }

  /** Whether admin writes can be published now. */
  available(): boolean {
    return ready(this.client);
  }

  load(): Loaded {
    return { kind: 'state', version: this.held.version, state: this.held.state };
  }

  /** Keep a version applied here in the cache file (a restart without Redis serves it). */
  save(version: number, state: State): void {
    this.cache.save(version, state);
  }

  /**
   * Publish a new version built on `before`: refused with 409 when the cluster moved on meanwhile,
   * 503 when Redis cannot be reached.
   */
  async publish(before: number, version: number, state: State): Promise<void> {
    if (!this.available()) throw new ClusterWriteError(503, this.awayMessage());
    let r: [number, number];
    try {
      r = await this.client.fulcrumPublish(
        `${this.spec.prefix}:config`,
        `${this.spec.prefix}:config:log`,
        before,
        version,
        shared(state),
        CONFIG_LOG_KEEP,
      );
    } catch (err) {
      throw new ClusterWriteError(503, `${this.awayMessage()} (${(err as Error).message})`);
    }
    if (r[0] !== 1)
      throw new ClusterWriteError(
        409,
        `the cluster's configuration changed meanwhile (version ${r[1]}, this node had ${before}): try again`,
      );
    this.held = { version, state: { ...state, node: this.node } };
  }

  private awayMessage(): string {
    return `the cluster store (Redis at ${this.spec.redis}) cannot be reached: admin writes are refused until it is back; this node serves configuration version ${this.held.version}`;
  }

  /** The version in Redis now, or null when the cluster has none. */
  private async fetch(): Promise<{ version: number; state: State } | null> {
    const [version, text] = await this.client.hmget(`${this.spec.prefix}:config`, 'version', 'state');
    if (version == null || text == null) return null;
    return { version: Number(version), state: this.parse(text) };
  }

  private parse(text: string): State {
    const raw = JSON.parse(text) as Record<string, unknown>;
    const state: Record<string, unknown> = { node: this.node };
    for (const k of KINDS) state[k] = Array.isArray(raw[k]) ? raw[k] : [];
    return state as unknown as State;
  }

  /**
   * Follow the change stream from the version `applied()` says this node has: `apply` is called
   * with each newer version in order and awaited before the next. After a disconnection it reads on
   * from where it stopped; when what it missed was trimmed from the stream, it applies the version
   * in force instead (versions are whole states, so skipping ahead loses nothing).
   */
  follow(applied: () => number, apply: (version: number, state: State) => Promise<void>): void {
    if (this.following) return;
    this.following = true;
    void this.loop(applied, apply);
  }

  private async loop(applied: () => number, apply: (version: number, state: State) => Promise<void>) {
    const key = `${this.spec.prefix}:config:log`;
    let cursor = applied();
    while (!this.closed) {
      cursor = Math.max(cursor, applied());
      if (!ready(this.reader)) {
        await whenReady(this.reader, 1000);
        continue;
      }
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = (await this.reader.xread(
          'COUNT',
          100,
          'BLOCK',
          5000,
          'STREAMS',
          key,
          `${cursor}-1`,
        )) as typeof reply;
      } catch (err) {
        if (!this.closed)
          this.log.debug({ err: (err as Error).message }, 'cluster: change stream read failed');
        await whenReady(this.reader, 1000);
        continue;
      }
      for (const [, entries] of reply ?? [])
        for (const [id, fields] of entries) {
          const version = Number(id.split('-')[0]);
          if (version <= cursor) continue;
          if (version > cursor + 1) {
            // Trimmed away while this node was gone: take the version in force.
            const latest = await this.fetch().catch(() => null);
            if (latest !== null && latest.version > cursor) {
              this.log.warn(
                { from: cursor, to: latest.version },
                'cluster: versions missed were trimmed from the change stream: applying the latest',
              );
              cursor = latest.version;
              await apply(latest.version, latest.state);
            }
            break;
          }
          const text = fields[fields.indexOf('state') + 1];
          cursor = version;
          if (text === undefined) continue;
          await apply(version, this.parse(text));
        }
    }
  }

  close(): void {
    this.closed = true;
    this.client.disconnect();
    this.reader.disconnect();
  }
}
