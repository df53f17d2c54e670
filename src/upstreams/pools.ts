/**
 * Keep-alive connection pools to targets (undici Pool), shared by every generation that needs
 * the same (target, transport settings) and closed once no generation in service uses them.
 */
import { createRequire } from 'node:module';
import type { Dispatcher, Pool as UndiciPool } from 'undici';
import { upstreamTlsKey } from '../config/tls.ts';
import type { ServiceSpec } from '../config/types.ts';
import { H2Pool } from './h2-pool.ts';
import type { TargetState } from './target.ts';
import { upstreamConnect } from './upstream-tls.ts';

/** What the Exchange dispatches a try to: an undici Pool (HTTP/1.1), or an H2Pool (HTTP/2). */
export interface TargetPool {
  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/**
 * undici's Pool, loaded by its own file rather than through undici's index, which also loads
 * fetch, WebSocket, EventSource and the cache stores: about 10 MB of resident memory that a proxy
 * never uses (measured on Node 20: 61 MB → 51 MB). undici has no `exports` map, so the path is
 * reachable; a test checks it is the same class the index exports.
 */
export const Pool = createRequire(import.meta.url)('undici/lib/dispatcher/pool.js') as typeof UndiciPool;

/** Largest response head accepted from a target (undici's default is 16 KiB; nginx's 4-8 KiB buffers grow to 32 KiB and more). */
export const UPSTREAM_MAX_HEADER_BYTES = 65536;

export interface PoolSettings {
  readonly keepAliveMs: number;
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

  get(t: TargetState, s: ServiceSpec, maxConnections: number): TargetPool {
    const key = poolKey(t, s, maxConnections);
    let p = this.pools.get(key);
    if (!p && s.http2) {
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
      });
      this.pools.set(key, p);
    }
    if (!p) {
      const origin = `${s.protocol}://${t.target}`;
      p = new Pool(origin, {
        connections: maxConnections > 0 ? maxConnections : null,
        pipelining: 1,
        keepAliveTimeout: this.settings.keepAliveMs,
        keepAliveMaxTimeout: this.settings.keepAliveMs,
        maxHeaderSize: UPSTREAM_MAX_HEADER_BYTES,
        strictContentLength: true,
        connect: upstreamConnect(t.host, s),
      });
      this.pools.set(key, p);
    }
    return p;
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
