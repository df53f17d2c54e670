/**
 * One try of a request against one target (ARCHITECTURE.md: a request's tries are parts it owns).
 * A try owns what must happen exactly once for it, whatever way it ends: the target's in-flight
 * count (`start()` / `done()`), the upstream guard's counters (tries in flight, waiting for a
 * connection, and its retry reservation; in a worker, the primary's grant for the node's counts),
 * and the one passive-health report of its outcome.
 * Everything else is its owner's (tries.ts): the try forwards the pool's events there, tagged with
 * itself, so that a retry or a hedge can run while an older try is still draining or cancelled.
 */

import type { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { TimerHandle } from '../core/clock.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { Outcome } from '../health/probe.ts';
import type { Fields } from '../http1/fields.ts';
import type { TrySpan } from '../observability/trace-hooks.ts';
import type { UpstreamGuard } from '../upstreams/guard.ts';
import type { TargetState } from '../upstreams/target.ts';
import type { UpstreamCall, UpstreamHandler, UpstreamHead } from '../upstreams/upstream-call.ts';
import type { RetryKind } from './errors.ts';

/** A place in the upstream's retries-in-flight count; `release` may be called any number of times. */
export class RetryReservation {
  private guard: UpstreamGuard | null;
  /** What the retry is for (a worker's primary charges it to the node's budget by kind). */
  readonly kind: RetryKind | 'hedge';
  /**
   * The failed try's error, which the client gets when a worker's primary refuses the retry (as
   * it would have at once in one process); null when there is none to give (a hedge, a status).
   */
  failure: ErrorCode | null = null;

  constructor(guard: UpstreamGuard, kind: RetryKind | 'hedge') {
    this.guard = guard;
    this.kind = kind;
    guard.retries++;
  }

  release(): void {
    const g = this.guard;
    if (g === null) return;
    this.guard = null;
    g.retries--;
  }
}

/** What a try tells its owner. */
export interface TryEvents {
  tryConnected(t: Try): void;
  tryInformational(t: Try, status: number, fields: Fields): void;
  tryHead(t: Try, head: UpstreamHead): boolean;
  tryUpgrade(t: Try, head: UpstreamHead, socket: Duplex, rest: Buffer): void;
  tryData(t: Try, chunk: Buffer): boolean;
  tryEnd(t: Try, trailers: Fields | null): void;
  tryError(t: Try, err: Error): void;
  tryReadEnd(t: Try): void;
}

export class Try implements UpstreamHandler {
  readonly owner: TryEvents;
  readonly target: TargetState;
  readonly guard: UpstreamGuard;
  /** The retry (or hedge) place this try holds, released when it ends; null for a first try. */
  readonly reservation: RetryReservation | null;
  /** Whether this try was handed the client's body as it streams (not a replayed copy). */
  readonly usesStream: boolean;
  readonly dispatchMs: number;
  /** The node's admission of this try (a worker's primary counts it), handed back once; 0: none. */
  private grant: number;
  call: UpstreamCall | null = null;
  connected = false;
  /** Given up by its owner (lost a hedge, timed out, client gone): later events only clean up. */
  retired = false;
  /** Reading a retryable status's body to the end (keeping the connection) before the retry. */
  discarding = false;
  discarded = 0;
  /** The retry that follows this discarded answer, reserved when its head arrived. */
  nextRetry: RetryReservation | null = null;
  /** The response status, once its head arrived. */
  status = 0;
  /** A sticky-session `Set-Cookie` pinning this try's target, sent if this try answers. */
  stickyCookie: string | null = null;
  /** The TLS server name the try's connection uses ('' for none), for failure logs. */
  servername = '';
  /** The per-try timeout, while armed. */
  timer: TimerHandle | null = null;
  /** Its client span (null when tracing is off). */
  span: TrySpan | null = null;
  private open = true;

  constructor(
    owner: TryEvents,
    target: TargetState,
    guard: UpstreamGuard,
    reservation: RetryReservation | null,
    usesStream: boolean,
    nowMs: number,
    grant: number,
  ) {
    this.owner = owner;
    this.target = target;
    this.guard = guard;
    this.reservation = reservation;
    this.usesStream = usesStream;
    this.dispatchMs = nowMs;
    this.grant = grant;
    target.start();
    guard.active++;
    guard.pending++;
  }

  /** Whether the try still counts against its target (finish() not yet called). */
  get live(): boolean {
    return this.open;
  }

  /**
   * End the try's bookkeeping, once. `outcome` is what passive health learns from it: the status,
   * `tcp` or `timeout` for a transport failure, or null when it says nothing of the target (a
   * cancelled hedge, a client that went away, a failure of the proxy's own).
   */
  finish(outcome: Outcome | null, health: { reportOutcome(t: TargetState, o: Outcome): void }): void {
    if (!this.open) return;
    this.open = false;
    const g = this.guard;
    g.active--;
    if (!this.connected) g.pending--;
    this.reservation?.release();
    if (this.grant !== 0) {
      g.link!.release(this.grant);
      this.grant = 0;
    }
    this.target.done(outcome !== 'tcp' && outcome !== 'timeout');
    if (outcome !== null) health.reportOutcome(this.target, outcome);
    if (this.span !== null) this.span.end(this, outcome);
  }

  /** Give the try up: abort its call (the pool closes that connection). */
  retire(err?: Error): void {
    if (this.retired) return;
    this.retired = true;
    this.call?.abort(err);
  }

  // ---- UpstreamHandler: the pool's events, forwarded ----

  onConnected(): void {
    if (this.connected) return;
    this.connected = true;
    if (this.open) {
      this.guard.pending--;
      if (this.grant !== 0) this.guard.link!.connected(this.grant);
    }
    this.owner.tryConnected(this);
  }

  onInformational(status: number, fields: Fields): void {
    this.owner.tryInformational(this, status, fields);
  }

  onHead(head: UpstreamHead): boolean {
    this.status = head.status;
    return this.owner.tryHead(this, head);
  }

  onUpgrade(head: UpstreamHead, socket: Duplex, rest: Buffer): void {
    this.status = head.status;
    this.owner.tryUpgrade(this, head, socket, rest);
  }

  onData(chunk: Buffer): boolean {
    return this.owner.tryData(this, chunk);
  }

  onEnd(trailers: Fields | null): void {
    this.owner.tryEnd(this, trailers);
  }

  onError(err: Error): void {
    if (this.span !== null) this.span.error(err);
    this.owner.tryError(this, err);
  }

  onReadEnd(): void {
    this.owner.tryReadEnd(this);
  }
}
