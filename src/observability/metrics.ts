/**
 * Fulcrum's metrics, declared in one table (name, type, labels, help) and documented in
 * docs/metrics.md. Hot-path metrics use the bound children of registry.ts; process figures come
 * from prom-client's default collectors, under their conventional names (`process_*`, `nodejs_*`)
 * so that stock dashboards for Node.js services find them.
 */
import process from 'node:process';
import { collectDefaultMetrics, Registry as PromRegistry } from 'prom-client';
import { VERSION } from '../core/version.ts';
import { Collected, Counter, Histogram, type Labels, Registry } from './registry.ts';

/** Latency buckets in seconds: 1 ms to 10 s. */
export const LATENCY_BUCKETS_S = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
] as const;

/** prom-client's default gauges named like counters, left out (promtool's lint). */
export const NON_COUNTER_TOTALS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

export interface LiveSources {
  targets(): Iterable<{
    upstream: string;
    target: string;
    inflight: number;
    requests: number;
    failures: number;
    healthy: boolean;
    health: 'healthy' | 'unhealthy';
  }>;
  generation(): number;
  connections(): number;
  /** The TLS certificates the listeners in service serve (the admin listener's as `admin`). */
  certificates(): Iterable<{ listener: string; id: string; subject: string; notAfter: string }>;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly prom = new PromRegistry();
  /** fulcrum_http_requests_total{route,service,code}: code is the status class (2xx, 4xx, ...). */
  readonly requests = this.registry.add(
    new Counter('fulcrum_http_requests_total', 'Proxied HTTP requests by route, service and status class.'),
  );
  /** fulcrum_http_request_bytes_total{route,service}: request body bytes received from clients. */
  readonly requestBytes = this.registry.add(
    new Counter(
      'fulcrum_http_request_bytes_total',
      'Request body bytes received from clients, by route and service.',
    ),
  );
  /** fulcrum_http_response_bytes_total{route,service}: response body bytes sent to clients. */
  readonly responseBytes = this.registry.add(
    new Counter(
      'fulcrum_http_response_bytes_total',
      'Response body bytes sent to clients, by route and service.',
    ),
  );
  /** fulcrum_plugin_outcomes_total{plugin,outcome}: what plugins decided (auth failures, rate limits, ...). */
  readonly pluginOutcomes = this.registry.add(
    new Counter(
      'fulcrum_plugin_outcomes_total',
      'Plugin decisions by plugin and outcome (authenticated, invalid-credentials, rate-limited, ...).',
    ),
  );
  /** fulcrum_http_request_duration_seconds{route,service}: from request head to last byte sent. */
  readonly duration = this.registry.add(
    new Histogram(
      'fulcrum_http_request_duration_seconds',
      'Total request latency seen by the proxy.',
      LATENCY_BUCKETS_S,
    ),
  );
  /** fulcrum_upstream_header_duration_seconds{upstream}: from dispatch to upstream response headers. */
  readonly upstreamLatency = this.registry.add(
    new Histogram(
      'fulcrum_upstream_header_duration_seconds',
      'Time from dispatch to upstream response headers.',
      LATENCY_BUCKETS_S,
    ),
  );
  /** fulcrum_errors_total{code}: locally generated errors by stable error code. */
  readonly errors = this.registry.add(
    new Counter('fulcrum_errors_total', 'Errors answered or logged by the proxy, by stable error code.'),
  );
  /** fulcrum_upstream_retries_total{upstream,reason}: retries and hedges sent, by what caused them. */
  readonly retries = this.registry.add(
    new Counter(
      'fulcrum_upstream_retries_total',
      'Tries repeated on another target, by reason: connect-failure, reset, timeout, http-status, hedge.',
    ),
  );
  /** fulcrum_upstream_overflows_total{upstream,breaker}: tries refused by a circuit breaker or the retry budget. */
  readonly overflows = this.registry.add(
    new Counter(
      'fulcrum_upstream_overflows_total',
      'Tries refused by a circuit breaker (max_requests, max_pending_requests) and retries refused (max_retries, retry_budget).',
    ),
  );
  /** fulcrum_l4_connections_total{listener,route,service,result}: L4 connections (udp: sessions) by how they ended. */
  readonly l4Connections = this.registry.add(
    new Counter(
      'fulcrum_l4_connections_total',
      'L4 connections (udp: sessions) by listener, route, service and result.',
    ),
  );
  /** fulcrum_l4_bytes_total{listener,route,service,direction}: bytes relayed, `in` from clients, `out` to them. */
  readonly l4Bytes = this.registry.add(
    new Counter('fulcrum_l4_bytes_total', 'Bytes relayed by L4 listeners, by direction (in: from clients).'),
  );
  /** fulcrum_udp_dropped_total{listener,reason}: datagrams not relayed. */
  readonly udpDropped = this.registry.add(
    new Counter('fulcrum_udp_dropped_total', 'Datagrams dropped by udp listeners, by reason.'),
  );
  /** Open L4 connections (udp: live sessions) per listener name, kept by the listeners. */
  readonly l4Open = new Map<string, number>();
  /** fulcrum_http2_abuse_closes_total{listener,reason}: HTTP/2 connections closed by h2-guard.ts. */
  readonly http2Abuse = this.registry.add(
    new Counter(
      'fulcrum_http2_abuse_closes_total',
      'HTTP/2 client connections closed for abuse, by listener and reason: rapid-reset, control-flood.',
    ),
  );
  /** fulcrum_config_reloads_total{result}: configuration swaps, `ok` or `rejected`. */
  readonly reloads = this.registry.add(
    new Counter('fulcrum_config_reloads_total', 'Configuration reloads by result.'),
  );
  /**
   * fulcrum_config_objects_total{kind,outcome}: the runtime objects (upstream, service, route, the
   * plugin set, the router) of each generation put in service, `built` anew or `kept` from the one before.
   */
  readonly configObjects = this.registry.add(
    new Counter(
      'fulcrum_config_objects_total',
      'Runtime objects of the generations put in service, by kind (upstream, service, route, plugins, router) and outcome: built anew or kept from the generation before.',
    ),
  );

