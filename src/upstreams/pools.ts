/**
 * Keep-alive connection pools to targets (h1-pool.ts for HTTP/1.1, h2-pool.ts for HTTP/2), shared
 * by every generation that needs the same (target, transport settings) and closed once no
 * generation in service uses them.
 */
import { upstreamTlsKey } from '../config/tls.ts';
import type { ServiceSpec } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import type { ConnectionSlots } from './connection-slots.ts';
import { H1Pool } from './h1-pool.ts';
import { H2Pool } from './h2-pool.ts';
import type { TargetState } from './target.ts';
import type { TargetPool } from './upstream-call.ts';
import { upstreamTlsOptions } from './upstream-tls.ts';

export { UPSTREAM_MAX_HEADER_BYTES } from './h1-pool.ts';
export type { TargetPool } from './upstream-call.ts';

export interface PoolSettings {
  readonly keepAliveMs: number;
  readonly clock: Clock;
  /**
   * The node's count of connections under `key` (a poolKey) when another process keeps it (a
   * worker's primary); absent: each pool counts its own.
   */
  readonly slots?: ((key: string, maxConnections: number) => ConnectionSlots) | undefined;
}

/** `maxConnections`: the circuit breaker's connections per target, 0 for no limit. */
export function poolKey(t: TargetState, s: ServiceSpec, maxConnections: number): string {
  return `${s.protocol}://${t.target}|c=${s.connectTimeoutMs}|v=${s.tlsVerify}|m=${maxConnections}|t=${upstreamTlsKey(s.tls)}${s.http2 ? '|h2' : ''}`;
}

export class PoolRegistry {
  private readonly pools = new Map<string, TargetPool>();
  private readonly settings: PoolSettings;

  constructor(settings: PoolSettings) {
    this.settings = settings;
  }

  /** The pool registered under `key` (poolKey), if any. */
  find(key: string): TargetPool | undefined {
    return this.pools.get(key);
  }

  /**
   * A new pool for target `t` of service `s`, not registered: a generation build makes the pools
   * it lacks and registers them with `add` when it goes into service (a pool connects on its first
   * request, so one made for a build that is dropped holds nothing).
   */
  make(t: TargetState, s: ServiceSpec, maxConnections: number): TargetPool {
    let p: TargetPool;
    if (s.http2) {
      // HTTP/2: one session per target carries every stream (h2-pool.ts).
      const secure = s.protocol === 'https' || s.protocol === 'grpcs';
      p = new H2Pool({
        secure,
        host: t.host,
        port: t.port,
        connectTimeoutMs: s.connectTimeoutMs,
        rejectUnauthorized: s.tlsVerify,
        servername: t.host,
        keepAliveMs: this.settings.keepAliveMs,
        clock: this.settings.clock,
      });
    } else {
      const slots = this.settings.slots;
      p = new H1Pool(
        {
          host: t.host,
          port: t.port,
          tls: upstreamTlsOptions(s),
          connectTimeoutMs: s.connectTimeoutMs,
          maxConnections,
          keepAliveMs: this.settings.keepAliveMs,
          clock: this.settings.clock,
        },
        maxConnections > 0 && slots !== undefined
          ? slots(poolKey(t, s, maxConnections), maxConnections)
          : null,
      );
    }
    return p;
  }

  /**
   * Register a pool made with `make`; the generation going into service uses it from now on. Two
   * builds prepared side by side each make their own pool for a key not yet registered; the one
   * installed second replaces the first, whose generation is then retired: that pool is closed
   * gracefully (its requests in flight finish), or its connections would outlive every generation.
   */
  add(key: string, pool: TargetPool): void {
    const replaced = this.pools.get(key);
    this.pools.set(key, pool);
    if (replaced !== undefined && replaced !== pool) replaced.close().catch(() => {});
  }

  /** Close (gracefully: in-flight requests finish) every pool whose key is not in `keep`. */
  retain(keep: ReadonlySet<string>): void {
    for (const [key, pool] of this.pools) {
      if (keep.has(key)) continue;
      this.pools.delete(key);
      pool.close().catch(() => {});
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(all.map((p) => p.close()));
  }

  async destroyAll(): Promise<void> {
    const all = [...this.pools.values()];
    this.pools.clear();
    await Promise.allSettled(all.map((p) => p.destroy()));
  }

  get size(): number {
    return this.pools.size;
  }
}
