/**
 * proxy-cache's `strategy: redis` (Kong Enterprise's proxy-cache-advanced has it): entries kept in
 * Redis, so every node of a cluster, and every worker process, answers from one cache.
 *
 * An entry is one Redis string, `<prefix>:pc:<plugin id>:<X-Cache-Key>`, written with the plugin's
 * ttl as its expiry (PX): a line of JSON (the full key, status, headers, when stored, ttl), a
 * newline, and the body's bytes. A response that varies (its `Vary`) leaves, under its primary
 * key, a marker naming the Vary headers, and each variant under its full key; a lookup reads the
 * primary key, and the variant the marker leads to (a second round trip only for such responses).
 * The full key inside the entry is compared on reading, so a digest collision is a miss.
 *
 * A lookup is the only Redis traffic on a request's path, and it is bounded: it waits at most
 * `redis.timeout` (a connection queues nothing while Redis is away, so a refused command fails at
 * once). A failed or late lookup sends the request to the target (`X-Cache-Status: Bypass`), marks
 * that Redis away (a log line, `fulcrum_proxy_cache_redis_away 1`) and, while it is away, requests
 * do not ask it at all; a PING every AWAY_PROBE_MS brings it back. Stores are sent after the
 * response has gone to the client, without waiting, at most MAX_PENDING_STORES at a time.
 */
import { Buffer } from 'node:buffer';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { Collected, Counter, type Registry } from '../observability/registry.ts';
import type { CachedResponse, SharedCache, SharedCacheRequest } from '../plugins/rate-limit-policy.ts';
import { cacheKeyDigest } from '../plugins/response-cache.ts';
import { type NamedRedis, namedRedis, PluginRedis, probeUntilBack, redisTarget } from './plugin-redis.ts';
import { connectRedis, type Redis, ready, whenReady } from './redis.ts';

/** While a Redis is away, how often it is asked whether it is back. */
export const AWAY_PROBE_MS = 500;
/** Stores sent and not yet answered, per Redis, at most; past it a response is not stored. */
export const MAX_PENDING_STORES = 256;

/** What the line before the body says: an entry, or a marker naming the Vary headers. */
interface Head {
  /** The full key (an entry) or the primary key (a marker). */
  readonly k: string;
  readonly s?: number;
  readonly h?: readonly string[];
  readonly t?: number;
  readonly l?: number;
  readonly v?: readonly string[];
}

function encode(head: Head, body: Buffer | null): Buffer {
  const line = Buffer.from(`${JSON.stringify(head)}\n`, 'utf8');
  return body === null ? line : Buffer.concat([line, body]);
}

function decode(raw: Buffer): { head: Head; body: Buffer } | null {
  const nl = raw.indexOf(10);
  if (nl < 0) return null;
  try {
    const head = JSON.parse(raw.subarray(0, nl).toString('utf8')) as Head;
    return typeof head.k === 'string' ? { head, body: raw.subarray(nl + 1) } : null;
  } catch {
    return null;
  }
}

/**
 * One Redis as the caches name it (address and every connection setting): its connection, made when
 * a plugin instance using it goes into service (plugin-redis.ts), and whether it is away.
 */
class Store {
  private readonly client: Promise<Redis>;
  away = false;
  pending = 0;
  private probing: { stop(): void } | null = null;
  /** No instance in service uses it any more: a lookup failing now failed because of that. */
  private closed = false;
  readonly name: string;
  readonly timeoutMs: number;
  private readonly owner: RedisCaches;

  constructor(owner: RedisCaches, n: NamedRedis) {
    this.owner = owner;
    this.name = n.name;
    this.timeoutMs = n.settings.timeout;
    this.client = connectRedis(redisTarget(n), { timeoutMs: this.timeoutMs, name: 'fulcrum-proxy-cache' });
  }

  /** The connection, ready, or null when it is not within the timeout. */
  async connection(): Promise<Redis | null> {
    const c = await this.client;
    return ready(c) || (await whenReady(c, this.timeoutMs)) ? c : null;
  }

  /** A command failed or was late: Redis is away until a PING answers in time. */
  fail(why: string): void {
    if (this.away || this.closed) return;
    this.away = true;
    this.owner.log.warn(
      { redis: this.name, why },
      'proxy-cache: Redis is slow or away: requests go to the targets (Bypass) until it answers',
    );
    this.probing = probeUntilBack(
      this.owner.clock,
      AWAY_PROBE_MS,
      async () => {
        const c = await this.connection();
        return c !== null && (await c.ping()) === 'PONG';
      },
      () => {
        this.probing = null;
        this.away = false;
        this.owner.log.info({ redis: this.name }, 'proxy-cache: Redis answers again');
      },
    );
  }

  close(): void {
    this.closed = true;
    this.probing?.stop();
    this.probing = null;
    void this.client.then((c) => c.disconnect());
  }
}

export interface RedisCachesDeps {
  readonly clock: Clock;
  readonly log: Logger;
  /** The cluster's Redis URL, for `strategy: redis` without a host; null when the node has none. */
  readonly clusterUrl: string | null;
  /** The cluster's key prefix (`cluster.prefix`); `fulcrum` without a cluster. */
  readonly prefix?: string | undefined;
}

/**
 * The node's Redis caches: one connection per Redis named (and per way of naming it: another
 * password or timeout is another store), open while a plugin instance in service uses it.
 */
export class RedisCaches {
  readonly clock: Clock;
  readonly log: Logger;
  private readonly deps: RedisCachesDeps;
  private readonly stores = new PluginRedis<Store>((n) => new Store(this, n));
  private readonly events: Counter;
  /** Closed (the node stops, or it is a primary whose workers serve): no more connections. */
  private closed = false;

