/**
 * The tries of one request (docs/resilience.md): picking a target per try, the retry policy (which
 * failures, backoff, the upstream's retry budget and circuit breakers), the per-try and whole-request
 * timeouts, and hedging. A part the Exchange owns and drives; it reports back through `TriesHost`
 * (the first head that wins, its body, and the answer when no try can be made).
 *
 * Every timer goes through the Clock (a ManualClock fires them on `advance()`), so that deadlines,
 * hedges and backoff are unit-tested on virtual time (test/unit/proxy/tries.test.ts).
 */
import type { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { PickContext } from '../balancers/types.ts';
import type { TimerHandle } from '../core/clock.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { Outcome } from '../health/probe.ts';
import type { Fields } from '../http1/fields.ts';
import type { RequestTrace } from '../observability/trace-hooks.ts';
import type { ServiceRuntime } from '../runtime/generation.ts';
import type { Breaker, UpstreamGuard } from '../upstreams/guard.ts';
import type { TargetState } from '../upstreams/target.ts';
import { UpstreamError, type UpstreamHead, type UpstreamRequest } from '../upstreams/upstream-call.ts';
import type { BodyChannel } from './body-channel.ts';
import type { ProxyCore } from './core.ts';
import { classifyUpstreamError, type RetryKind, retryKind } from './errors.ts';
import { reportLoad } from './load-report.ts';
import { backoffMs, isIdempotent, retryAllowed } from './retry.ts';
import { RetryReservation, Try, type TryEvents } from './try.ts';

/** A retryable status's body longer than this is not read through before the retry (the connection is dropped). */
const MAX_DISCARD_BYTES = 65536;

/** What the tries need from the request they serve. */
export interface TriesHost extends PickContext {
  readonly core: ProxyCore;
  readonly method: string;
  readonly retryNonIdempotent: boolean;
  /** The request's Cookie header (sticky sessions), if any. */
  readonly cookieHeader: string | undefined;
  /** A sticky Set-Cookie for the try being picked (StickyRuntime writes it). */
  stickyCookie: string | null;
  /** The response is over, or the client is gone: late events only clean up. */
  readonly ended: boolean;
  /** The response head has gone to the client. */
  readonly responding: boolean;
  /** The request's trace: each try gets a client span (null when tracing is off). */
  readonly trace: RequestTrace | null;
  /** What a try to `t` sends; `body` is the stream, a replayed copy, or null. */
  upstreamRequest(t: TargetState, body: BodyChannel | Buffer | null): UpstreamRequest;
  relayInformational(status: number, fields: Fields): void;
  /** The winning try's head (false: the client is full, pause). */
  relayHead(t: Try, head: UpstreamHead): boolean;
  relayUpgrade(t: Try, head: UpstreamHead, socket: Duplex, rest: Buffer): void;
  relayData(chunk: Buffer): boolean;
  relayEnd(trailers: Fields | null): void;
  /** What was relayed of the response may leave for the client now. */
  relayFlush(): void;
  /** No try can answer: reply with this error (`close`: the request's framing is in doubt). */
  fail(code: ErrorCode, close: boolean): void;
  /** The winning try failed after its head was relayed: cut the response. */
  cut(code: ErrorCode): void;
}

export class Tries implements TryEvents {
  private readonly host: TriesHost;
  private readonly core: ProxyCore;
  readonly service: ServiceRuntime;
  private readonly body: BodyChannel | null;
  /** Tries sent so far (the access log's `tries`). */
  count = 0;
  /** The target of the latest try (the access log's `target`). */
  target: TargetState | null = null;
  /** The latest try, a hedged try running beside it, and the try whose response is relayed. */
  private current: Try | null = null;
  private hedged: Try | null = null;
  winner: Try | null = null;
  private tried: TargetState[] | null = null;
  /** Targets that timed out on this request: never tried again by it. */
  private timedOut: TargetState[] | null = null;
  /** Whether the client's body stream went to a try that may have read it (a retry then replays). */
  private streamSpent = false;
  /** Counted in the guard's `requests` (the budgets' base). */
  private counted = false;
  private deadline: TimerHandle | null = null;
  private deadlinePassed = false;
  private hedgeTimer: TimerHandle | null = null;
  private backoff: TimerHandle | null = null;
  /** The retry waiting out its backoff holds this place. */
  private backoffReservation: RetryReservation | null = null;
  /** Milliseconds from dispatch to the winner's head (-1: none). */
  upstreamMs = -1;

  constructor(host: TriesHost, service: ServiceRuntime, body: BodyChannel | null) {
    this.host = host;
    this.core = host.core;
    this.service = service;
    this.body = body;
  }

  /** Send the first try; arm the hedge (bodiless idempotent requests) when the service asks. */
  begin(): void {
    const hedge = this.service.spec.retryPolicy.hedgeDelayMs;
    if (hedge > 0 && this.body === null && isIdempotent(this.host.method))
      this.hedgeTimer = this.core.clock.setTimer(hedge, onHedge, this);
    this.dispatch(null);
  }

  /** Start the whole-request deadline (once; not after a head arrived). */
  armDeadline(ms: number): void {
    if (this.host.ended || this.winner !== null || this.deadline !== null || this.deadlinePassed) return;
    this.deadline = this.core.clock.setTimer(ms, onDeadline, this);
  }

  /** Send a try to a target picked by the upstream's balancer (leaving out those already tried). */
  private dispatch(reservation: RetryReservation | null): void {
    const service = this.service;
    const upstream = service.upstream;
    const guard = upstream.guard;
    const clock = this.core.clock;
    if (!this.counted) {
      this.counted = true;
      guard.requestStarted(clock.monoMs());
    }
    // In a worker, the node's counts are the primary's (src/workers/breakers.ts): a try that a
    // limit (or, for a retry, the budget) may refuse waits for its answer.
    if (guard.link !== null && asksNode(guard, reservation)) return admit(this, guard, reservation);
    const breaker = guard.admit();
    if (breaker !== null) {
      reservation?.release();
      this.core.metrics.overflows.labels({ upstream: upstream.spec.name, breaker }).inc();
      return this.failOrWait('FULCRUM_ERR_UPSTREAM_OVERFLOW');
    }
    this.send(reservation, 0);
  }

  /** The node admitted a try (a worker's primary), or refused it with `refused`. */
  admitted(reservation: RetryReservation | null, grant: number, refused: Breaker | null): void {
    const guard = this.service.upstream.guard;
    const host = this.host;
    if (refused !== null) {
      reservation?.release();
      guard.refused(refused);
      this.core.metrics.overflows.labels({ upstream: guard.upstream, breaker: refused }).inc();
      if (host.ended || host.responding || this.winner !== null) return;
      // A retry refused: the client gets the failure it follows, as in one process.
      const failure = reservation?.failure ?? null;
      if (failure !== null && !this.current?.live) return host.fail(failure, this.body !== null);
      return this.failOrWait('FULCRUM_ERR_UPSTREAM_OVERFLOW');
    }
    // The request no longer needs it (answered, timed out, client gone) while the primary decided.
    if (host.ended || host.responding || this.winner !== null || this.deadlinePassed) {
      guard.link!.release(grant);
      reservation?.release();
      return;
    }
    if (reservation !== null)
      this.core.metrics.retries.labels({ upstream: guard.upstream, reason: reservation.kind }).inc();
    this.send(reservation, grant);
  }

  /** Send an admitted try (`grant`: the node's admission to hand back when it ends, or 0). */
  private send(reservation: RetryReservation | null, grant: number): void {
    const host = this.host;
    const service = this.service;
    const upstream = service.upstream;
    const guard = upstream.guard;
    const clock = this.core.clock;
    const t =
      upstream.sticky === null
        ? upstream.picker.pick(host, this.tried)
        : upstream.sticky.pick(upstream.picker, host, host.cookieHeader, this.tried);
    if (t === null) {
      reservation?.release();
      guard.link?.release(grant);
      return this.failOrWait('FULCRUM_ERR_NO_HEALTHY_TARGET');
    }
    // A target that timed out on this request is not asked again (with one target, the client
    // would wait read_timeout once per retry): the timeout is the answer.
    if (this.timedOut?.includes(t)) {
      reservation?.release();
      guard.link?.release(grant);
      return this.failOrWait('FULCRUM_ERR_UPSTREAM_TIMEOUT');
    }
    let body: BodyChannel | Buffer | null = this.body;
    let usesStream = false;
    if (body !== null) {
      if (this.streamSpent) body = body.replay();
      else usesStream = this.streamSpent = true;
    }
    const a = new Try(this, t, guard, reservation, usesStream, clock.monoMs(), grant);
    // The pin cookie belongs to this try's target (a hedge or retry picks, and pins, anew).
    a.stickyCookie = host.stickyCookie;
    if (this.current?.live) this.hedged = a;
    else this.current = a;
    this.target = t;
    this.count++;
    const perTry = service.spec.retryPolicy.perTryTimeoutMs;
    if (perTry > 0) a.timer = clock.setTimer(perTry, onTryTimeout, a);
    if (host.trace !== null) host.trace.startTry(a, service);
    const req = host.upstreamRequest(t, body);
    a.servername = req.servername;
    a.call = service.pools.get(t)!.dispatch(req, a);
  }

  // ---- try events ----

  tryConnected(a: Try): void {
    if (this.host.ended) a.retire();
  }

  tryInformational(a: Try, status: number, fields: Fields): void {
    if (a.retired || this.host.ended || this.hedged !== null) return;
    this.host.relayInformational(status, fields);
  }

  tryHead(a: Try, head: UpstreamHead): boolean {
    const host = this.host;
    if (a.retired || host.ended) return false;
    this.clearTryTimer(a);
    const now = this.core.clock.monoMs();
    const latency = now - a.dispatchMs;
    const upstream = this.service.upstream;
    upstream.headerLatency.observe(latency / 1000);
    a.target.observeLatency(latency, now);
    if (upstream.loadHeader !== null) reportLoad(head.fields, upstream.loadHeader, a.target, now);
    if (this.service.spec.retryPolicy.statuses.has(head.status)) {
      // Read a refused answer to its end (keeping the connection), then retry; unless no retry is
      // allowed, in which case the client gets this answer. A hedged try still running makes it moot.
      if (this.otherLive(a)) {
        a.discarding = true;
        return true;
      }
      if (this.retryable('http-status')) {
        const r = this.reserveRetry('http-status');
        if (r !== null) {
          a.discarding = true;
          a.nextRetry = r;
          return true;
        }
      }
    }
    this.winner = a;
    this.upstreamMs = latency;
    this.settle(a);
    return host.relayHead(a, head);
  }

  tryUpgrade(a: Try, head: UpstreamHead, socket: Duplex, rest: Buffer): void {
    if (a.retired || this.host.ended || this.host.responding) {
      socket.destroy();
      this.finish(a, null);
      return;
    }
    this.winner = a;
    this.upstreamMs = this.core.clock.monoMs() - a.dispatchMs;
    this.settle(a);
    this.clearTryTimer(a);
    // The try stays in flight (least-connections counts open tunnels) until the tunnel closes.
    this.host.relayUpgrade(a, head, socket, rest);
  }

  tryData(a: Try, chunk: Buffer): boolean {
    if (a.discarding) {
      a.discarded += chunk.length;
      // A long error body is not worth reading through: drop the connection instead.
      if (a.discarded > MAX_DISCARD_BYTES) a.retire();
      return true;
    }
    if (this.host.ended || a !== this.winner) return false;
    return this.host.relayData(chunk);
  }

  tryEnd(a: Try, trailers: Fields | null): void {
    // Passive health sees the status once the whole response arrived (one cut short is a tcp failure).
    this.finish(a, a.discarding || !a.retired ? a.status : null);
    if (a.discarding) return this.afterDiscard(a);
    if (this.host.ended || a !== this.winner) return;
    this.host.relayEnd(trailers);
  }

  tryReadEnd(a: Try): void {
    if (a === this.winner && !this.host.ended) this.host.relayFlush();
  }

  tryError(a: Try, err: Error): void {
    const host = this.host;
    if (a.discarding) {
      this.finish(a, a.status);
      return this.afterDiscard(a);
    }
    if (a.retired) {
      // Given up on already (hedge lost, per-try timeout, client gone): its outcome was counted then.
      this.finish(a, null);
      return;
    }
    const code = classifyUpstreamError(err);
    const transport =
      code !== 'FULCRUM_ERR_PAYLOAD_TOO_LARGE' &&
      code !== 'FULCRUM_ERR_CLIENT_ABORTED' &&
      code !== 'FULCRUM_ERR_INTERNAL';
    // Passive health checks count transport failures by kind (Kong's tcp_failures and timeouts).
    this.finish(a, transport ? (code === 'FULCRUM_ERR_UPSTREAM_TIMEOUT' ? 'timeout' : 'tcp') : null);
    if (transport) this.core.targetLog.noteFailure(a.target, loggable(err), a.servername);
    // A try that never connected left the body stream unread: the next try may take it.
    if (a.usesStream && !a.connected) this.streamSpent = false;
    if (host.ended) return;
    if (a === this.winner) return host.cut(code);
    this.retryOrFail(a, retryKind(err, code), code);
  }

  // ---- retries ----

  /**
   * After a failed try: retry on another target when the policy, the method, the body and the
   * upstream's budget allow; else answer with the failure (or, with a hedged try still running,
   * wait for it).
   */
  private retryOrFail(a: Try, kind: RetryKind | null, code: ErrorCode): void {
    if (this.host.ended || this.host.responding || this.otherLive(a)) return;
    this.avoid(a.target);
    if (kind === 'timeout') {
      if (this.timedOut === null) this.timedOut = [];
      this.timedOut.push(a.target);
    }
    if (kind !== null && this.retryable(kind)) {
      const r = this.reserveRetry(kind);
      if (r !== null) {
        r.failure = code;
        return this.launchRetry(r);
      }
    }
    this.host.fail(code, this.body !== null);
  }

  /** A retryable status's body has been read: retry (its place was reserved when its head arrived). */
  private afterDiscard(a: Try): void {
    const r = a.nextRetry;
    if (r === null) return;
    a.nextRetry = null;
    if (this.host.ended || this.host.responding || this.winner !== null) return r.release();
    this.avoid(a.target);
    this.launchRetry(r);
  }

  /** Take a place in the retry budget (and count the retry), or count the overflow and refuse. */
  private reserveRetry(kind: RetryKind | 'hedge'): RetryReservation | null {
    const guard = this.service.upstream.guard;
    // In a worker the node's budget and max_retries are the primary's: asked when the retry is sent.
    if (guard.link !== null) return new RetryReservation(guard, kind);
    const breaker = guard.admitRetry(kind, this.core.clock.monoMs());
    if (breaker !== null) {
      this.core.metrics.overflows.labels({ upstream: guard.upstream, breaker }).inc();
      return null;
    }
    this.core.metrics.retries.labels({ upstream: guard.upstream, reason: kind }).inc();
    return new RetryReservation(guard, kind);
  }

  /** Whether a failure of this kind may be retried now (policy, tries left, method, body). */
  private retryable(kind: RetryKind): boolean {
    const spec = this.service.spec;
    if (this.count > spec.retries || this.host.ended || this.deadlinePassed) return false;
    if (!retryAllowed(kind, spec.retryPolicy, this.host.method, this.host.retryNonIdempotent)) return false;
    // The body must still be unread, or kept whole for a replay.
    const b = this.body;
    return b === null || !this.streamSpent || b.replay() !== null;
  }

  /** Send the reserved retry after its backoff. */
  private launchRetry(r: RetryReservation): void {
    const wait = backoffMs(this.service.spec.retryPolicy, this.count, this.core.rng);
    if (wait <= 0) return this.dispatch(r);
    this.backoffReservation = r;
    this.backoff = this.core.clock.setTimer(wait, onBackoff, this);
  }

  backoffOver(): void {
    this.backoff = null;
    const r = this.backoffReservation!;
    this.backoffReservation = null;
    if (this.host.ended || this.host.responding) r.release();
    else this.dispatch(r);
  }

  /** The per-try timeout: give the try up and retry it under `timeout`, or answer 504. */
  tryTimedOut(a: Try): void {
    a.timer = null;
    if (a.retired || !a.live || this.winner !== null) return;
    a.retire();
    this.finish(a, 'timeout');
    this.core.targetLog.noteFailure(a.target, PER_TRY_TIMEOUT, a.servername);
    if (this.host.ended || this.host.responding) return;
    this.retryOrFail(a, 'timeout', 'FULCRUM_ERR_UPSTREAM_TIMEOUT');
  }

  /** `request_timeout`: no response head in time, across every try: 504, nothing retried. */
  deadlineOver(): void {
    this.deadline = null;
    this.deadlinePassed = true;
    if (this.host.ended || this.winner !== null) return;
    // The tries still waiting for a head timed out as far as passive health is concerned.
    for (const a of [this.current, this.hedged])
      if (a?.live && !a.retired) this.core.targetLog.noteFailure(a.target, DEADLINE, a.servername);
    this.cancelTries(null, 'timeout');
    this.host.fail('FULCRUM_ERR_UPSTREAM_TIMEOUT', this.body !== null);
  }

  /** `hedge_delay`: the first try is slow to answer; send one more to another target. */
  hedgeDue(): void {
    this.hedgeTimer = null;
    const cur = this.current;
    if (this.host.ended || this.winner !== null || cur === null || !cur.live || this.hedged !== null) return;
    if (this.count > this.service.spec.retries) return;
    const r = this.reserveRetry('hedge');
    if (r === null) return;
    this.avoid(cur.target);
    this.dispatch(r);
  }

  // ---- helpers ----

  /** A try won: stop the clocks and cancel any other try still running. */
  private settle(winner: Try): void {
    this.clearTimers();
    this.cancelTries(winner, null);
  }

  /** Give up every try still running but `keep`, telling passive health `outcome` of each. */
  cancelTries(keep: Try | null, outcome: Outcome | null): void {
    for (const a of [this.current, this.hedged]) {
      if (a === null || a === keep || !a.live) continue;
      a.retire();
      this.finish(a, outcome);
    }
  }

  /** Whether a try other than `a` is still running (a hedge), so `a`'s failure need not end the request. */
  private otherLive(a: Try): boolean {
    const o = a === this.current ? this.hedged : this.current;
    return o !== null && o !== a && o.live && !o.retired;
  }

  /** Fail, unless a hedged try is still running and may yet answer. */
  private failOrWait(code: ErrorCode): void {
    const cur = this.current;
    if (cur?.live && !cur.retired) return;
    this.host.fail(code, false);
  }

  private avoid(t: TargetState): void {
    if (this.tried === null) this.tried = [t];
    else this.tried.push(t);
  }

  private finish(a: Try, outcome: Outcome | null): void {
    this.clearTryTimer(a);
    a.finish(outcome, this.core);
  }

  private clearTryTimer(a: Try): void {
    if (a.timer !== null) {
      this.core.clock.clearTimer(a.timer);
      a.timer = null;
    }
  }

  private clearTimers(): void {
    const clock = this.core.clock;
    if (this.deadline !== null) {
      clock.clearTimer(this.deadline);
      this.deadline = null;
    }
    if (this.hedgeTimer !== null) {
      clock.clearTimer(this.hedgeTimer);
      this.hedgeTimer = null;
    }
    if (this.backoff !== null) {
      clock.clearTimer(this.backoff);
      this.backoff = null;
    }
  }

  /** The request is over: stop the clocks, give back what it held. */
  end(): void {
    this.clearTimers();
    this.backoffReservation?.release();
    this.backoffReservation = null;
    // Tries still running (the winner's, when the client left mid-response) say nothing of
    // their targets: the client went away, or the tunnel closed.
    this.cancelTries(null, null);
    if (this.counted) {
      this.counted = false;
      this.service.upstream.guard.requestEnded();
    }
  }
}

const DEADLINE = { code: 'ETIMEDOUT', message: 'no response head within request_timeout' };
const PER_TRY_TIMEOUT = { code: 'ETIMEDOUT', message: 'no response head within per_try_timeout' };

/** Codes for the failure log (target-log.ts) where the pool's error has no system code. */
const FAILURE_CODES: Record<string, string> = {
  timeout: 'ETIMEDOUT',
  'connect-timeout': 'ETIMEDOUT',
  'write-timeout': 'ETIMEDOUT',
  reset: 'ECONNRESET',
  'bad-response': 'FULCRUM_ERR_UPSTREAM_BAD_RESPONSE',
};

/** The error as the failure log classifies it: its system code, or one for its failure kind. */
function loggable(err: Error): unknown {
  if (!(err instanceof UpstreamError) || err.code !== '') return err;
  return { code: FAILURE_CODES[err.failure] ?? '', message: err.message };
}

/**
 * Whether a try must be admitted by the node's primary: a first try when a limit on tries is set;
 * a retry always (the budget is the node's), but after a connect failure only when `max_retries`
 * or a limit on tries is set (such a retry is charged to no budget).
 */
function asksNode(guard: UpstreamGuard, r: RetryReservation | null): boolean {
  if (r === null || r.kind === 'connect-failure') return guard.limitsTries;
  return true;
}

/** Ask the node's primary for a try; `Tries.admitted` takes the answer. */
function admit(tries: Tries, guard: UpstreamGuard, r: RetryReservation | null): void {
  guard.link!.admit(guard, r === null ? null : r.kind, (grant, refused) => tries.admitted(r, grant, refused));
}

// Timer callbacks: static functions, one argument (no closure per request).
function onDeadline(t: Tries): void {
  t.deadlineOver();
}
function onHedge(t: Tries): void {
  t.hedgeDue();
}
function onBackoff(t: Tries): void {
  t.backoffOver();
}
function onTryTimeout(a: Try): void {
  (a.owner as Tries).tryTimedOut(a);
}
