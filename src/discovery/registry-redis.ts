/**
 * The registry on the cluster store's Redis (docs/discovery.md#redis): a registration is a key
 * `<prefix>:registry:<upstream>:<address>:<port>` holding JSON `{weight, priority, zone, tags}`
 * with an expiry (`SET ... EX ttl`) that the registering party refreshes (`EXPIRE`, or the SET
 * again). A registering party that changes something says so with `PUBLISH <prefix>:registry
 * <upstream>`.
 *
 * Reading: every registration is read (SCAN, then GET and PTTL) when a notification arrives, when
 * the earliest expiry read last time comes (so a registration that was not refreshed leaves at its
 * expiry, without keyspace notifications, which a managed Redis may not offer), every
 * `refresh_interval` (a PUBLISH lost while a connection was down), and whenever a connection comes
 * back. While Redis is away the targets last read keep serving. Upstream names cannot hold `:`
 * (the schema's name pattern), so the first `:` after `registry:` ends the upstream's name.
 *
 * Two connections of the cluster's Redis (src/cluster/redis.ts): one for commands, one subscribed.
 */
import { connectRedis, type Redis, whenReady } from '../cluster/redis.ts';
import type { RedisRegistrySpec } from '../config/registry.ts';
import type { TimerHandle } from '../core/clock.ts';
import { SerialReader } from './reader.ts';
import {
  type RegisteredTarget,
  RegistrationSet,
  redisRegistryBase,
  redisRegistryChannel,
} from './registry.ts';
import type { RegistryDeps } from './registry-etcd.ts';

/** Keys asked per SCAN step. */
const SCAN_COUNT = 1000;
/** How long the first read waits for the connection. */
const REGISTRY_CONNECT_WAIT_MS = 3000;

export interface RegistryRedis {
  /** The cluster store's Redis (`cluster.redis` or `--cluster`). */
  readonly url: string;
  /** The cluster's key prefix (`cluster.prefix`). */
  readonly prefix: string;
  readonly timeoutMs: number;
}

const globEscape = (s: string) => s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);

export class RedisRegistry {
  readonly spec: RedisRegistrySpec;
  readonly redis: RegistryRedis;
  private readonly deps: RegistryDeps;
  private readonly set: RegistrationSet;
  private readonly base: string;
  private cmd: Redis | null = null;
  private sub: Redis | null = null;
  private expiry: TimerHandle | null = null;
  private refresh: TimerHandle | null = null;
  private closed = false;
  private error: string | null = null;
  private readonly reader = new SerialReader(
    () => this.readAll(),
    () => this.closed,
  );
  /** Full reads done (tests). */
  reads = 0;

  constructor(spec: RedisRegistrySpec, redis: RegistryRedis, deps: RegistryDeps) {
    this.spec = spec;
    this.redis = redis;
    this.deps = deps;
    this.base = redisRegistryBase(redis.prefix);
    this.set = new RegistrationSet(deps.onChange, (key, why) =>
      deps.log.error({ key }, `registry (redis): ${key} refused: ${why}`),
    );
    this.open().catch((err: Error) => {
      this.error = err.message;
      deps.log.error(`registry (redis): cannot open connections: ${err.message}`);
      this.reader.settle();
    });
  }

  /** The channel a registering party PUBLISHes to after a change. */
  get channel(): string {
    return redisRegistryChannel(this.redis.prefix);
  }

  targets(upstream: string): readonly RegisteredTarget[] {
    return this.set.targets(upstream);
  }

  ready(): Promise<void> {
    return this.reader.ready();
  }

  status(): unknown {
    return {
      redis: this.redis.url.replace(/\/\/[^@/]*@/, '//***@'),
      channel: this.channel,
      connected: this.cmd?.status === 'ready',
      error: this.error,
      registrations: this.set.size(),
      refused: this.set.errors(),
    };
  }

  close(): void {
    this.closed = true;
    for (const t of [this.expiry, this.refresh]) if (t !== null) this.deps.clock.clearTimer(t);
    this.expiry = this.refresh = null;
    this.cmd?.disconnect();
    this.sub?.disconnect();
  }

  private async open(): Promise<void> {
    const opts = { timeoutMs: this.redis.timeoutMs, name: 'fulcrum-registry' };
    this.cmd = await connectRedis({ url: this.redis.url }, opts);
    this.sub = await connectRedis(
      { url: this.redis.url },
      { ...opts, name: 'fulcrum-registry-sub', blocking: true },
    );
    if (this.closed) return this.close();
    this.sub.on('message', () => void this.read());
    this.sub.on('ready', () => {
      // Subscribed again (ioredis resubscribes after a reconnection too; SUBSCRIBE twice is harmless).
      this.sub?.subscribe(this.channel).catch(() => {});
      void this.read();
    });
    // The first read once connected (or, Redis away, a failed one: ready() settles, targets come later).
    await whenReady(this.cmd, REGISTRY_CONNECT_WAIT_MS);
    this.cmd.on('ready', () => void this.read());
    void this.read();
  }

  /** Fire a timer (`onExpiry`, `onRefresh`). */
  timer(refresh: boolean): void {
    if (refresh) this.refresh = null;
    else this.expiry = null;
    void this.read();
  }

  /** Read every registration (one read at a time, once more if asked meanwhile). */
  private read(): Promise<void> {
    return this.reader.read();
  }

  private async readAll(): Promise<void> {
    const cmd = this.cmd;
    if (cmd === null || this.closed) return;
    const clock = this.deps.clock;
    try {
      if (cmd.status !== 'ready') throw new Error('not connected');
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, found] = await cmd.scan(
          cursor,
          'MATCH',
          `${globEscape(this.base)}*`,
          'COUNT',
          SCAN_COUNT,
        );
        cursor = next;
        keys.push(...found);
      } while (cursor !== '0');
      const p = cmd.pipeline();
      for (const k of keys) p.get(k).pttl(k);
      const out = (await p.exec()) ?? [];
      const now = clock.nowMs();
      const seen = new Set<string>();
      let soonestMs = Number.POSITIVE_INFINITY;
      keys.forEach((key, i) => {
        const [e1, value] = out[2 * i] ?? [null, null];
        const [e2, pttl] = out[2 * i + 1] ?? [null, -2];
        if (e1 || e2 || typeof value !== 'string') return; // expired between SCAN and GET
        const rest = key.slice(this.base.length);
        const colon = rest.indexOf(':');
        if (colon <= 0) return;
        seen.add(key);
        this.set.put(rest.slice(0, colon), rest.slice(colon + 1), value, key, now);
        if (typeof pttl === 'number' && pttl >= 0) soonestMs = Math.min(soonestMs, pttl);
      });
      this.set.retain(seen);
      this.set.commit();
      this.reads++;
      if (this.error !== null) this.deps.log.info('registry (redis): reading registrations again');
      this.error = null;
      if (this.expiry !== null) clock.clearTimer(this.expiry);
      this.expiry = Number.isFinite(soonestMs) ? clock.setTimer(soonestMs + 1, onExpiry, this) : null;
    } catch (err) {
      const why = (err as Error).message;
      if (this.error === null)
        this.deps.log.warn(
          `registry (redis): cannot read registrations (${why}); registered targets keep serving`,
        );
      this.error = why;
    } finally {
      if (this.refresh !== null) clock.clearTimer(this.refresh);
      this.refresh = this.closed ? null : clock.setTimer(this.spec.refreshMs, onRefresh, this);
    }
  }
}

function onExpiry(r: RedisRegistry): void {
  r.timer(false);
}

function onRefresh(r: RedisRegistry): void {
  r.timer(true);
}