  constructor(deps: RedisCachesDeps) {
    this.deps = deps;
    this.clock = deps.clock;
    this.log = deps.log;
    this.events = new Counter(
      'fulcrum_proxy_cache_redis_total',
      'proxy-cache strategy redis: lookups (hit, miss, error: Redis failed or was late, away: not asked while away) and stores (stored, failed, dropped: too many waiting).',
    );
  }

  register(registry: Registry): void {
    registry.add(this.events);
    const stores = this.stores;
    registry.add(
      new Collected(
        'fulcrum_proxy_cache_redis_away',
        '1 while a Redis of proxy-cache strategy redis is slow or away (requests go to the targets).',
        'gauge',
        function* () {
          for (const name of stores.names((s) => s.away)) yield [{ redis: name }, 1];
        },
      ),
    );
  }

  count(op: 'lookup' | 'store', result: string): void {
    this.events.labels({ op, result }).inc();
  }

  /** The shared cache of one instance, or null when it names no Redis (no host, no cluster). */
  cache(req: SharedCacheRequest): SharedCache | null {
    if (this.closed) return null;
    const n = namedRedis(req.redis, this.deps.clusterUrl);
    if (n === null) {
      this.log.warn(
        { instance: req.key },
        'proxy-cache: strategy redis without redis.host on a node without `cluster`: caching in memory',
      );
      return null;
    }
    // The store is taken (made, counted, connected) only when the instance goes into service
    // (`open`, at the swap): a build abandoned on the way leaves no connection behind. Requests of
    // a generation retired since (the lease disposed of) bypass it.
    const lease = this.stores.lease(n);
    const keyPrefix = `${this.deps.prefix ?? 'fulcrum'}:pc:${req.key}:`;
    const redisKey = (key: string) => keyPrefix + cacheKeyDigest(key);
    return {
      lookup: (primary, keyFor) => {
        const s = lease.held;
        if (s === null) return 'error';
        if (s.away) {
          this.count('lookup', 'away');
          return 'error';
        }
        return this.bounded(s, this.lookup(s, primary, keyFor, redisKey));
      },
      store: (primary, vary, key, entry) => {
        const s = lease.held;
        if (s === null) return this.count('store', 'skipped');
        this.store(s, primary, vary, key, entry, redisKey);
      },
      open: () => lease.open(),
      dispose: () => lease.dispose(),
    };
  }

  /** The lookup's answer, or `error` once the timeout has passed (Redis is then away). */
  private bounded<T>(s: Store, p: Promise<T | 'error'>): Promise<T | 'error'> {
    return new Promise((resolve) => {
      let settled = false;
      const timer = this.clock.setTimer(
        s.timeoutMs,
        () => {
          settled = true;
          s.fail(`no answer within ${s.timeoutMs} ms`);
          this.count('lookup', 'error');
          resolve('error');
        },
        null,
      );
      void p.then((v) => {
        if (settled) return;
        this.clock.clearTimer(timer);
        if (v === 'error') this.count('lookup', 'error');
        resolve(v);
      });
    });
  }

  private async lookup(
    s: Store,
    primary: string,
    keyFor: (vary: readonly string[]) => string,
    redisKey: (key: string) => string,
  ): Promise<{ key: string; entry: CachedResponse } | null | 'error'> {
    try {
      const c = await s.connection();
      if (c === null) {
        s.fail('not connected');
        return 'error';
      }
      let raw = await c.getBuffer(redisKey(primary));
      let got = raw === null ? null : decode(raw);
      let key = primary;
      if (got?.head.v !== undefined && got.head.k === primary) {
        key = keyFor(got.head.v);
        raw = await c.getBuffer(redisKey(key));
        got = raw === null ? null : decode(raw);
      }
      const h = got?.head;
      if (got === null || h === undefined || h.k !== key || h.s === undefined) {
        this.count('lookup', 'miss');
        return null;
      }
      this.count('lookup', 'hit');
      const entry: CachedResponse = {
        status: h.s,
        headers: h.h ?? [],
        body: got.body,
        storedMs: h.t ?? 0,
        ttlMs: h.l ?? 0,
      };
      return { key, entry };
    } catch (err) {
      // Failed before the deadline (a refused command fails at once): Redis is away.
      s.fail((err as Error).message);
      return 'error';
    }
  }

  private store(
    s: Store,
    primary: string,
    vary: readonly string[],
    key: string,
    e: CachedResponse,
    redisKey: (key: string) => string,
  ): void {
    if (s.away) return this.count('store', 'skipped');
    if (s.pending >= MAX_PENDING_STORES) return this.count('store', 'dropped');
    s.pending++;
    const ttl = Math.max(1, Math.round(e.ttlMs));
    const entry = encode({ k: key, s: e.status, h: e.headers, t: e.storedMs, l: e.ttlMs }, e.body);
    void s
      .connection()
      .then((c) => {
        if (c === null) throw new Error('not connected');
        const p = c.pipeline();
        if (vary.length > 0) p.set(redisKey(primary), encode({ k: primary, v: vary }, null), 'PX', ttl);
        p.set(redisKey(key), entry, 'PX', ttl);
        return p.exec();
      })
      .then(
        (results) => {
          s.pending--;
          const failed = results?.some(([err]) => err !== null) ?? true;
          this.count('store', failed ? 'failed' : 'stored');
        },
        () => {
          s.pending--;
          this.count('store', 'failed');
        },
      );
  }

  close(): void {
    this.closed = true;
    this.stores.close();
  }
}
