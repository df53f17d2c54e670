/**
 * The client library's metrics, declared here next to nothing else (ARCHITECTURE.md convention
 * 10), reported to a prom-client registry the application owns. The request path only bumps plain
 * numbers (on the dispatcher, its targets and its guard); the prom-client metrics read them when
 * the registry is scraped (`collect`), so an unscraped registry costs nothing per request. Several
 * dispatchers may share one registry: the metrics are registered once per registry and carry an
 * `upstream` label.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Breaker, UpstreamGuard } from '../upstreams/guard.ts';
import type { TargetState } from '../upstreams/target.ts';

export const RETRY_REASONS = ['connect-failure', 'reset', 'timeout', 'http-status'] as const;
export type RetryReason = (typeof RETRY_REASONS)[number];

/** Plain counters one dispatcher bumps on the request path. */
export class ClientCounts {
  /** Requests by outcome: index 0 an error, 1..5 a response of class 1xx..5xx. */
  readonly requests = new Float64Array(6);
  readonly retries: Record<RetryReason, number> = {
    'connect-failure': 0,
    reset: 0,
    timeout: 0,
    'http-status': 0,
  };
  /** Target lists delivered by a discovery source: applied, or refused (the last good list kept). */
  targetUpdates = { applied: 0, refused: 0 };
}

/** What a dispatcher shows the metrics. */
export interface MetricSource {
  readonly upstream: string;
  readonly counts: ClientCounts;
  readonly guard: UpstreamGuard;
  targets(): readonly TargetState[];
}

const CODES = ['error', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const BREAKERS: readonly Breaker[] = ['max_requests', 'max_pending_requests', 'max_retries', 'retry_budget'];

class ClientMetrics {
  readonly sources = new Set<MetricSource>();

  constructor(registry: Registry) {
    const sources = this.sources;
    const counter = (name: string, help: string, labels: string[], fill: (c: Counter) => void) =>
      new Counter({
        name,
        help,
        labelNames: labels,
        registers: [registry],
        collect() {
          this.reset();
          fill(this);
        },
      });
    const gauge = (name: string, help: string, fill: (g: Gauge) => void) =>
      new Gauge({
        name,
        help,
        labelNames: ['upstream', 'target'],
        registers: [registry],
        collect() {
          this.reset();
          fill(this);
        },
      });
    counter(
      'fulcrum_client_requests_total',
      'Requests through the client library by upstream and outcome: a response status class, or error.',
      ['upstream', 'code'],
      (c) => {
        for (const s of sources)
          CODES.forEach((code, i) => {
            if (s.counts.requests[i]! > 0) c.inc({ upstream: s.upstream, code }, s.counts.requests[i]!);
          });
      },
    );
    counter(
      'fulcrum_client_tries_total',
      'Tries sent to each target (a retried request counts on every target it tried).',
      ['upstream', 'target'],
      (c) => {
        for (const s of sources)
          for (const t of s.targets())
            if (t.requests > 0) c.inc({ upstream: s.upstream, target: t.target }, t.requests);
      },
    );
    counter(
      'fulcrum_client_try_failures_total',
      'Tries that ended in a transport failure (connect error, reset, timeout), by target.',
      ['upstream', 'target'],
      (c) => {
        for (const s of sources)
          for (const t of s.targets())
            if (t.failures > 0) c.inc({ upstream: s.upstream, target: t.target }, t.failures);
      },
    );
    counter(
      'fulcrum_client_retries_total',
      'Retries by upstream and reason.',
      ['upstream', 'reason'],
      (c) => {
        for (const s of sources)
          for (const reason of RETRY_REASONS)
            if (s.counts.retries[reason] > 0)
              c.inc({ upstream: s.upstream, reason }, s.counts.retries[reason]);
      },
    );
    counter(
      'fulcrum_client_overflows_total',
      'Tries and retries refused by a circuit breaker or the retry budget, by upstream and breaker.',
      ['upstream', 'breaker'],
      (c) => {
        for (const s of sources)
          for (const breaker of BREAKERS)
            if (s.guard.overflows[breaker] > 0)
              c.inc({ upstream: s.upstream, breaker }, s.guard.overflows[breaker]);
      },
    );
    counter(
      'fulcrum_client_target_updates_total',
      'Target lists from a discovery source, applied or refused (a refused list leaves the last good one in use).',
      ['upstream', 'result'],
      (c) => {
        for (const s of sources)
          for (const result of ['applied', 'refused'] as const)
            if (s.counts.targetUpdates[result] > 0)
              c.inc({ upstream: s.upstream, result }, s.counts.targetUpdates[result]);
      },
    );
    gauge('fulcrum_client_target_inflight', 'Requests in flight to each target.', (g) => {
      for (const s of sources)
        for (const t of s.targets()) g.set({ upstream: s.upstream, target: t.target }, t.inflight);
    });
    gauge(
      'fulcrum_client_target_healthy',
      '1 while the target takes new requests (healthy, or let through by the panic threshold), else 0.',
      (g) => {
        for (const s of sources)
          for (const t of s.targets()) g.set({ upstream: s.upstream, target: t.target }, t.healthy ? 1 : 0);
      },
    );
  }
}

const byRegistry = new WeakMap<Registry, ClientMetrics>();

/** Report `source` to `registry` until the returned function is called. */
export function reportTo(registry: Registry, source: MetricSource): () => void {
  let m = byRegistry.get(registry);
  if (m === undefined) {
    m = new ClientMetrics(registry);
    byRegistry.set(registry, m);
  }
  m.sources.add(source);
  const metrics = m;
  return () => {
    metrics.sources.delete(source);
  };
}
