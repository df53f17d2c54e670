/**
 * The node's `tracing` setting (OpenTelemetry, docs/observability.md#traces): where spans are
 * exported (OTLP/HTTP), how many requests are sampled, and the batching of the export. Normalized
 * into a frozen TracingSpec; absent, tracing is off and no OpenTelemetry module is loaded.
 */
import type { ConfigIssue, ParsedSource } from './load.ts';
import { bool, defaultsOf, int, MS_MAX, type S, str } from './schema-kit.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;

export interface TracingSpec {
  /** The OTLP/HTTP traces URL spans are posted to (`/v1/traces` added to a bare origin). */
  readonly endpoint: string;
  /** The share of new traces sampled, 0 to 1 (by trace id, so every hop that uses it agrees). */
  readonly sampling: number;
  /** Whether a request carrying a `traceparent` follows its sampled flag instead of `sampling`. */
  readonly parentBased: boolean;
  readonly serviceName: string;
  /** Extra resource attributes (`deployment.environment`, ...). */
  readonly resourceAttributes: Readonly<Record<string, string>>;
  /** Headers of the export requests (an authorization token). */
  readonly headers: Readonly<Record<string, string>>;
  readonly maxQueueSize: number;
  readonly maxBatchSize: number;
  readonly batchDelayMs: number;
  readonly exportTimeoutMs: number;
}

const stringMap = (description: string): S => ({
  type: 'object',
  description,
  additionalProperties: { type: 'string' },
});

export const tracingSchema: S = {
  type: 'object',
  description:
    'OpenTelemetry tracing (docs/observability.md#traces): a server span per request and a client span per try, exported over OTLP/HTTP (JSON) in batches. W3C `traceparent`/`tracestate` are continued or started and sent on to the targets. Absent: tracing is off and costs nothing.',
  additionalProperties: false,
  required: ['endpoint'],
  properties: {
    endpoint: str(
      'The OTLP/HTTP traces URL, such as `http://127.0.0.1:4318/v1/traces` (an OpenTelemetry Collector, Jaeger, Tempo). A URL without a path gets `/v1/traces`.',
      { minLength: 1, pattern: '^[Hh][Tt][Tt][Pp][Ss]?://' },
    ),
    sampling: {
      type: 'number',
      description:
        'The share of new traces recorded and exported, from 0 (none) to 1 (all), decided by the trace id (OpenTelemetry `TraceIdRatioBased`).',
      minimum: 0,
      maximum: 1,
      default: 1,
    },
    parent_based: bool(
      "Follow the sampled flag of a request's `traceparent` (the caller already decided), and use `sampling` only for requests that start a trace. false: `sampling` decides for every request.",
      true,
    ),
    service_name: str('The `service.name` resource attribute of the spans.', {
      default: 'fulcrum',
      minLength: 1,
    }),
    resource_attributes: stringMap(
      'More resource attributes of every span, such as `deployment.environment: production`.',
    ),
    headers: stringMap(
      'Headers of the export requests, such as an `authorization` token (a secret reference takes it from the environment, docs/observability.md#secrets).',
    ),
    max_queue_size: int(
      'Finished spans waiting for export; more are dropped (counted in the log) rather than held.',
      1,
      1_000_000,
      2048,
    ),
    max_batch_size: int('Most spans in one export request.', 1, 100_000, 512),
    batch_delay_ms: int(
      'The longest a finished span waits before its batch is sent (a full batch goes at once).',
      1,
      MS_MAX,
      5000,
    ),
    export_timeout_ms: int(
      'How long one export request may take; also the most a stopping node waits to send what is queued.',
      1,
      MS_MAX,
      30000,
    ),
  },
};

const D = defaultsOf(tracingSchema) as {
  sampling: number;
  parent_based: boolean;
  service_name: string;
  max_queue_size: number;
  max_batch_size: number;
  batch_delay_ms: number;
  export_timeout_ms: number;
};

/** `tracing` normalized, or null when absent (tracing off). */
export function normalizeTracing(
  src: ParsedSource,
  raw: Raw | undefined,
  issues: ConfigIssue[],
): TracingSpec | null {
  if (raw === undefined || raw === null) return null;
  let endpoint: string = raw.endpoint;
  try {
    const u = new URL(endpoint);
    if (u.pathname === '/' && u.search === '') u.pathname = '/v1/traces';
    endpoint = u.href;
  } catch {
    issues.push(
      src.issue(
        ['tracing', 'endpoint'],
        `expected an http:// or https:// URL, got ${JSON.stringify(endpoint)}`,
      ),
    );
  }
  const maxQueueSize: number = raw.max_queue_size ?? D.max_queue_size;
  const maxBatchSize: number = raw.max_batch_size ?? D.max_batch_size;
  if (maxBatchSize > maxQueueSize)
    issues.push(src.issue(['tracing', 'max_batch_size'], `must not exceed max_queue_size (${maxQueueSize})`));
  return {
    endpoint,
    sampling: raw.sampling ?? D.sampling,
    parentBased: raw.parent_based ?? D.parent_based,
    serviceName: raw.service_name ?? D.service_name,
    resourceAttributes: { ...(raw.resource_attributes ?? {}) },
    headers: { ...(raw.headers ?? {}) },
    maxQueueSize,
    maxBatchSize,
    batchDelayMs: raw.batch_delay_ms ?? D.batch_delay_ms,
    exportTimeoutMs: raw.export_timeout_ms ?? D.export_timeout_ms,
  };
}
