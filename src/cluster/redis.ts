/**
 * Connections to Redis for the cluster (the config store, membership, health probe claims, rate limits),
 * through ioredis: the maintained Node client, with reconnection, pipelining and script caching
 * (EVALSHA with a fallback to EVAL) built in.
 *
 * Every connection fails fast rather than queueing: a command sent while Redis is away is refused
 * at once (`enableOfflineQueue: false`), and a command that takes longer than the timeout fails
 * (`commandTimeout`), so the node falls back (last known configuration, local rate-limit counts,
 * probing on its own) instead of piling up requests. Reconnection goes on in the background, every
 * 200 ms to 1 s. ioredis is loaded on first use: a node that never talks to Redis never loads it.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { systemClock } from '../core/clock.ts';

export type { Redis };

/** Reconnect delays: 200 ms, growing to 1 s, forever. */
const RECONNECT_MIN_MS = 200;
const RECONNECT_MAX_MS = 1000;

export interface RedisTarget {
  /** `redis://[[user]:password@]host:port[/db]` or `rediss://` for TLS. */
  readonly url?: string;
  readonly host?: string;
  readonly port?: number;
  readonly username?: string | null;
  readonly password?: string | null;
  readonly database?: number;
  readonly tls?: { readonly verify: boolean; readonly serverName: string | null } | null;
}

type RedisClassType = typeof import('ioredis').Redis;
let loaded: Promise<RedisClassType> | null = null;

/** A connection; `blocking` ones (XREAD BLOCK, SUBSCRIBE) have no command timeout. */
export async function connectRedis(
  target: RedisTarget,
  opts: { timeoutMs: number; name: string; blocking?: boolean },
): Promise<Redis> {
  loaded ??= import('ioredis').then((m) => m.Redis);
  const RedisClass = await loaded;
  const options: RedisOptions = {
    connectionName: opts.name,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: Math.max(opts.timeoutMs, 1000),
    retryStrategy: (times: number) => Math.min(RECONNECT_MIN_MS * times, RECONNECT_MAX_MS),
    ...(opts.blocking ? {} : { commandTimeout: opts.timeoutMs }),
  };
  let client: Redis;
  if (target.url !== undefined) client = new RedisClass(target.url, options);
  else
    client = new RedisClass({
      ...options,
      host: target.host ?? '127.0.0.1',
      port: target.port ?? 6379,
      db: target.database ?? 0,
      ...(target.username ? { username: target.username } : {}),
      ...(target.password ? { password: target.password } : {}),
      ...(target.tls
        ? {
            tls: {
              rejectUnauthorized: target.tls.verify,
              ...(target.tls.serverName ? { servername: target.tls.serverName } : {}),
            },
          }
        : {}),
    });
  // Errors are reported through the callers' failed commands and the node's state changes; an
  // unhandled 'error' event would otherwise be printed by ioredis for every reconnection attempt.
  client.on('error', () => {});
  client.connect().catch(() => {
    // Not reachable now: ioredis keeps trying (retryStrategy); commands fail fast meanwhile.
  });
  return client;
}

/** Whether a connection can take commands now. */
export function ready(client: Redis): boolean {
  return client.status === 'ready';
}

/** Resolve once the connection is ready, or false after `ms`. */
export function whenReady(client: Redis, ms: number): Promise<boolean> {
  if (ready(client)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      systemClock.clearTimer(timer);
      client.off('ready', onReady);
      resolve(ok);
    };
    const onReady = () => done(true);
    // A connection's wait is real time (I/O), as the runtime's ioClock.
    const timer = systemClock.setTimer(ms, done, false);
    client.on('ready', onReady);
  });
}
