/**
 * An upstream's circuit breakers and retry budget (Envoy's cluster circuit breakers and
 * retry_budget): counters of tries in flight, tries waiting for a connection and retries in flight,
 * checked before a try is sent. One guard per upstream name lives across generations (the counters
 * describe requests that may have started on an older one); each generation hands it its limits.
 */
import type { CircuitBreakerSpec } from '../config/resilience.ts';

/** Which limit refused a try (the `breaker` label of fulcrum_upstream_overflows_total). */
export type Breaker = 'max_requests' | 'max_pending_requests' | 'max_retries' | 'retry_budget';

export class UpstreamGuard {
  readonly upstream: string;
  limits: CircuitBreakerSpec;
  /** Client requests being served through this upstream (the retry budget's base). */
  requests = 0;
  /** Tries in flight (dispatched, not yet ended), of which `pending` have no connection yet. */
  active = 0;
  pending = 0;
  /** Retries (and hedges) outstanding: from the decision to retry, through backoff, to the try's end. */
  retries = 0;
  /** Refusals by breaker, for /status and /metrics. */
  readonly overflows: Record<Breaker, number> = {
    max_requests: 0,
    max_pending_requests: 0,
    max_retries: 0,
    retry_budget: 0,
  };

  constructor(upstream: string, limits: CircuitBreakerSpec) {
    this.upstream = upstream;
    this.limits = limits;
  }

  /** The breaker a new try would trip, or null when it may go. */
  admit(): Breaker | null {
    const l = this.limits;
    if (l.maxRequests > 0 && this.active >= l.maxRequests) return this.trip('max_requests');
    if (l.maxPendingRequests > 0 && this.pending >= l.maxPendingRequests)
      return this.trip('max_pending_requests');
    return null;
  }

  /** The limit a retry would exceed, or null: `max_retries`, then the budget over active requests. */
  admitRetry(): Breaker | null {
    const l = this.limits;
    if (l.maxRetries > 0 && this.retries >= l.maxRetries) return this.trip('max_retries');
    const budget = Math.max(l.budgetMinConcurrency, Math.floor((l.budgetPercent / 100) * this.requests));
    if (this.retries >= budget) return this.trip('retry_budget');
    return null;
  }

  private trip(b: Breaker): Breaker {
    this.overflows[b]++;
    return b;
  }
}
