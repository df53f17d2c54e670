/**
 * OpenTelemetry tracing (docs/observability.md#traces): a SERVER span per request, a CLIENT span per
 * try (retries and hedges are siblings under it), plugin phases as span events, W3C Trace Context
 * continued from the client and sent on to the targets, spans exported over OTLP/HTTP in batches.
 *
 * The official SDK does the parts that have to agree with every other OpenTelemetry process
 * (ids, W3C parsing and formatting, samplers, batching, the OTLP encoding), so that Fulcrum's
 * spans join traces made by any other SDK. This module is imported only when the node's `tracing`
 * setting is present (node-tracing.ts): with tracing off no OpenTelemetry module is loaded and the
 * data plane's hooks (trace-hooks.ts) are null checks. Times come from the node's Clock.
 */

import { isIP, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  type Attributes,
  type Context,
  DiagLogLevel,
  diag,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  TraceFlags,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import type { TracingSpec } from '../config/tracing.ts';
import type { Clock } from '../core/clock.ts';
import { parseHostPort } from '../core/net.ts';
import { VERSION } from '../core/version.ts';
import type { Outcome } from '../health/probe.ts';
import type { Fields } from '../http1/fields.ts';
import { classifyUpstreamError } from '../proxy/errors.ts';
import type { AccessEntry } from './access-log.ts';
import type {
  RequestTrace,
  TracedExchange,
  TracedService,
  TracedTry,
  TraceFieldSink,
  Tracing,
  TrySpan,
} from './trace-hooks.ts';

/** What the tracer reports through (the node's application log). */
export interface TracingLog {
  warn(obj: object, msg: string): void;
}

/** The same diagnostic (export failure, dropped spans) is logged at most once per this interval. */
const DIAG_INTERVAL_MS = 60_000;

/** Methods the semantic conventions name; any other is `_OTHER` (with the original kept). */
const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
]);

const propagator = new W3CTraceContextPropagator();

const fieldsGetter: TextMapGetter<Fields> = {
  get: (f, key) => f.get(key),
  keys: () => [],
};

/** The SDK reports export failures and dropped spans through its global `diag`: to the live node's log. */
let diagSink: { log: TracingLog; clock: Clock; last: Map<string, number> } | null = null;

function diagnose(message: string): void {
  const s = diagSink;
  if (s === null) return;
  const key = message.slice(0, 60);
  const now = s.clock.monoMs();
  const last = s.last.get(key);
  if (last !== undefined && now - last < DIAG_INTERVAL_MS) return;
  s.last.set(key, now);
  s.log.warn({ detail: message }, 'tracing: spans could not be exported');
}

diag.setLogger(
  {
    error: (m: string, ...args: unknown[]) => diagnose(describe(m, args)),
    warn: (m: string, ...args: unknown[]) => diagnose(describe(m, args)),
    info: () => {},
    debug: () => {},
    verbose: () => {},
  },
  { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
);

function describe(m: string, args: unknown[]): string {
  const extra = args
    .map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : ''))
    .filter(Boolean);
  return extra.length === 0 ? m : `${m} ${extra.join(' ')}`;
}

/** The node's tracer, built from its `tracing` setting. */
export function createTracing(spec: TracingSpec, deps: { clock: Clock; log: TracingLog }): Tracing {
  return new NodeTracing(spec, deps.clock, deps.log);
}

class NodeTracing implements Tracing {
  readonly tracer: Tracer;
  readonly clock: Clock;
  private readonly provider: BasicTracerProvider;

  constructor(spec: TracingSpec, clock: Clock, log: TracingLog) {
    this.clock = clock;
    diagSink = { log, clock, last: new Map() };
    const exporter = new OTLPTraceExporter({
      url: spec.endpoint,
      headers: { ...spec.headers },
      timeoutMillis: spec.exportTimeoutMs,
    });
    const processor = new BatchSpanProcessor(exporter, {
      maxQueueSize: spec.maxQueueSize,
      maxExportBatchSize: spec.maxBatchSize,
      scheduledDelayMillis: spec.batchDelayMs,
      exportTimeoutMillis: spec.exportTimeoutMs,
    });
    const ratio = new TraceIdRatioBasedSampler(spec.sampling);
    const sampler: Sampler = spec.parentBased ? new ParentBasedSampler({ root: ratio }) : ratio;
    const resource = defaultResource().merge(
      resourceFromAttributes({
        ...spec.resourceAttributes,
        [ATTR_SERVICE_NAME]: spec.serviceName,
        [ATTR_SERVICE_VERSION]: VERSION,
      }),
    );
    this.provider = new BasicTracerProvider({
      resource,
      sampler,
      spanProcessors: [processor],
      forceFlushTimeoutMillis: spec.exportTimeoutMs,
    });
    this.tracer = this.provider.getTracer('fulcrum', VERSION);
  }

