/**
 * An upstream's circuit breakers and retry budget: counters of tries in flight, tries waiting for a
 * connection and retries in flight (Envoy's cluster circuit breakers), checked before a try is
 * sent, and a retry budget over time (Finagle's RetryBudget). One guard per upstream name lives
 * across generations (the counters describe requests that may have started on an older one); each
 * generation hands it its limits.
 *
 * Why a budget over time rather than Envoy's budget over retries in flight: when one of three
 * targets dies under load, every request in flight on it fails at the same instant, and a budget of
 * "20% of active requests, at least 3" refuses most of that burst's retries, failing requests that
 * nginx and Kong retry. Finagle's budget keeps a reserve (`min_retries_per_sec` × `ttl`) that such a
 * burst draws on, and lets each request add `percent` of a retry: a storm (every target failing,
 * for seconds) is cut to `percent` of the traffic, a burst passes whole.
 */
import type { CircuitBreakerSpec } from '../config/resilience.ts';
import type { RetryKind } from '../proxy/errors.ts';

/** Which limit refused a try (the `breaker` label of fulcrum_upstream_overflows_total). */
export type Breaker = 'max_requests' | 'max_pending_requests' | 'max_retries' | 'retry_budget';

/** The budget's window is kept in this many slices; requests and retries expire a slice at a time. */
const BUDGET_SLICES = 10;

/** Requests and retries counted over a sliding window of `BUDGET_SLICES` slices. */
export class RetryBudget {
  private readonly requests = new Float64Array(BUDGET_SLICES);
  private readonly retries = new Float64Array(BUDGET_SLICES);
  private requestSum = 0;
  private retrySum = 0;
  /** The slice number (time / slice length) the newest counts belong to. */
  private slice = -1;

  /** Whether one more retry fits; counts it when it does. */
  withdraw(l: CircuitBreakerSpec, nowMs: number): boolean {
    this.advance(l, nowMs);
    const allowed =
      (l.budgetMinRetriesPerSec * l.budgetTtlMs) / 1000 + (l.budgetPercent / 100) * this.requestSum;
    if (this.retrySum + 1 > allowed) return false;
    this.retries[this.slice % BUDGET_SLICES]! += 1;
    this.retrySum += 1;
    return true;
  }

  /** Count `n` requests (a worker's primary is told of several at once). */
  deposit(l: CircuitBreakerSpec, nowMs: number, n = 1): void {
    this.advance(l, nowMs);
    this.requests[this.slice % BUDGET_SLICES]! += n;
    this.requestSum += n;
  }

  /** Forget the slices that fell out of the window. */
  private advance(l: CircuitBreakerSpec, nowMs: number): void {
    const now = Math.floor(nowMs / (l.budgetTtlMs / BUDGET_SLICES));
    if (now === this.slice) return;
    const stale = this.slice < 0 ? BUDGET_SLICES : Math.min(now - this.slice, BUDGET_SLICES);
    for (let i = 1; i <= stale; i++) {
      const k = (this.slice + i) % BUDGET_SLICES;
      this.requestSum -= this.requests[k]!;
      this.retrySum -= this.retries[k]!;
      this.requests[k] = 0;
      this.retries[k] = 0;
    }
    this.slice = now;
  }
}

/**
 * Where the counts are kept when they are a node's, not this process's (a worker: its primary
 * decides, src/workers/breakers.ts). Null on a guard that counts alone (one process, the client
 * library), which costs the try path one null check.
 */
export interface GuardLink {
  /** A client request began (the retry budget's deposit) or ended, on `g`'s upstream. */
  started(g: UpstreamGuard): void;
  ended(g: UpstreamGuard): void;
  /**
   * Ask for a try (first when `kind` is null, else a retry or hedge of that kind): `done` gets a
   * grant to hand back with `release` (0: nothing to hand back), or the breaker that refused it.
   */
  admit(
    g: UpstreamGuard,
    kind: RetryKind | 'hedge' | null,
    done: (grant: number, refused: Breaker | null) => void,
  ): void;
  /** The granted try has its connection (it no longer counts as pending). */
  connected(grant: number): void;
  /** The granted try ended; any further call with the same grant is ignored. */
  release(grant: number): void;
}

export class UpstreamGuard {
  readonly upstream: string;
  limits: CircuitBreakerSpec;
  /** Client requests being served through this upstream (the Envoy budget's base). */
  requests = 0;
  /** Tries in flight (dispatched, not yet ended), of which `pending` have no connection yet. */
  active = 0;
  pending = 0;
  /** Retries (and hedges) outstanding: from the decision to retry, through backoff, to the try's end. */
  retries = 0;
  private readonly budget = new RetryBudget();
  /** Refusals by breaker, for /status and /metrics. */
  readonly overflows: Record<Breaker, number> = {
    max_requests: 0,
    max_pending_requests: 0,
    max_retries: 0,
    retry_budget: 0,
  };

  /** The node's counts when they are kept elsewhere (a worker's), else null. */
  readonly link: GuardLink | null;
  /** Requests begun and ended that the link has not passed on yet (its to keep). */
  begunUntold = 0;
  endedUntold = 0;

  constructor(upstream: string, limits: CircuitBreakerSpec, link: GuardLink | null = null) {
    this.upstream = upstream;
    this.limits = limits;
    this.link = link;
  }

  /** A client request begins to be served through this upstream. */
  requestStarted(nowMs: number): void {
    this.requests++;
    if (this.link === null) this.budget.deposit(this.limits, nowMs);
    else this.link.started(this);
  }

  /** `n` requests of other processes, for the budget (a worker's primary counts the node's). */
  deposit(n: number, nowMs: number): void {
    this.budget.deposit(this.limits, nowMs, n);
  }

  /** The request is over. */
  requestEnded(): void {
    this.requests--;
    if (this.link !== null) this.link.ended(this);
  }

  /** Whether a try must be admitted by the node (a limit on tries is set). */
  get limitsTries(): boolean {
    const l = this.limits;
    return l.maxRequests > 0 || l.maxPendingRequests > 0 || l.maxRetries > 0;
  }

  /** The breaker a new try would trip, or null when it may go. */
  admit(): Breaker | null {
    const l = this.limits;
    if (l.maxRequests > 0 && this.active >= l.maxRequests) return this.trip('max_requests');
    if (l.maxPendingRequests > 0 && this.pending >= l.maxPendingRequests)
      return this.trip('max_pending_requests');
    return null;
  }

  /**
   * The limit a retry (or hedge) would exceed, or null: `max_retries`, then Envoy's budget over
   * retries in flight (when `min_concurrency` is set), then the budget over time. A retry after a
   * connect failure is not charged to the budgets: nothing of it reached a target, so it cannot
   * multiply the load of an outage.
   */
  admitRetry(kind: RetryKind | 'hedge', nowMs: number): Breaker | null {
    const l = this.limits;
    if (l.maxRetries > 0 && this.retries >= l.maxRetries) return this.trip('max_retries');
    if (kind === 'connect-failure') return null;
    if (l.budgetMinConcurrency >= 0) {
      const inFlight = Math.max(l.budgetMinConcurrency, Math.floor((l.budgetPercent / 100) * this.requests));
      if (this.retries >= inFlight) return this.trip('retry_budget');
    }
    if (!this.budget.withdraw(l, nowMs)) return this.trip('retry_budget');
    return null;
  }

  /** Count a refusal the node's counts decided (a worker's primary). */
  refused(b: Breaker): void {
    this.overflows[b]++;
  }

  private trip(b: Breaker): Breaker {
    this.overflows[b]++;
    return b;
  }
}
