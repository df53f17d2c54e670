/**
 * The pure parts of the retry policy (docs/resilience.md): which failures a method may retry, and
 * how long to wait before a retry. The exchange adds what only it knows (tries left, the body, the
 * deadline, the upstream's budget).
 */
import type { RetryPolicySpec } from '../config/resilience.ts';
import type { Rng } from '../core/random.ts';
import type { RetryKind } from './errors.ts';

/** RFC 9110 §9.2.2: repeating these has the effect of sending them once. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method);
}

/**
 * Whether the policy retries this kind of failure for this method. A connect failure reached
 * nothing of the target, so any method may go again; every other kind may have reached the
 * application, so only idempotent methods do, unless the route allows the others.
 */
export function retryAllowed(
  kind: RetryKind,
  p: RetryPolicySpec,
  method: string,
  routeAllowsAny: boolean,
): boolean {
  if (kind === 'connect-failure') return p.onConnectFailure;
  const on = kind === 'reset' ? p.onReset : kind === 'timeout' ? p.onTimeout : p.statuses.size > 0;
  return on && (routeAllowsAny || IDEMPOTENT.has(method));
}

/**
 * The wait before a retry when `tries` tries have been sent: "full jitter" (a uniform draw in
 * [0, min(max, base × 2^(tries-1)))), Envoy's default backoff shape.
 */
export function backoffMs(p: RetryPolicySpec, tries: number, rng: Rng): number {
  const ceiling = Math.min(p.backoffMaxMs, p.backoffBaseMs * 2 ** Math.min(Math.max(tries - 1, 0), 30));
  return Math.floor(rng.next() * ceiling);
}