  begin(ex: TracedExchange, startMs: number): RequestTrace {
    return new ExchangeTrace(this, ex, startMs);
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown();
  }
}

/** One request's server span, and the context the try being sent carries. */
class ExchangeTrace implements RequestTrace {
  private readonly tracing: NodeTracing;
  private readonly ex: TracedExchange;
  private readonly span: Span;
  /** The server span's context, every try's parent (null when the span is not recorded). */
  private readonly ctx: Context | null;
  /** What the try being built sends on: its client span's, or the server span's when not recorded. */
  private sent: SpanContext;
  private readonly recording: boolean;
  /** Client spans not yet ended: a try started while one runs is a hedge. */
  private open = 0;
  private tries = 0;

  constructor(tracing: NodeTracing, ex: TracedExchange, startMs: number) {
    this.tracing = tracing;
    this.ex = ex;
    const down = ex.down;
    const parent = propagator.extract(ROOT_CONTEXT, down.fields, fieldsGetter);
    const method = down.method;
    // No attributes for the sampler (the built-in ones do not read them): an unsampled request
    // does not pay for their sanitizing; a recorded span gets them below.
    const span = tracing.tracer.startSpan(method, { kind: SpanKind.SERVER, startTime: startMs }, parent);
    this.span = span;
    this.recording = span.isRecording();
    this.sent = span.spanContext();
    // Not recorded (most requests at a low ratio): no client spans, the context sent on is this one.
    this.ctx = this.recording ? trace.setSpan(parent, span) : null;
    if (!this.recording) return;
    const socket = down.socket as Socket;
    const q = down.target.indexOf('?');
    const authority = parseHostPort(down.host, 0);
    const attrs: Attributes = {
      ...methodAttributes(method),
      [ATTR_URL_PATH]: q < 0 ? down.target : down.target.slice(0, q),
      [ATTR_URL_SCHEME]: (socket as TLSSocket).encrypted === true ? 'https' : 'http',
      [ATTR_SERVER_ADDRESS]: authority?.host ?? down.host,
      [ATTR_SERVER_PORT]: authority !== null && authority.port > 0 ? authority.port : down.localPort,
      [ATTR_CLIENT_ADDRESS]: down.clientIp,
      [ATTR_NETWORK_PROTOCOL_VERSION]: down.h2 ? '2' : `1.${down.minor}`,
    };
    if (socket.remoteAddress !== undefined) attrs[ATTR_NETWORK_PEER_ADDRESS] = socket.remoteAddress;
    if (socket.remotePort !== undefined) attrs[ATTR_NETWORK_PEER_PORT] = socket.remotePort;
    const ua = down.fields.get('user-agent');
    if (ua !== undefined) attrs[ATTR_USER_AGENT_ORIGINAL] = ua;
    span.setAttributes(attrs);
  }

  nowMs(): number {
    return this.tracing.clock.monoMs();
  }

  startTry(t: TracedTry, service: TracedService): void {
    this.tries++;
    if (!this.recording) return;
    const kind = t.reservation === null ? 'first' : this.open > 0 ? 'hedge' : 'retry';
    const target = t.target;
    const spec = service.spec;
    const scheme = spec.protocol === 'https' || spec.protocol === 'grpcs' ? 'https' : 'http';
    const path = this.ex.upstreamPath;
    const q = path.indexOf('?');
    const method = this.ex.down.method;
    const attrs: Attributes = {
      ...methodAttributes(method),
      [ATTR_SERVER_ADDRESS]: target.host,
      [ATTR_SERVER_PORT]: target.port,
      [ATTR_URL_FULL]: `${scheme}://${target.target}${q < 0 ? path : path.slice(0, q)}`,
      [ATTR_NETWORK_PROTOCOL_VERSION]: spec.http2 ? '2' : '1.1',
      'fulcrum.upstream': spec.host,
      'fulcrum.target': target.target,
      'fulcrum.try.kind': kind,
    };
    if (this.tries > 1) attrs[ATTR_HTTP_REQUEST_RESEND_COUNT] = this.tries - 1;
    if (isIP(target.host) !== 0) {
      attrs[ATTR_NETWORK_PEER_ADDRESS] = target.host;
      attrs[ATTR_NETWORK_PEER_PORT] = target.port;
    }
    const span = this.tracing.tracer.startSpan(
      method,
      { kind: SpanKind.CLIENT, startTime: this.nowMs(), attributes: attrs },
      this.ctx!,
    );
    this.open++;
    this.sent = span.spanContext();
    t.span = new TryTrace(this, span);
  }

