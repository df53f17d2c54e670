/**
 * Rate-limit counting policies. `local` keeps counters in this process; policies that share counts
 * with other processes (the node's primary for its workers, src/workers/counters.ts; Redis for a
 * cluster, src/cluster/rate-limit-redis.ts) implement the same interface and answer with a promise.
 *
 * Algorithm: the sliding window counter (Cloudflare, "How we built rate limiting capable of
 * scaling to millions of domains", 2017). Per key and period W, two fixed windows are kept, the
 * current one (count c) and the previous one (count p); at a fraction f of the current window the
 * request rate over the trailing W is estimated as p × (1 − f) + c, and a request is admitted when
 * that estimate plus itself stays within the limit L. Refused requests are not counted.
 *
 * Error bound: every fixed window admits at most L (the estimate is never below c), so n whole
 * windows admit at most n·L; a trailing window of length W that straddles two fixed windows
 * admits less than 2·L in the worst (adversarial) case, where a fixed-window counter would admit
 * 2·L in an instant at the boundary. Under a steady offered rate r > L/W, each window admits at
 * least L − 1 − L/(r·W): the estimate's assumption (the previous window's requests were spread
 * evenly) then holds, and the count tracks the limit to within that.
 */

import type { Buffer } from 'node:buffer';

export interface Limit {
  /** `second`, `minute`, `hour`, `day` (Kong's header suffixes, capitalized). */
  readonly period: string;
  readonly windowMs: number;
  readonly limit: number;
}

export interface Usage {
  readonly limit: Limit;
  /** Requests still allowed now (after this one when admitted), ≥ 0. */
  readonly remaining: number;
  /** Milliseconds until the current fixed window ends. */
  readonly resetMs: number;
}

export interface Decision {
  readonly allowed: boolean;
  /** One per configured limit, in the configured order. */
  readonly usage: readonly Usage[];
  /** When refused: milliseconds until one more request would be admitted. */
  readonly retryAfterMs: number;
}

/**
 * A store beyond this process that an instance keeps while in service (a Redis connection, shared
 * with the other instances naming that Redis the same way: src/cluster/plugin-redis.ts).
 */
export interface InService {
  /** The instance goes into service with it (at the swap): connect now. Once; absent: nothing to do. */
  open?(): void;
  /**
   * No instance uses it any more (plugin state dropped at a swap): requests still running bypass it
   * from now on, and the connection closes with its last user.
   */
  dispose?(): void;
}

export interface RateLimitPolicy extends InService {
  /**
   * Count one request for `key` when every limit admits it. A shared policy answers with a promise
   * that never rejects (when its store fails it decides locally).
   */
  take(key: string, nowMs: number, limits: readonly Limit[]): Decision | Promise<Decision>;
}

/** Where Redis is for `policy: redis` (Kong's `redis_*` fields; host null: the node's cluster Redis). */
export interface RedisSettings {
  readonly host: string | null;
  readonly port: number;
  readonly username: string | null;
  readonly password: string | null;
  readonly database: number;
  /** Milliseconds a decision may wait before the local fallback decides. */
  readonly timeout: number;
  readonly ssl: boolean;
  readonly ssl_verify: boolean;
  readonly server_name: string | null;
}

/** What a proxy-cache instance with `strategy: redis` asks of the node (BuildEnv.counters.cache). */
export interface SharedCacheRequest {
  /** The instance's id: its entries are kept under it. */
  readonly key: string;
  /** Where Redis is; host null: the node's cluster Redis. */
  readonly redis: RedisSettings;
}

/** A cached response (proxy-cache): what is replayed on a hit. */
export interface CachedResponse {
  readonly status: number;
  /** Flat [name, value, ...], without framing, hop-by-hop and per-response fields. */
  readonly headers: readonly string[];
  readonly body: Buffer;
  /** When it was stored, on the storing node's clock (for `Age`). */
  readonly storedMs: number;
  readonly ttlMs: number;
}

/**
 * A cache shared beyond this process. A lookup answers the fresh entry of `primary`, or of its
 * variant (the response varied: `keyFor` makes the key from the Vary names stored with it), null
 * for none, or `error` when the store failed or is known to be away (the request then goes to the
 * target): a promise when it asks the store, `error` at once when it is known away. It never
 * rejects and settles within the store's timeout.
 */
export interface SharedCache extends InService {
  lookup(
    primary: string,
    keyFor: (vary: readonly string[]) => string,
  ): Promise<{ key: string; entry: CachedResponse } | null | 'error'> | 'error';
  /** Keep `entry` under `key` for its ttl (in the background; a failure is counted and logged). */
  store(primary: string, vary: readonly string[], key: string, entry: CachedResponse): void;
}

