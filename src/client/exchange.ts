/**
 * One request through the client library, and its tries: the state machine the proxy's
 * Tries (src/proxy/tries.ts) runs, on the client's side of undici. Each
 * try picks a target with the upstream's balancer stack, is dispatched to that target's Pool with a
 * Attempt as its handler, and on failure is retried per the service's policy (the proxy's pure
 * functions in src/proxy/retry.ts and errors.ts), within the upstream's circuit breakers and retry
 * budget (src/upstreams/guard.ts). Passive health, peak-EWMA latency and load reports are fed as
 * the forwarder feeds them. The application's handler sees one request: connect once, one response
 * (a retried status is read to its end and dropped), or one error.
 *
 * Bodies: a string or bytes body is sent again on a retry; a stream or iterable body is never retried
 * (undici consumes or destroys it on the first try).
 */
import type { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Picker } from '../balancers/types.ts';
import type { RetryPolicySpec } from '../config/resilience.ts';
import type { Clock } from '../core/clock.ts';
import { FulcrumError } from '../core/errors.ts';
import type { Rng } from '../core/random.ts';
import type { Outcome } from '../health/probe.ts';
import { StringFields } from '../http1/fields.ts';
import { reportLoad } from '../proxy/load-report.ts';
import { backoffMs, retryAllowed } from '../proxy/retry.ts';
import type { StickyRuntime } from '../proxy/sticky.ts';
import type { UpstreamGuard } from '../upstreams/guard.ts';
import type { TargetState } from '../upstreams/target.ts';
import { Attempt, type AttemptOwner } from './attempt.ts';
import type { ClientCounts } from './metrics.ts';
import {
  classifyUndiciError as classifyUpstreamError,
  type RetryKind,
  undiciRetryKind as retryKind,
} from './undici-errors.ts';

/** The upstream as configured now: replaced whole when the configuration or the targets change. */
export interface UpstreamView {
  readonly picker: Picker;
  readonly sticky: StickyRuntime | null;
  /** The Pool of each target of this view. */
  readonly pools: ReadonlyMap<TargetState, Dispatcher>;
}

/** What an exchange reads of its dispatcher: fixed settings, and `view` read afresh at every try. */
export interface ExchangeHost {
  readonly view: UpstreamView;
  readonly guard: UpstreamGuard;
  readonly counts: ClientCounts;
  readonly policy: RetryPolicySpec;
  /** Tries after the first (the service's `retries`). */
  readonly retries: number;
  readonly requestTimeoutMs: number;
  readonly retryNonIdempotent: boolean;
  /** `resource`: the load report header (lower case), else null. */
  readonly loadHeader: string | null;
  readonly clock: Clock;
  readonly rng: Rng;
  /** Passive health: a try's status, or `tcp` / `timeout` for a transport failure. */
  report(t: TargetState, o: Outcome): void;
}

/** The legacy handler interface undici's request, stream and fetch use (and Pool speaks). */
export type LegacyHandler = Dispatcher.DispatchHandler;

function replayable(body: Dispatcher.DispatchOptions['body']): boolean {
  return body == null || typeof body === 'string' || body instanceof Uint8Array;
}

/**
 * One request: its tries (each an Attempt, the proxy's per-try handler and bookkeeping), timers and
 * the application's handler. Also its PickContext.
 */
export class ClientExchange implements AttemptOwner {
  readonly host: ExchangeHost;
  readonly opts: Dispatcher.DispatchOptions;
  readonly handler: LegacyHandler;
  /** PickContext: the sticky key (StickyRuntime's source-ip table reads it here), or ''. */
  readonly clientIp: string;
  /** PickContext: the hashing algorithms' key, or null. */
  readonly hashKey: string | null;
  /** StickyRequest: unused by the client (cookie mode is refused), kept for the interface. */
  stickyCookie: string | null = null;
  private tried: TargetState[] | null = null;
  private tries = 0;
  private current: Attempt | null = null;
  private userConnected = false;
  /** The application has the final response head (no retry after that). */
  private committed = false;
  private ended = false;
  private abortReason: Error | null = null;
  private deadlinePassed = false;
  private deadline: NodeJS.Timeout | null = null;
  private backoff: NodeJS.Timeout | null = null;
  private readonly replayable: boolean;
  private abortFn: ((reason?: Error) => void) | null = null;

