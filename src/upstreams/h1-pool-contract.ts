/**
 * What the keep-alive pool (h1-pool.ts) and its connections (h1-target-connection.ts) know of each
 * other: the pool's settings, the calls back into the pool, and the handle of the request a
 * connection carries. `C` is the connection (TargetConnection): a parameter, so that this file
 * imports neither side.
 */
import type { ConnectionOptions } from 'node:tls';
import type { Clock } from '../core/clock.ts';
import type { UpstreamHandler, UpstreamRequest } from './upstream-call.ts';

export interface H1PoolOptions {
  readonly host: string;
  readonly port: number;
  /** TLS options for https targets (servername is per request), or null for cleartext. */
  readonly tls: ConnectionOptions | null;
  readonly connectTimeoutMs: number;
  /** 0: no limit. */
  readonly maxConnections: number;
  readonly keepAliveMs: number;
  readonly clock: Clock;
}

/** What a connection needs of its pool (h1-pool.ts). */
export interface ConnectionPool<C> {
  readonly o: H1PoolOptions;
  /** The connection finished a request cleanly: reuse it. */
  release(c: C): void;
  /** The connection is gone. */
  forget(c: C): void;
}

/** The request a connection carries: the pool's handle of it (h1-pool.ts). */
export interface CallState<C> {
  readonly req: UpstreamRequest;
  readonly handler: UpstreamHandler;
  conn: C | null;
  done: boolean;
  /** The try takes a chunked body's coded bytes as they came. */
  raw: boolean;
  bodyBytes: number;
  /** End the call with an error (once). */
  fail(err: Error): void;
}
