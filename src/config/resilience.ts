/**
 * Retries, timeouts and circuit breakers: a service's `retry_policy` and `request_timeout`, and an
 * upstream's `circuit_breaker` and `retry_budget` (Fulcrum fields; Kong has only `retries` and the
 * three timeouts), normalized into frozen specs. The shapes follow Envoy's retry policy, retry
 * budget and circuit-breaker thresholds; docs/resilience.md sets each beside Envoy, HAProxy and nginx.
 */
import type { ConfigIssue, ParsedSource, PathPart } from './load.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;
type S = Record<string, unknown>;

const MS_MAX = 2_147_483_646;

/** What makes a try worth repeating on another target. */
export const RETRY_CONDITIONS = ['connect-failure', 'reset', 'timeout', 'http-status'] as const;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];

export interface RetryPolicySpec {
  readonly onConnectFailure: boolean;
  readonly onReset: boolean;
  readonly onTimeout: boolean;
  /** Statuses retried when `http-status` is on (empty when off). */
  readonly statuses: ReadonlySet<number>;
  /** A try's limit from dispatch to response headers; 0: only the service's `read_timeout`. */
  readonly perTryTimeoutMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Request bodies up to this size are kept so that a try can be replayed; 0 keeps none. */
  readonly bufferBodyBytes: number;
  /** Send a second try after this long without response headers (idempotent, bodiless); 0: off. */
  readonly hedgeDelayMs: number;
}

export interface CircuitBreakerSpec {
  /** Connections to each target (HAProxy's server `maxconn`); requests beyond wait as pending. 0: no limit. */
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
  /** Retry budget: retries at most this share of the requests of the last `budgetTtlMs`... */
  readonly budgetPercent: number;
  /** ...plus this many per second, always (the reserve that absorbs one dead target's burst)... */
  readonly budgetMinRetriesPerSec: number;
  readonly budgetTtlMs: number;
  /** ...and, when set (Envoy's form), retries in flight at most `budgetPercent` of active requests or this many. -1: off. */
  readonly budgetMinConcurrency: number;
}

const int = (description: string, min: number, max: number, dflt: number): S => ({
  type: 'integer',
  minimum: min,
  maximum: max,
  default: dflt,
  description,
});

export const retryPolicySchema: S = {
  type: 'object',
  additionalProperties: false,
  description:
    'When and how a failed try is repeated on another target (the count is `retries`). See docs/resilience.md.',
  properties: {
    retry_on: {
      type: 'array',
      items: { type: 'string', enum: [...RETRY_CONDITIONS] },
      uniqueItems: true,
      default: [...RETRY_CONDITIONS],
      description:
        '`connect-failure` (nothing reached the target: any method), `reset` (the connection failed before response headers), `timeout` (no response headers within `per_try_timeout` or `read_timeout`), `http-status` (one of `statuses`). All but `connect-failure` retry idempotent methods only, unless the route sets `retry_non_idempotent`.',
    },
    statuses: {
      type: 'array',
      items: { type: 'integer', minimum: 100, maximum: 599 },
      uniqueItems: true,
      default: [502, 503, 504],
      description: 'Response statuses retried under `http-status`.',
    },
    per_try_timeout: int(
      "Milliseconds from a try's dispatch to its response headers before it is abandoned (and retried under `timeout`); 0: `read_timeout` alone.",
      0,
      MS_MAX,
      0,
    ),
    backoff_base: int(
      'Milliseconds: retry n waits a random time in [0, base × 2^(n-1)) (full jitter), capped by `backoff_max`.',
      0,
      MS_MAX,
      25,
    ),
    backoff_max: int('Milliseconds: the longest wait before a retry.', 0, MS_MAX, 250),
    buffer_body: int(
      'Request bodies up to this many bytes are kept while they stream, so that a try can be replayed after the first one consumed the body; a larger body is retried on connect failures only. 0 keeps none.',
      0,
      16_777_216,
      65536,
    ),
    hedge_delay: int(
      'Milliseconds: for idempotent requests without a body, when a try has no response headers after this long, a second try goes to another target and the first answer wins (the other is cancelled). 0: off.',
      0,
      MS_MAX,
      0,
    ),
  },
};