  constructor(
    host: ExchangeHost,
    opts: Dispatcher.DispatchOptions,
    handler: LegacyHandler,
    hashKey: string | null,
    stickyKey: string,
  ) {
    this.host = host;
    this.opts = opts;
    this.handler = handler;
    this.hashKey = hashKey;
    this.clientIp = stickyKey;
    this.replayable = replayable(opts.body);
  }

  start(): void {
    this.host.guard.requestStarted(this.host.clock.monoMs());
    const ms = this.host.requestTimeoutMs;
    if (ms > 0) this.deadline = setTimeout(() => this.onDeadline(), ms);
    this.dispatchTry(false);
  }

  private dispatchTry(isRetry: boolean): void {
    const host = this.host;
    const guard = host.guard;
    const breaker = guard.admit();
    if (breaker !== null) {
      if (isRetry) guard.retries--;
      return this.fail(new FulcrumError('FULCRUM_ERR_UPSTREAM_OVERFLOW', `circuit breaker open: ${breaker}`));
    }
    const view = host.view;
    const t =
      view.sticky === null
        ? view.picker.pick(this, this.tried)
        : view.sticky.pick(view.picker, this, undefined, this.tried);
    if (t === null) {
      if (isRetry) guard.retries--;
      return this.fail(new FulcrumError('FULCRUM_ERR_NO_HEALTHY_TARGET'));
    }
    const a = new Attempt(this, t, guard, isRetry, false, host.clock.monoMs());
    this.current = a;
    this.tries++;
    const perTry = host.policy.perTryTimeoutMs;
    if (perTry > 0) a.timer = setTimeout(() => this.tryTimedOut(a), perTry);
    view.pools.get(t)!.dispatch(this.opts, a);
  }

  /** The abort function the application's handler gets in onConnect. */
  private abortHandle(): (reason?: Error) => void {
    this.abortFn ??= (reason?: Error) => this.abort(reason ?? new FulcrumError('FULCRUM_ERR_CLIENT_ABORTED'));
    return this.abortFn;
  }

  attemptConnect(_a: Attempt): void {
    if (this.abortReason !== null) return this.current?.retire(this.abortReason);
    if (this.userConnected) return;
    this.userConnected = true;
    this.handler.onConnect?.(this.abortHandle());
  }

  attemptHeaders(a: Attempt, status: number, raw: Buffer[], resume: () => void, text: string): boolean {
    if (a.retired || this.ended) return true;
    if (status < 200) return this.handler.onHeaders?.(status, raw, resume, text) ?? true;
    a.clearTimer();
    const host = this.host;
    const now = host.clock.monoMs();
    a.target.observeLatency(now - a.dispatchMs, now);
    if (host.loadHeader !== null) reportLoad(rawFields(raw), host.loadHeader, a.target, now);
    a.status = status;
    if (
      host.policy.statuses.has(status) &&
      this.retryable('http-status') &&
      this.reserveRetry('http-status')
    ) {
      a.discarding = true;
      return true;
    }
    this.committed = true;
    this.clearTimers();
    host.counts.requests[status < 600 ? Math.floor(status / 100) : 0]!++;
    this.handler.onResponseStarted?.();
    return this.handler.onHeaders?.(status, raw, resume, text) ?? true;
  }

  attemptData(a: Attempt, chunk: Buffer): boolean {
    if (a.retired || a.discarding) return true;
    return this.handler.onData?.(chunk) ?? true;
  }

  attemptComplete(a: Attempt, trailers: Buffer[] | null): void {
    if (a.live && !a.retired) this.host.report(a.target, a.status);
    a.finish(true);
    if (a.discarding) return this.afterDiscard(a);
    if (a.retired || this.ended) return;
    this.end();
    this.handler.onComplete?.(trailers as unknown as string[] | null);
  }

  attemptUpgrade(a: Attempt, status: number, headers: Buffer[], socket: Duplex): void {
    a.finish(true);
    if (a.retired || this.ended) return void socket.destroy();
    this.committed = true;
    this.host.counts.requests[Math.floor(status / 100)]!++;
    this.end();
    this.handler.onUpgrade?.(status, headers, socket);
  }

  attemptError(a: Attempt, err: Error): void {
    if (a.discarding) {
      if (a.live) this.host.report(a.target, a.status);
      a.finish(true);
      return this.afterDiscard(a);
    }
    if (a.retired) return void a.finish(true);
    if (this.abortReason !== null) {
      a.finish(true);
      return this.fail(this.abortReason);
    }
    const code = err instanceof FulcrumError ? err.code : classifyUpstreamError(err);
    const transport = code !== 'FULCRUM_ERR_CLIENT_ABORTED' && code !== 'FULCRUM_ERR_INTERNAL';
    if (transport && a.live)
      this.host.report(a.target, code === 'FULCRUM_ERR_UPSTREAM_TIMEOUT' ? 'timeout' : 'tcp');
    a.finish(!transport);
    if (this.ended) return;
    const kind = this.committed ? null : retryKind(err, code);
    this.retryOrFail(a, kind, err);
  }