/** What a rate-limiting instance asks of the node's shared counters (BuildEnv.counters). */
export interface PolicyRequest {
  /** The instance's state key (its id and periods): counts are kept per key. */
  readonly key: string;
  readonly longestMs: number;
  readonly conf: {
    readonly policy: 'local' | 'cluster' | 'redis';
    readonly redis: RedisSettings;
    readonly limits: readonly Limit[];
  };
}

/**
 * Counters beyond this process: a node with workers counts `local` policies (and Kong's `cluster`)
 * in its primary, a `redis` policy counts in Redis. Null from `policy` means count here (LocalPolicy), synchronously.
 */
export interface SharedCounters {
  policy(req: PolicyRequest): RateLimitPolicy | null;
  /**
   * What else plugins share beyond this process: proxy-cache's `strategy: redis` store
   * (src/cluster/proxy-cache-redis.ts), or null (absent) when there is none: the plugin then keeps
   * entries in memory.
   */
  cache?(req: SharedCacheRequest): SharedCache | null;
}

interface Counter {
  /** Per limit: the current fixed window's number, its count, and the previous window's count. */
  readonly window: number[];
  readonly cur: number[];
  readonly prev: number[];
  lastMs: number;
}

/** Wait until p × (1 − f) + c + 1 ≤ L, walking into the next window if needed. */
export function waitMs(l: Limit, prev: number, cur: number, elapsedMs: number): number {
  const W = l.windowMs;
  const room = l.limit - 1 - cur;
  if (room >= 0 && prev > 0) {
    // Within this window: (1 − f) ≤ room / prev.
    const f = 1 - room / prev;
    return Math.max(0, f * W - elapsedMs);
  }
  // Next window: the current count becomes the previous one: (1 − f) ≤ (L − 1) / cur.
  const f = cur > 0 ? Math.max(0, 1 - (l.limit - 1) / cur) : 0;
  return W - elapsedMs + f * W;
}

export class LocalPolicy implements RateLimitPolicy {
  private readonly counters = new Map<string, Counter>();
  private readonly longestMs: number;
  private sweepAt: number;

  constructor(longestWindowMs: number, sweepAtEntries = 10000) {
    this.longestMs = longestWindowMs;
    this.sweepAt = sweepAtEntries;
  }

  get size(): number {
    return this.counters.size;
  }

  take(key: string, nowMs: number, limits: readonly Limit[]): Decision {
    let c = this.counters.get(key);
    if (c === undefined) {
      if (this.counters.size >= this.sweepAt) this.sweep(nowMs);
      c = {
        window: limits.map(() => -1),
        cur: limits.map(() => 0),
        prev: limits.map(() => 0),
        lastMs: nowMs,
      };
      this.counters.set(key, c);
    }
    c.lastMs = nowMs;
    let allowed = true;
    let retryAfterMs = 0;
    const est: number[] = [];
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      const n = Math.floor(nowMs / l.windowMs);
      const w = c.window[i]!;
      if (n !== w) {
        c.prev[i] = n === w + 1 ? c.cur[i]! : 0;
        c.cur[i] = 0;
        c.window[i] = n;
      }
      const elapsed = nowMs - n * l.windowMs;
      const e = c.prev[i]! * (1 - elapsed / l.windowMs) + c.cur[i]!;
      est.push(e);
      if (e + 1 > l.limit) {
        allowed = false;
        retryAfterMs = Math.max(retryAfterMs, waitMs(l, c.prev[i]!, c.cur[i]!, elapsed));
      }
    }
    const usage: Usage[] = [];
    for (let i = 0; i < limits.length; i++) {
      const l = limits[i]!;
      if (allowed) c.cur[i]!++;
      const used = est[i]! + (allowed ? 1 : 0);
      usage.push({
        limit: l,
        remaining: Math.max(0, Math.floor(l.limit - used)),
        resetMs: (c.window[i]! + 1) * l.windowMs - nowMs,
      });
    }
    return { allowed, usage, retryAfterMs };
  }

  /** Drop keys idle for two of the longest windows (their counts no longer matter). */
  private sweep(nowMs: number): void {
    for (const [k, c] of this.counters) if (nowMs - c.lastMs > 2 * this.longestMs) this.counters.delete(k);
    // Still full of live keys: let the map grow, and sweep again at twice the size.
    if (this.counters.size >= this.sweepAt / 2) this.sweepAt *= 2;
  }
}
