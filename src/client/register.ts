/**
 * `register()` in `fulcrum/client`: an application registers itself as a target of an upstream in
 * Fulcrum's registry (docs/discovery.md#from-the-application) without speaking etcd or Redis: the
 * key and value laid out as the proxy reads them, the TTL and the heartbeat, and deregistration
 * at `close()`.
 *
 * - etcd: a lease of `ttl` seconds (the `etcd3` package keeps it alive, about every ttl/3), and the
 *   key put on it. A lease lost (etcd said it expired, say after a long partition) is granted
 *   again and the key put again. `close()` revokes the lease: the target leaves at once.
 * - Redis: `SET key value EX ttl GET` every ttl/3 (a SET, not an EXPIRE, so that a Redis that lost
 *   its memory gets the registration back), and `PUBLISH` when the key was new so that the proxy
 *   reads it at once. `close()` deletes the key and publishes.
 */
import type { Etcd3, Lease } from 'etcd3';
import { connectRedis, type Redis, whenReady } from '../cluster/redis.ts';
import { DEFAULT_ETCD_PREFIX } from '../config/registry.ts';
import { type Clock, systemClock, type TimerHandle } from '../core/clock.ts';
import { formatHostPort } from '../core/net.ts';
import { etcdRegistryKey, redisRegistryChannel, redisRegistryKey } from '../discovery/registry.ts';

/** The registration's TTL when none is given (seconds). */
export const DEFAULT_REGISTER_TTL_S = 10;

export interface RegisterOptions {
  readonly upstream: string;
  readonly address: string;
  readonly port: number;
  readonly weight?: number;
  readonly priority?: number;
  readonly zone?: string;
  readonly tags?: readonly string[];
  /** Seconds the registration lives without a heartbeat (default 10; etcd's least is about 2). */
  readonly ttl?: number;
  /** The proxy's `registry.etcd`: its endpoints and prefix (default `fulcrum/`). */
  readonly etcd?: { readonly endpoints: readonly string[]; readonly prefix?: string };
  /** The cluster store's Redis: its URL and the cluster's `prefix` (default `fulcrum`). */
  readonly redis?: { readonly url: string; readonly prefix?: string };
  /** Timers of the Redis heartbeat (tests). */
  readonly clock?: Clock;
}

export interface Registration {
  /** The key registered under. */
  readonly key: string;
  /** Heartbeats that etcd or Redis acknowledged so far (a monitor's sign of life). */
  readonly heartbeats: number;
  /** Deregister at once and close the connection. */
  close(): Promise<void>;
}

/** Register in etcd or Redis (exactly one of `etcd` and `redis`); resolves once registered. */
export async function register(o: RegisterOptions): Promise<Registration> {
  if ((o.etcd === undefined) === (o.redis === undefined))
    throw new TypeError('register(): give exactly one of `etcd` and `redis`');
  const ttlS = o.ttl ?? DEFAULT_REGISTER_TTL_S;
  const target = formatHostPort(o.address, o.port);
  const value = JSON.stringify({
    ...(o.weight === undefined ? {} : { weight: o.weight }),
    ...(o.priority === undefined ? {} : { priority: o.priority }),
    ...(o.zone === undefined ? {} : { zone: o.zone }),
    ...(o.tags === undefined ? {} : { tags: o.tags }),
  });
  return o.etcd !== undefined
    ? registerEtcd(
        o.etcd,
        etcdRegistryKey(o.etcd.prefix ?? DEFAULT_ETCD_PREFIX, o.upstream, target),
        value,
        ttlS,
      )
    : registerRedis(o.redis!, o.upstream, target, value, ttlS, o.clock ?? systemClock);
}

function registration(key: string, heartbeats: () => number, close: () => Promise<void>): Registration {
  return {
    key,
    get heartbeats() {
      return heartbeats();
    },
    close,
  };
}

async function registerEtcd(
  etcd: NonNullable<RegisterOptions['etcd']>,
  key: string,
  value: string,
  ttlS: number,
): Promise<Registration> {
  const { Etcd3 } = await import('etcd3');
  const client: Etcd3 = new Etcd3({ hosts: [...etcd.endpoints] });
  let closed = false;
  let lease: Lease;
  let heartbeats = 0;
  const grant = async (): Promise<void> => {
    const l = client.lease(ttlS);
    lease = l;
    l.on('keepaliveSucceeded', () => heartbeats++);
    l.on('lost', () => {
      if (!closed) void grant().catch(() => {});
    });
    await l.put(key).value(value);
  };
  try {
    await grant();
  } catch (err) {
    client.close();
    throw err;
  }
  return registration(
    key,
    () => heartbeats,
    async () => {
      closed = true;
      await lease.revoke().catch(() => {});
      client.close();
    },
  );
}

async function registerRedis(
  redis: NonNullable<RegisterOptions['redis']>,
  upstream: string,
  target: string,
  value: string,
  ttlS: number,
  clock: Clock,
): Promise<Registration> {
  const prefix = redis.prefix ?? 'fulcrum';
  const key = redisRegistryKey(prefix, upstream, target);
  const channel = redisRegistryChannel(prefix);
  const timeoutMs = 2000;
  const client: Redis = await connectRedis({ url: redis.url }, { timeoutMs, name: 'fulcrum-register' });
  if (!(await whenReady(client, timeoutMs))) {
    client.disconnect();
    throw new Error(`register(): Redis at ${redis.url} cannot be reached`);
  }
  let timer: TimerHandle | null = null;
  let closed = false;
  let heartbeats = 0;
  const beat = async (): Promise<void> => {
    const before = await client.set(key, value, 'EX', Math.max(1, Math.ceil(ttlS)), 'GET');
    if (before !== value) await client.publish(channel, upstream);
    else heartbeats++;
  };
  const again = (): void => {
    timer = null;
    if (closed) return;
    // A beat that fails (Redis away) is tried at the next one; the registration runs out meanwhile.
    void beat()
      .catch(() => {})
      .finally(() => {
        if (!closed) timer = clock.setTimer((ttlS * 1000) / 3, again, undefined);
      });
  };
  await beat();
  timer = clock.setTimer((ttlS * 1000) / 3, again, undefined);
  return registration(
    key,
    () => heartbeats,
    async () => {
      closed = true;
      if (timer !== null) clock.clearTimer(timer);
      await client
        .del(key)
        .then(() => client.publish(channel, upstream))
        .catch(() => {});
      client.disconnect();
    },
  );
}