  constructor(live: LiveSources) {
    this.registry.add(
      new Collected(
        'fulcrum_build_info',
        'Always 1: the Fulcrum version and the Node.js version it runs on, as labels.',
        'gauge',
        () => [[{ version: VERSION, nodejs: process.versions.node }, 1]],
      ),
    );
    const targetSamples = (
      pick: (t: {
        inflight: number;
        requests: number;
        failures: number;
        health: 'healthy' | 'unhealthy';
      }) => number,
    ) =>
      function* (): Iterable<[Labels, number]> {
        for (const t of live.targets()) yield [{ upstream: t.upstream, target: t.target }, pick(t)];
      };
    this.registry.add(
      new Collected(
        'fulcrum_target_inflight',
        'Requests in flight per target.',
        'gauge',
        targetSamples((t) => t.inflight),
      ),
    );
    this.registry.add(
      new Collected(
        'fulcrum_target_requests_total',
        'Requests sent per target (tries).',
        'counter',
        targetSamples((t) => t.requests),
      ),
    );
    this.registry.add(
      new Collected(
        'fulcrum_target_failures_total',
        'Transport failures per target (connect, reset, timeout).',
        'counter',
        targetSamples((t) => t.failures),
      ),
    );
    this.registry.add(
      new Collected(
        'fulcrum_target_healthy',
        '1 when the target passes its health checks (0 while unhealthy, even when panic sends it traffic).',
        'gauge',
        targetSamples((t) => (t.health === 'healthy' ? 1 : 0)),
      ),
    );
    this.registry.add(
      new Collected('fulcrum_config_generation', 'The configuration generation in service.', 'gauge', () => [
        [{}, live.generation()],
      ]),
    );
    this.registry.add(
      new Collected('fulcrum_downstream_connections', 'Open client connections.', 'gauge', () => [
        [{}, live.connections()],
      ]),
    );
    const l4Open = this.l4Open;
    this.registry.add(
      new Collected(
        'fulcrum_l4_open_connections',
        'Open L4 connections (udp: live sessions) per listener.',
        'gauge',
        function* (): Iterable<[Labels, number]> {
          for (const [listener, n] of l4Open) yield [{ listener }, n];
        },
      ),
    );
    this.registry.add(
      new Collected(
        'fulcrum_tls_certificate_expiry_timestamp_seconds',
        'When each certificate a listener serves expires (its notAfter), in seconds since the epoch.',
        'gauge',
        function* (): Iterable<[Labels, number]> {
          for (const c of live.certificates())
            yield [
              { listener: c.listener, certificate: c.id, subject: c.subject },
              Math.floor(Date.parse(c.notAfter) / 1000),
            ];
        },
      ),
    );
    collectDefaultMetrics({ register: this.prom });
    // Gauges whose names end in _total, which `promtool check metrics` refuses (a _total is a
    // counter); each is the sum over `type` of the family of the same name without the suffix.
    for (const name of NON_COUNTER_TOTALS) this.prom.removeSingleMetric(name);
  }

  async render(): Promise<string> {
    return this.registry.render() + (await this.prom.metrics());
  }
}
