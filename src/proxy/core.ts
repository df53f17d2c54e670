/** What an Exchange needs from the node that runs it. */
import type { Clock } from '../core/clock.ts';
import type { Rng } from '../core/random.ts';
import type { Outcome } from '../health/probe.ts';
import type { AccessEntry } from '../observability/access-log.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Tracing } from '../observability/trace-hooks.ts';
import type { Generation } from '../runtime/generation.ts';
import type { TargetState } from '../upstreams/target.ts';

export interface ProxyCore {
  readonly clock: Clock;
  /** Backoff jitter. */
  readonly rng: Rng;
  readonly metrics: Metrics;
  /** True once shutdown has begun: responses close their connections. */
  readonly draining: boolean;
  accessLog(entry: AccessEntry): void;
  /** Whether accessLog() writes anywhere: an exchange makes no entry for nothing. */
  readonly accessLogging: boolean;
  /** A try's outcome for passive health checks: its status, or `tcp`/`timeout` for a transport failure. */
  reportOutcome(target: TargetState, outcome: Outcome): void;
  /** Why targets fail, logged once per target per interval (src/observability/target-log.ts). */
  readonly targetLog: { noteFailure(target: TargetState, failure: unknown, servername?: string): void };
  /** OpenTelemetry tracing, or null when the `tracing` setting is absent (one check per request). */
  readonly tracing: Tracing | null;
  /** Called once per exchange when it ends, so a retired generation can be disposed. */
  onExchangeEnd(gen: Generation): void;
}
