/**
 * One try of a client-library request against one target: the undici dispatch handler (its legacy
 * onConnect/onHeaders/onData/onComplete/onError interface), forwarding every event to the
 * ClientExchange with itself as the first argument. (The proxy's own tries speak Fulcrum's pool
 * contract instead, src/proxy/try.ts; the library stays on undici's Pool, the public API an
 * application's other requests already use.) Splitting tries from the exchange lets a retry or a
 * hedged try start while an older try is still being drained or cancelled: the older try's late
 * events reach the exchange marked as `retired` and only clean up.
 *
 * An attempt owns the bookkeeping that must happen exactly once per try: the target's in-flight
 * count (start() / done()) and the upstream guard's counters.
 */
import type { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { UpstreamGuard } from '../upstreams/guard.ts';
import type { TargetState } from '../upstreams/target.ts';

export interface AttemptOwner {
  attemptConnect(a: Attempt): void;
  attemptHeaders(a: Attempt, status: number, raw: Buffer[], resume: () => void, text: string): boolean;
  attemptData(a: Attempt, chunk: Buffer): boolean;
  attemptUpgrade(a: Attempt, status: number, raw: Buffer[], socket: Duplex): void;
  attemptComplete(a: Attempt, trailers: Buffer[] | null): void;
  attemptError(a: Attempt, err: Error): void;
}

export class Attempt implements Dispatcher.DispatchHandler {
  readonly owner: AttemptOwner;
  readonly target: TargetState;
  readonly guard: UpstreamGuard;
  /** A retry or hedge: counted in the guard's `retries` while it lasts. */
  readonly isRetry: boolean;
  /** Whether this try was handed the client's body stream (not a replayed buffer). */
  readonly usesStream: boolean;
  readonly dispatchMs: number;
  abort: ((err?: Error) => void) | null = null;
  connected = false;
  /** Given up by the exchange (lost a hedge, timed out, client gone): later events only clean up. */
  retired = false;
  /** Reading a retryable status's body to the end (keeping the connection) before the retry. */
  discarding = false;
  discarded = 0;
  /** The retry that follows the discarded answer holds a place in the retry budget. */
  isRetryReserved = false;
  status = 0;
  /** A sticky-session `Set-Cookie` pinning this try's target, sent if this try answers. */
  stickyCookie: string | null = null;
  /** The per-try timeout, while armed. */
  timer: NodeJS.Timeout | null = null;
  private open = true;

  constructor(
    owner: AttemptOwner,
    target: TargetState,
    guard: UpstreamGuard,
    isRetry: boolean,
    usesStream: boolean,
    nowMs: number,
  ) {
    this.owner = owner;
    this.target = target;
    this.guard = guard;
    this.isRetry = isRetry;
    this.usesStream = usesStream;
    this.dispatchMs = nowMs;
    target.start();
    guard.active++;
    guard.pending++;
  }

  /** Whether the try still counts against its target (done() not yet called). */
  get live(): boolean {
    return this.open;
  }

  /** End the try's bookkeeping once: `ok` is false for a transport failure (passive counters). */
  finish(ok: boolean): void {
    if (!this.open) return;
    this.open = false;
    this.clearTimer();
    this.target.done(ok);
    const g = this.guard;
    g.active--;
    if (!this.connected) g.pending--;
    if (this.isRetry) g.retries--;
  }

  /** Give the try up: abort its connection if it has one (else as soon as it gets one). */
  retire(err?: Error): void {
    if (this.retired) return;
    this.retired = true;
    this.clearTimer();
    if (this.abort !== null) this.abort(err);
  }

  clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (!this.connected) {
      this.connected = true;
      if (this.open) this.guard.pending--;
    }
    if (this.retired) abort();
    else this.owner.attemptConnect(this);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    return this.owner.attemptHeaders(this, statusCode, rawHeaders, resume, statusText);
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    if (!this.connected) {
      this.connected = true;
      if (this.live) this.guard.pending--;
    }
    this.owner.attemptUpgrade(this, statusCode, (headers ?? []) as Buffer[], socket);
  }

  onData(chunk: Buffer): boolean {
    return this.owner.attemptData(this, chunk);
  }

  onComplete(trailers: string[] | Buffer[] | null): void {
    this.owner.attemptComplete(this, trailers as Buffer[] | null);
  }

  onError(err: Error): void {
    this.owner.attemptError(this, err);
  }
}