  /** After a failed try: another try when the policy, the method, the body and the budget allow. */
  private retryOrFail(a: Attempt, kind: RetryKind | null, err: Error): void {
    this.avoid(a.target);
    if (kind !== null && this.retryable(kind) && this.reserveRetry(kind)) return this.launchRetry();
    this.fail(err);
  }

  /** A retryable status's body has been read: retry (the retry was reserved at its head). */
  private afterDiscard(a: Attempt): void {
    a.discarding = false;
    if (this.ended) {
      this.host.guard.retries--;
      return;
    }
    this.avoid(a.target);
    this.launchRetry();
  }

  private retryable(kind: RetryKind): boolean {
    if (this.tries > this.host.retries || this.ended || this.deadlinePassed || this.abortReason !== null)
      return false;
    if (!retryAllowed(kind, this.host.policy, this.opts.method, this.host.retryNonIdempotent)) return false;
    return this.replayable;
  }

  /** Take a place in the retry budget (and count the retry), or count the overflow and refuse. */
  private reserveRetry(kind: RetryKind): boolean {
    const guard = this.host.guard;
    if (guard.admitRetry(kind, this.host.clock.monoMs()) !== null) return false;
    guard.retries++;
    this.host.counts.retries[kind]++;
    return true;
  }

  private launchRetry(): void {
    const wait = backoffMs(this.host.policy, this.tries, this.host.rng);
    if (wait <= 0) return this.dispatchTry(true);
    this.backoff = setTimeout(() => {
      this.backoff = null;
      if (this.ended) this.host.guard.retries--;
      else this.dispatchTry(true);
    }, wait);
  }

  /** `per_try_timeout`: give the try up and retry it under `timeout`, or fail. */
  private tryTimedOut(a: Attempt): void {
    a.timer = null;
    if (a.retired || !a.live || this.committed || this.ended) return;
    const err = new FulcrumError(
      'FULCRUM_ERR_UPSTREAM_TIMEOUT',
      'no response headers within per_try_timeout',
    );
    this.host.report(a.target, 'timeout');
    a.retire(err);
    a.finish(false);
    this.retryOrFail(a, 'timeout', err);
  }

  /** `request_timeout`: no response head in time across every try. */
  private onDeadline(): void {
    this.deadline = null;
    this.deadlinePassed = true;
    if (this.ended || this.committed) return;
    this.cancel(
      new FulcrumError('FULCRUM_ERR_UPSTREAM_TIMEOUT', 'no response headers within request_timeout'),
    );
  }

  /** The application aborted the request. */
  private abort(reason: Error): void {
    if (this.ended || this.abortReason !== null) return;
    this.abortReason = reason;
    const cur = this.current;
    // A connected try fails with the reason through its own onError (undici's usual path).
    if (cur?.live && cur.abort !== null && !cur.retired) return cur.abort(reason);
    this.cancel(reason);
  }

  /** End the request now with `err`: the running try is given up, a pending retry dropped. */
  private cancel(err: Error): void {
    const cur = this.current;
    if (cur?.live) {
      cur.retire(err);
      cur.finish(true);
    }
    this.fail(err);
  }

  private fail(err: Error): void {
    if (this.ended) return;
    this.end();
    this.host.counts.requests[0]!++;
    this.handler.onError?.(err);
  }

  private end(): void {
    this.ended = true;
    this.host.guard.requests--;
    this.clearTimers();
  }

  private clearTimers(): void {
    if (this.deadline !== null) {
      clearTimeout(this.deadline);
      this.deadline = null;
    }
    if (this.backoff !== null) {
      clearTimeout(this.backoff);
      this.backoff = null;
      // The retry it was waiting to send held a place in the budget.
      this.host.guard.retries--;
    }
  }

  private avoid(t: TargetState): void {
    if (this.tried === null) this.tried = [t];
    else this.tried.push(t);
  }
}

/** undici's raw [name, value, ...] response head as Fields (for the load report). */
function rawFields(raw: readonly Buffer[]): StringFields {
  const flat: string[] = [];
  for (const b of raw) flat.push(b.toString('latin1'));
  return new StringFields(flat);
}
