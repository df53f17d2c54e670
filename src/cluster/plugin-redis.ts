/**
 * The Redis connections that plugin instances name in their own configuration (rate-limiting's
 * `policy: redis`, proxy-cache's `strategy: redis`): one per Redis and per way of naming it (the
 * address and every connection setting, so that another password or timeout is another
 * connection), taken when an instance goes into service (at the swap: a build abandoned on the way
 * opens nothing) and closed with its last user. Also the PING that tells when a Redis taken as away
 * answers again, which both users probe with.
 */
import type { Clock } from '../core/clock.ts';
import type { RedisSettings } from '../plugins/rate-limit-policy.ts';
import type { RedisTarget } from './redis.ts';

/** A plugin's `redis` settings, where they lead. */
export interface NamedRedis {
  readonly settings: RedisSettings;
  /** The cluster's Redis (no `host`), or null: the host the settings name. */
  readonly url: string | null;
  /** For logs and metrics: the URL, or `host:port/database`. */
  readonly name: string;
  /** What tells two connections apart: the address and every setting of the connection. */
  readonly id: string;
}

/** Where the settings lead, or null when they name no Redis (no host, and the node has no cluster). */
export function namedRedis(r: RedisSettings, clusterUrl: string | null): NamedRedis | null {
  const url = r.host === null ? clusterUrl : null;
  if (r.host === null && url === null) return null;
  return {
    settings: r,
    url,
    name: url ?? `${r.host}:${r.port}/${r.database}`,
    id: JSON.stringify(
      url !== null
        ? [url, r.timeout]
        : [r.host, r.port, r.database, r.username, r.password, r.ssl, r.ssl_verify, r.server_name, r.timeout],
    ),
  };
}

/** The connection's target (redis.ts). */
export function redisTarget(n: NamedRedis): RedisTarget {
  const r = n.settings;
  return n.url !== null
    ? { url: n.url }
    : {
        host: r.host!,
        port: r.port,
        username: r.username,
        password: r.password,
        database: r.database,
        tls: r.ssl ? { verify: r.ssl_verify, serverName: r.server_name } : null,
      };
}

/** What holds one connection (made when its first user goes into service). */
export interface Held {
  /** The NamedRedis name it was made for. */
  readonly name: string;
  close(): void;
}

/** One instance's use of a connection: what it keeps as plugin state (its open and dispose). */
export interface Lease<T> {
  /** The holder while the instance is in service; null before and after. */
  readonly held: T | null;
  /** The instance goes into service (at the swap): take the connection, made if none is. Once. */
  open(): void;
  /** The instance is dropped: give it back; the last user closes it. */
  dispose(): void;
}

/** The node's connections of one kind, by NamedRedis.id. */
export class PluginRedis<T extends Held> {
  private readonly entries = new Map<string, { value: T; users: number }>();
  private readonly make: (n: NamedRedis) => T;
  /** Closed (the node stops): no more connections. */
  private closed = false;

  constructor(make: (n: NamedRedis) => T) {
    this.make = make;
  }

  lease(n: NamedRedis): Lease<T> {
    const entries = this.entries;
    let taken: { value: T; users: number } | null = null;
    let state: 'built' | 'open' | 'disposed' = 'built';
    return {
      get held() {
        return taken?.value ?? null;
      },
      open: () => {
        if (state !== 'built' || this.closed) return;
        state = 'open';
        let e = entries.get(n.id);
        if (e === undefined) {
          e = { value: this.make(n), users: 0 };
          entries.set(n.id, e);
        }
        e.users++;
        taken = e;
      },
      dispose: () => {
        state = 'disposed';
        const e = taken;
        taken = null;
        if (e === null || --e.users > 0 || entries.get(n.id) !== e) return;
        entries.delete(n.id);
        e.value.close();
      },
    };
  }

  /**
   * The names of the holders `which` picks, once each: two connections may name one Redis (another
   * password, another timeout), and a gauge by Redis has one sample per Redis.
   */
  names(which: (t: T) => boolean): Set<string> {
    const out = new Set<string>();
    for (const { value } of this.entries.values()) if (which(value)) out.add(value.name);
    return out;
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) e.value.close();
    this.entries.clear();
  }
}

/**
 * Every `everyMs`, ask `answers` (a PING within its own bound) until it says yes, then `back()`.
 * `stop()` ends it (the connection closes): no more asking, and no `back()`.
 */
export function probeUntilBack(
  clock: Clock,
  everyMs: number,
  answers: () => Promise<boolean>,
  back: () => void,
): { stop(): void } {
  let timer: ReturnType<Clock['setTimer']> | null = null;
  let stopped = false;
  const next = (): void => {
    timer = clock.setTimer(
      everyMs,
      () => {
        timer = null;
        void answers().then(
          (yes) => {
            if (stopped) return;
            if (yes) back();
            else next();
          },
          () => {
            if (!stopped) next();
          },
        );
      },
      null,
    );
  };
  next();
  return {
    stop: () => {
      stopped = true;
      if (timer !== null) clock.clearTimer(timer);
      timer = null;
    },
  };
}