export const circuitBreakerSchema: S = {
  type: 'object',
  additionalProperties: false,
  description:
    'Limits that make this upstream answer 503 `FULCRUM_ERR_UPSTREAM_OVERFLOW` at once instead of queueing (Envoy circuit breakers). 0 is no limit.',
  properties: {
    max_connections: int(
      "Connections to each target (HAProxy's server `maxconn`); requests beyond wait as pending.",
      0,
      1_000_000,
      0,
    ),
    max_pending_requests: int(
      'Requests waiting for a connection across the upstream; one more is refused.',
      0,
      1_000_000,
      0,
    ),
    max_requests: int('Requests in flight to the upstream; one more is refused.', 0, 1_000_000, 0),
    max_retries: int(
      'Retries in flight to the upstream; beyond it a failed try is not retried.',
      0,
      1_000_000,
      0,
    ),
  },
};

export const retryBudgetSchema: S = {
  type: 'object',
  additionalProperties: false,
  description:
    "Retries may be at most `percent` of the upstream's requests of the last `ttl`, plus `min_retries_per_sec` (Finagle's retry budget): a burst of retries passes, a sustained retry storm is cut to a share of the traffic. Retries after a connect failure are not counted (nothing reached a target). `min_concurrency` adds Envoy's form. See docs/resilience.md.",
  properties: {
    percent: {
      type: 'number',
      minimum: 0,
      maximum: 100,
      default: 20,
      description:
        'The share of requests that may be retried (of the last `ttl`; with `min_concurrency`, also of the requests in flight).',
    },
    min_retries_per_sec: int(
      'Retries allowed per second whatever the traffic (a reserve of this × `ttl`).',
      0,
      1_000_000,
      10,
    ),
    ttl: int(
      'The window, in milliseconds, over which requests and retries are counted.',
      1000,
      3_600_000,
      10000,
    ),
    min_concurrency: {
      type: 'integer',
      minimum: 0,
      maximum: 1_000_000,
      description:
        "Envoy's retry budget, when set: retries in flight at most `percent` of the requests in flight, or this many, whichever is more. Unset: not applied.",
    },
  },
};

const DEFAULT_STATUSES = [502, 503, 504];

export function normalizeRetryPolicy(raw: Raw | undefined): RetryPolicySpec {
  const r = raw ?? {};
  const on = new Set<string>(r.retry_on ?? RETRY_CONDITIONS);
  return Object.freeze({
    onConnectFailure: on.has('connect-failure'),
    onReset: on.has('reset'),
    onTimeout: on.has('timeout'),
    statuses: new Set<number>(on.has('http-status') ? (r.statuses ?? DEFAULT_STATUSES) : []),
    perTryTimeoutMs: r.per_try_timeout ?? 0,
    backoffBaseMs: r.backoff_base ?? 25,
    backoffMaxMs: r.backoff_max ?? 250,
    bufferBodyBytes: r.buffer_body ?? 65536,
    hedgeDelayMs: r.hedge_delay ?? 0,
  });
}

export function normalizeCircuitBreaker(
  src: ParsedSource,
  cb: Raw | undefined,
  budget: Raw | undefined,
  at: PathPart[],
  issues: ConfigIssue[],
): CircuitBreakerSpec {
  const c = cb ?? {};
  const b = budget ?? {};
  const maxConnections = c.max_connections ?? 0;
  const maxPending = c.max_pending_requests ?? 0;
  if (maxPending > 0 && maxConnections === 0)
    issues.push(
      src.issue(
        [...at, 'circuit_breaker', 'max_pending_requests'],
        'requests only wait for a connection when `max_connections` limits them: set it too, or remove this',
      ),
    );
  return Object.freeze({
    maxConnections,
    maxPendingRequests: maxPending,
    maxRequests: c.max_requests ?? 0,
    maxRetries: c.max_retries ?? 0,
    budgetPercent: b.percent ?? 20,
    budgetMinRetriesPerSec: b.min_retries_per_sec ?? 10,
    budgetTtlMs: b.ttl ?? 10000,
    budgetMinConcurrency: b.min_concurrency ?? -1,
  });
}

export const DEFAULT_RETRY_POLICY: RetryPolicySpec = normalizeRetryPolicy(undefined);

export const DEFAULT_CIRCUIT_BREAKER: CircuitBreakerSpec = Object.freeze({
  maxConnections: 0,
  maxPendingRequests: 0,
  maxRequests: 0,
  maxRetries: 0,
  budgetPercent: 20,
  budgetMinRetriesPerSec: 10,
  budgetTtlMs: 10000,
  budgetMinConcurrency: -1,
});