  tryEnded(): void {
    this.open--;
  }

  replaces(f: Fields, i: number): boolean {
    return f.nameIs(i, 'traceparent') || f.nameIs(i, 'tracestate');
  }

  /** W3C Trace Context as @opentelemetry/core's propagator writes it (its ids are valid by making). */
  writeFields(sink: TraceFieldSink): void {
    const sc = this.sent;
    const flags = (sc.traceFlags & TraceFlags.SAMPLED) === 0 ? '00' : '01';
    sink.add('traceparent', `00-${sc.traceId}-${sc.spanId}-${flags}`, true);
    const state = sc.traceState;
    if (state !== undefined) sink.add('tracestate', state.serialize(), false);
  }

  pluginPhase(phase: string, startMs: number, plugins: readonly string[], outcome: string): void {
    if (!this.recording) return;
    this.span.addEvent(
      `plugins.${phase}`,
      {
        'fulcrum.plugins': plugins as string[],
        'fulcrum.plugins.outcome': outcome,
        'fulcrum.duration_ms': Math.round((this.nowMs() - startMs) * 1000) / 1000,
      },
      startMs,
    );
  }

  end(entry: AccessEntry): void {
    const span = this.span;
    if (!this.recording) return span.end();
    const status = entry.status;
    const attrs: Attributes = {
      'fulcrum.tries': entry.tries,
      'http.request.body.size': entry.bytes_in,
      'http.response.body.size': entry.bytes_out,
    };
    if (status > 0) attrs[ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
    if (entry.request_id !== '') attrs['fulcrum.request_id'] = entry.request_id;
    if (entry.route !== null) attrs['fulcrum.route'] = entry.route;
    if (entry.service !== null) attrs['fulcrum.service'] = entry.service;
    if (entry.consumer !== null) attrs['fulcrum.consumer'] = entry.consumer;
    if (entry.error !== null) attrs['fulcrum.error_code'] = entry.error;
    if (entry.reason !== null) attrs['fulcrum.reason'] = entry.reason;
    // A server span is an error for a 5xx (semantic conventions) or a failure of the proxy's own.
    const failed =
      entry.error !== null && status !== 499 ? entry.error : status >= 500 ? String(status) : null;
    if (failed !== null) {
      attrs[ATTR_ERROR_TYPE] = failed;
      span.setStatus({ code: SpanStatusCode.ERROR, message: failed });
    }
    span.setAttributes(attrs);
    span.end(this.nowMs());
  }
}

/** One try's client span. */
class TryTrace implements TrySpan {
  private readonly owner: ExchangeTrace;
  private readonly span: Span;
  private failure: Error | null = null;

  constructor(owner: ExchangeTrace, span: Span) {
    this.owner = owner;
    this.span = span;
  }

  error(err: Error): void {
    this.failure ??= err;
  }

  end(t: TracedTry, outcome: Outcome | null): void {
    const span = this.span;
    if (t.status > 0) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, t.status);
    let failed: string | null = null;
    // Given up by the request with nothing learned of the target (a lost hedge, the client gone):
    // the abort's own error says nothing either.
    if (t.retired && outcome === null) span.setAttribute('fulcrum.try.cancelled', true);
    else if (this.failure !== null) failed = classifyUpstreamError(this.failure);
    else if (outcome === 'timeout') failed = 'FULCRUM_ERR_UPSTREAM_TIMEOUT';
    else if (outcome === 'tcp') failed = 'FULCRUM_ERR_UPSTREAM_BAD_RESPONSE';
    if (failed !== null) span.setAttribute('fulcrum.error_code', failed);
    // A client span is an error for a 4xx or 5xx answer, or no answer (semantic conventions).
    if (failed === null && t.status >= 400) failed = String(t.status);
    if (failed !== null) {
      span.setAttribute(ATTR_ERROR_TYPE, failed);
      span.setStatus({ code: SpanStatusCode.ERROR, message: failed });
    }
    span.end(this.owner.nowMs());
    this.owner.tryEnded();
  }
}

/** A span's method attributes: one shared object per known method (no allocation per request). */
const METHOD_ATTRIBUTES = new Map<string, Attributes>(
  [...KNOWN_METHODS].map((m) => [m, Object.freeze({ [ATTR_HTTP_REQUEST_METHOD]: m })]),
);

function methodAttributes(method: string): Attributes {
  return (
    METHOD_ATTRIBUTES.get(method) ?? {
      [ATTR_HTTP_REQUEST_METHOD]: '_OTHER',
      [ATTR_HTTP_REQUEST_METHOD_ORIGINAL]: method,
    }
  );
}
