/**
 * The tries of one exchange: picking a target per try, the retry policy (which failures, backoff,
 * the upstream's retry budget and circuit breakers), per-try and whole-request timeouts, and
 * hedging (docs/resilience.md). The Exchange (exchange.ts) extends this with everything about the
 * client's side: routing, the request it sends, and the response it relays. The split keeps each
 * file readable; the state is one object per request, as before.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { type ErrorCode, FulcrumError } from '../core/errors.ts';
import type { Generation, RouteRuntime, ServiceRuntime } from '../runtime/generation.ts';
import type { TargetState } from '../upstreams/target.ts';
import { Attempt, type AttemptOwner } from './attempt.ts';
import type { BodyMeter } from './body.ts';
import type { ProxyCore } from './core.ts';
import type { RetryKind } from './errors.ts';
import { backoffMs, retryAllowed } from './retry.ts';

export abstract class Tries implements AttemptOwner {
  protected readonly core: ProxyCore;
  protected readonly gen: Generation;
  protected readonly req: IncomingMessage;
  protected readonly res: ServerResponse;
  readonly clientIp: string;
  /** The hashing algorithms' key (PickContext), set before the first pick when the upstream hashes. */
  hashKey: string | null = null;
  /** A Set-Cookie value pinning the target (sticky cookie mode), written by the upstream's StickyRuntime. */
  stickyCookie: string | null = null;
  protected route: RouteRuntime | null = null;
  protected service: ServiceRuntime | null = null;
  /** The target of the latest try (the access log's `target`). */
  protected target: TargetState | null = null;
  protected tried: TargetState[] | null = null;
  /** Targets that timed out on this request: never tried again by it. */
  protected timedOut: TargetState[] | null = null;
  protected tries = 0;
  /** The latest try, a hedged try running beside it, and the try whose response is relayed. */
  protected current: Attempt | null = null;
  protected hedged: Attempt | null = null;
  protected winner: Attempt | null = null;
  /** Whether the client's body stream went to a try that may have read it (a retry then needs a replay). */
  protected streamSpent = false;
  /** Counted in the upstream guard's `requests` (the retry budget's base). */
  protected counted = false;
  protected deadline: NodeJS.Timeout | null = null;
  protected deadlinePassed = false;
  protected hedgeTimer: NodeJS.Timeout | null = null;
  protected backoff: NodeJS.Timeout | null = null;
  /** What each try sends: the path (with query) and the header list. */
  protected path = '';
  protected headers: string[] | null = null;
  protected body: BodyMeter | null = null;
  /** For a WebSocket upgrade: the bytes the client sent after its request head; null otherwise. */
  protected readonly upgradeHead: Buffer | null;
  /** The response is over (or the client gone): late events only clean up. */
  protected ended = false;

  constructor(
    core: ProxyCore,
    gen: Generation,
    req: IncomingMessage,
    res: ServerResponse,
    clientIp: string,
    upgradeHead: Buffer | null,
  ) {
    this.core = core;
    this.gen = gen;
    this.req = req;
    this.res = res;
    this.clientIp = clientIp;
    this.upgradeHead = upgradeHead;
  }

  /** Answer locally with a stable error code. `close`: the request framing cannot be trusted. */
  protected abstract fail(code: ErrorCode, close: boolean): void;
  // The attempt events: the exchange decides what each answer means for the client.
  abstract attemptConnect(a: Attempt): void;
  abstract attemptHeaders(
    a: Attempt,
    status: number,
    raw: Buffer[],
    resume: () => void,
    text: string,
  ): boolean;
  abstract attemptData(a: Attempt, chunk: Buffer): boolean;
  abstract attemptUpgrade(a: Attempt, status: number, raw: Buffer[], socket: Duplex): void;
  abstract attemptComplete(a: Attempt, trailers: Buffer[] | null): void;
  abstract attemptError(a: Attempt, err: Error): void;

  /** Send a try to a target picked by the upstream's balancer (excluding those already tried). */
  protected dispatch(isRetry: boolean): void {
    const service = this.service!;
    const upstream = service.upstream;
    const guard = upstream.guard;
    if (!isRetry && !this.counted) {
      this.counted = true;
      guard.requestStarted(this.core.clock.monoMs());
    }
    const breaker = guard.admit();
    if (breaker !== null) {
      if (isRetry) guard.retries--;
      this.core.metrics.overflows.labels({ upstream: upstream.spec.name, breaker }).inc();
      return this.failOrWait('FULCRUM_ERR_UPSTREAM_OVERFLOW');
    }
    const t =
      upstream.sticky === null
        ? upstream.picker.pick(this, this.tried)
        : upstream.sticky.pick(upstream.picker, this, this.req.headers.cookie, this.tried);
    if (t === null) {
      if (isRetry) guard.retries--;
      return this.failOrWait('FULCRUM_ERR_NO_HEALTHY_TARGET');
    }
    // A target that timed out on this request is not asked again (with one target, the client
    // would wait read_timeout once per retry): the timeout is the answer.
    if (this.timedOut !== null && this.timedOut.includes(t)) {
      if (isRetry) guard.retries--;
      return this.failOrWait('FULCRUM_ERR_UPSTREAM_TIMEOUT');
    }
    let body: BodyMeter | Buffer | null = this.body;
    let usesStream = false;
    if (body !== null) {
      if (this.streamSpent) body = body.replay();
      else usesStream = this.streamSpent = true;
    }
    const now = this.core.clock.monoMs();
    const a = new Attempt(this, t, guard, isRetry, usesStream, now);
    // The pin cookie belongs to this try's target (a hedge or retry picks, and pins, anew).
    a.stickyCookie = this.stickyCookie;
    if (this.current?.live) this.hedged = a;
    else this.current = a;
    this.target = t;
    this.tries++;
    const spec = service.spec;
    const policy = spec.retryPolicy;
    if (policy.perTryTimeoutMs > 0) {
      a.timer = setTimeout(() => this.tryTimedOut(a), policy.perTryTimeoutMs);
      a.timer.unref();
    }
    service.pools.get(t)!.dispatch(
      {
        path: this.path,
        method: this.req.method as Dispatcher.HttpMethod,
        headers: this.headers!,
        body,
        headersTimeout: spec.readTimeoutMs,
        bodyTimeout: spec.readTimeoutMs,
        upgrade: this.upgradeHead === null ? null : 'websocket',
      },
      a,
    );
  }

  /**
   * After a failed try: retry on another target when the policy, the method, the body and the
   * upstream's budget allow; else answer with the failure (or, with a hedged try still running,
   * wait for it). `code` null: the try answered a retryable status, which is relayed if no retry.
   */
  protected retryOrFail(a: Attempt, kind: RetryKind | null, code: ErrorCode): void {
    if (this.ended || this.res.headersSent || this.otherLive(a)) return;
    this.avoid(a.target);
    if (kind === 'timeout') {
      if (this.timedOut === null) this.timedOut = [a.target];
      else this.timedOut.push(a.target);
    }
    if (kind !== null && this.retryable(kind) && this.reserveRetry(kind)) return this.launchRetry();
    this.fail(code, this.body !== null);
  }

  /** A retryable status's body has been read: retry (the retry was reserved when its head arrived). */
  protected afterDiscard(a: Attempt): void {
    if (!a.isRetryReserved) return;
    a.isRetryReserved = false;
    if (this.ended || this.res.headersSent || this.winner !== null) {
      this.service!.upstream.guard.retries--;
      return;
    }
    this.avoid(a.target);
    this.launchRetry();
  }

  /** Take a place in the retry budget (and count the retry), or count the overflow and refuse. */
  protected reserveRetry(kind: RetryKind | 'hedge'): boolean {
    const guard = this.service!.upstream.guard;
    const breaker = guard.admitRetry(kind, this.core.clock.monoMs());
    if (breaker !== null) {
      this.core.metrics.overflows.labels({ upstream: guard.upstream, breaker }).inc();
      return false;
    }
    guard.retries++;
    this.core.metrics.retries.labels({ upstream: guard.upstream, reason: kind }).inc();
    return true;
  }

  /** Whether a failure of this kind may be retried now (policy, tries left, method, body). */
  protected retryable(kind: RetryKind): boolean {
    const spec = this.service!.spec;
    if (this.tries > spec.retries || this.ended || this.deadlinePassed) return false;
    if (!retryAllowed(kind, spec.retryPolicy, this.req.method ?? 'GET', this.route!.spec.retryNonIdempotent))
      return false;
    // The body must still be unread, or kept whole for a replay.
    return this.body === null || !this.streamSpent || this.body.replay() !== null;
  }

  /** Send the reserved retry after its backoff. */
  protected launchRetry(): void {
    const service = this.service!;
    const guard = service.upstream.guard;
    const wait = backoffMs(service.spec.retryPolicy, this.tries, this.core.rng);
    if (wait <= 0) return this.dispatch(true);
    this.backoff = setTimeout(() => {
      this.backoff = null;
      if (this.ended || this.res.headersSent) guard.retries--;
      else this.dispatch(true);
    }, wait);
  }

  /** The per-try timeout: give the try up and retry it under `timeout`, or answer 504. */
  protected tryTimedOut(a: Attempt): void {
    a.timer = null;
    if (a.retired || !a.live || this.winner !== null) return;
    this.core.reportOutcome(a.target, 'timeout');
    a.retire(new FulcrumError('FULCRUM_ERR_UPSTREAM_TIMEOUT'));
    a.finish(false);
    if (this.ended || this.res.headersSent) return;
    this.retryOrFail(a, 'timeout', 'FULCRUM_ERR_UPSTREAM_TIMEOUT');
  }

  /** Start the `request_timeout` clock (once; not after the response head arrived). */
  protected armDeadline(ms: number): void {
    if (this.ended || this.winner !== null || this.deadline !== null || this.deadlinePassed) return;
    this.deadline = setTimeout(() => this.onDeadline(), ms);
    this.deadline.unref();
  }

  /** `request_timeout`: no response headers in time, across every try: 504, nothing retried. */
  protected onDeadline(): void {
    this.deadline = null;
    this.deadlinePassed = true;
    if (this.ended || this.winner !== null) return;
    // The tries still waiting for a head timed out as far as passive health is concerned.
    for (const a of [this.current, this.hedged])
      if (a !== null && a.live && !a.retired) this.core.reportOutcome(a.target, 'timeout');
    this.cancelTries(null);
    this.fail('FULCRUM_ERR_UPSTREAM_TIMEOUT', this.body !== null);
  }

  /** `hedge_delay`: the first try is slow to answer; send one more to another target. */
  protected onHedge(): void {
    this.hedgeTimer = null;
    const cur = this.current;
    if (this.ended || this.winner !== null || cur === null || !cur.live || this.hedged !== null) return;
    if (this.tries > this.service!.spec.retries || !this.reserveRetry('hedge')) return;
    this.avoid(cur.target);
    this.dispatch(true);
  }

  /** A try won: stop the clocks and cancel any other try still running. */
  protected settle(winner: Attempt): void {
    this.clearTimers();
    this.cancelTries(winner);
  }

  /** Give up every try still running except `keep` (runs once per request: no array built). */
  protected cancelTries(keep: Attempt | null, err?: Error): void {
    cancelTry(this.current, keep, err);
    cancelTry(this.hedged, keep, err);
  }

  /** Whether a try other than `a` is still running (a hedge), so `a`'s failure need not end the request. */
  protected otherLive(a: Attempt): boolean {
    const o = a === this.current ? this.hedged : this.current;
    return o !== null && o !== a && o.live && !o.retired;
  }

  /** Fail, unless a hedged try is still running and may yet answer. */
  protected failOrWait(code: ErrorCode): void {
    const cur = this.current;
    if (cur?.live && !cur.retired) return;
    this.fail(code, false);
  }

  /** Leave this target out of the next picks. */
  protected avoid(t: TargetState): void {
    if (this.tried === null) this.tried = [t];
    else this.tried.push(t);
  }

  protected clearTimers(): void {
    if (this.deadline !== null) {
      clearTimeout(this.deadline);
      this.deadline = null;
    }
    if (this.hedgeTimer !== null) {
      clearTimeout(this.hedgeTimer);
      this.hedgeTimer = null;
    }
    if (this.backoff !== null) {
      clearTimeout(this.backoff);
      this.backoff = null;
    }
  }
}

function cancelTry(a: Attempt | null, keep: Attempt | null, err: Error | undefined): void {
  if (a !== null && a !== keep && a.live) {
    a.retire(err);
    a.finish(true);
  }
}
