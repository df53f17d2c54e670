/**
 * Why a target failed, in the application log: once per target per interval, not once per
 * request. A dead target under load fails thousands of tries a second; an operator needs the first
 * one with its cause (connection refused, host not found, certificate verify failed for which
 * name, reset, timeout) and then a count, as nginx's `upstream ... failed (111: Connection
 * refused) while connecting to upstream` does without the flood.
 *
 * The first failure of a target logs at once (warn) and opens an interval of `intervalMs`. Failures
 * within it are only counted, by cause; when it ends a timer logs one line with the count of
 * suppressed repeats, their causes and the last one's detail, and opens the next interval. So a
 * target that keeps failing gives one line per interval. An interval that ends without a failure
 * closes: the next failure is logged in full at once. State is one small object per failing
 * target, reused: after its first line a failure costs a Map lookup, a classification and a few
 * increments.
 */
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.ts';

export const TARGET_LOG_INTERVAL_MS = 10_000;

/** What noteFailure needs of a target (a TargetState fits). */
export interface FailedTarget {
  /** `upstream/host:port`, unique. */
  readonly key: string;
  readonly upstream: string;
  /** `host:port`. */
  readonly target: string;
}

/** A failure's cause, classified: `kind` is stable (docs/observability.md), `detail` says more. */
export interface FailureCause {
  readonly kind:
    | 'connection-refused'
    | 'host-not-found'
    | 'certificate'
    | 'reset'
    | 'timeout'
    | 'unreachable'
    | 'protocol'
    | 'other';
  /** The error code seen (ECONNREFUSED, DEPTH_ZERO_SELF_SIGNED_CERT, ...), or ''. */
  readonly code: string;
  readonly detail: string;
}

const CERT_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
const TIMEOUT_CODES = new Set([
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'FULCRUM_ERR_UPSTREAM_TIMEOUT',
]);
const RESET_CODES = new Set([
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_HTTP2_SESSION_ERROR',
  'ERR_HTTP2_GOAWAY_SESSION',
  'FULCRUM_ERR_UPSTREAM_RESET',
]);

interface ErrorLike {
  code?: unknown;
  message?: unknown;
  cause?: unknown;
  hostname?: unknown;
  host?: unknown;
  reason?: unknown;
}

/** The first error in the cause chain (undici wraps socket errors) that carries a string code. */
function coded(e: unknown): ErrorLike | null {
  let cur: unknown = e;
  for (let depth = 0; depth < 5 && cur !== null && typeof cur === 'object'; depth++) {
    const x = cur as ErrorLike;
    if (typeof x.code === 'string' && x.code !== 'UND_ERR_SOCKET') return x;
    cur = x.cause;
  }
  return e !== null && typeof e === 'object' ? (e as ErrorLike) : null;
}

/**
 * Classify a failure: an Error (from a socket, tls, undici or http2), a string code, or anything
 * else. `servername` is the name the certificate was checked against (the SNI sent), when known.
 */
export function classifyFailure(failure: unknown, servername?: string): FailureCause {
  if (typeof failure === 'string') return classifyFailure({ code: failure, message: failure }, servername);
  const e = coded(failure);
  const code = e !== null && typeof e.code === 'string' ? e.code : '';
  const message = e !== null && typeof e.message === 'string' ? e.message : String(failure);
  if (code === 'ECONNREFUSED') return { kind: 'connection-refused', code, detail: 'connection refused' };
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
    const host = typeof e?.hostname === 'string' ? ` ${JSON.stringify(e.hostname)}` : '';
    return { kind: 'host-not-found', code, detail: `host${host} not found (DNS ${code})` };
  }
  if (CERT_CODES.has(code) || /certificate|self[- ]signed/i.test(message)) {
    const name = typeof e?.host === 'string' ? e.host : servername;
    const why = typeof e?.reason === 'string' ? e.reason : message;
    return {
      kind: 'certificate',
      code,
      detail: `certificate verify failed${name ? ` for ${JSON.stringify(name)}` : ''}: ${why}`,
    };
  }
  if (TIMEOUT_CODES.has(code) || /timed? ?out/i.test(message))
    return { kind: 'timeout', code, detail: message };
  if (RESET_CODES.has(code) || /socket hang up|other side closed|reset/i.test(message))
    return { kind: 'reset', code, detail: message };
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL')
    return { kind: 'unreachable', code, detail: message };
  if (code.startsWith('HPE_') || code === 'UND_ERR_INFO' || code === 'FULCRUM_ERR_UPSTREAM_BAD_RESPONSE')
    return { kind: 'protocol', code, detail: message };
  return { kind: 'other', code, detail: message };
}

interface Window {
  readonly target: FailedTarget;
  /** When the interval opened by the last logged failure ends (clock.monoMs()). */
  until: number;
  suppressed: number;
  /** Suppressed failures by kind, for the summary, and the last one's cause. */
  readonly kinds: Map<FailureCause['kind'], number>;
  last: FailureCause | null;
  timer: TimerHandle | null;
}

export class TargetFailureLog {
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly windows = new Map<string, Window>();

  constructor(log: Logger, clock: Clock, intervalMs = TARGET_LOG_INTERVAL_MS) {
    this.log = log;
    this.clock = clock;
    this.intervalMs = intervalMs;
  }

  /**
   * A try to `target` failed with `failure` (an Error, or a code string). Logs it when it is the
   * first in this target's interval; counts it otherwise.
   */
  noteFailure(target: FailedTarget, failure: unknown, servername?: string): void {
    const now = this.clock.monoMs();
    const w = this.windows.get(target.key);
    if (w !== undefined && w.timer !== null && now >= w.until) {
      // The summary's timer is late (a busy event loop): write it before this failure is counted.
      this.clock.clearTimer(w.timer);
      this.flush(w);
    }
    if (w !== undefined && now < w.until) {
      const cause = classifyFailure(failure, servername);
      w.suppressed++;
      w.kinds.set(cause.kind, (w.kinds.get(cause.kind) ?? 0) + 1);
      w.last = cause;
      if (w.timer === null) w.timer = this.clock.setTimer(w.until - now, summarize, { log: this, w });
      return;
    }
    // No interval open (or the last one ended quietly): log this one in full.
    const cause = classifyFailure(failure, servername);
    this.log.warn(
      { upstream: target.upstream, target: target.target, cause: cause.kind, code: cause.code || undefined },
      `target ${target.target} of upstream ${target.upstream} failed: ${cause.detail}`,
    );
    if (w === undefined)
      this.windows.set(target.key, {
        target,
        until: now + this.intervalMs,
        suppressed: 0,
        kinds: new Map(),
        last: null,
        timer: null,
      });
    else w.until = now + this.intervalMs;
  }

  /** Forget targets whose interval ended quietly (a swap removed them, or they recovered). */
  sweep(): void {
    const now = this.clock.monoMs();
    for (const [k, w] of this.windows) if (w.timer === null && now >= w.until) this.windows.delete(k);
  }

  /**
   * The end of an interval (its timer is armed by the first suppressed failure): one summary
   * line, and the next interval opens; it closes in turn if no failure comes during it.
   */
  flush(w: Window): void {
    w.timer = null;
    const kinds = [...w.kinds].map(([k, n]) => `${k} ×${n}`).join(', ');
    this.log.warn(
      {
        upstream: w.target.upstream,
        target: w.target.target,
        suppressed: w.suppressed,
        causes: Object.fromEntries(w.kinds),
      },
      `target ${w.target.target} of upstream ${w.target.upstream}: ${w.suppressed} more failure${w.suppressed === 1 ? '' : 's'} in the last ${Math.round(this.intervalMs / 1000)} s (${kinds}); last: ${w.last?.detail ?? ''}`,
    );
    w.suppressed = 0;
    w.kinds.clear();
    w.last = null;
    w.until = this.clock.monoMs() + this.intervalMs;
  }

  /** Node stop: cancel pending summaries (their counts are lost). */
  stop(): void {
    for (const w of this.windows.values()) if (w.timer !== null) this.clock.clearTimer(w.timer);
    this.windows.clear();
  }
}

function summarize(a: { log: TargetFailureLog; w: Window }): void {
  a.log.flush(a.w);
}
