/**
 * What the data plane sees of tracing (docs/observability.md#traces): interfaces only, so that the
 * proxy imports nothing at run time from OpenTelemetry. The implementation (tracing.ts, which
 * loads the OpenTelemetry SDK) is imported by the node only when the `tracing` setting is present;
 * with tracing off, `ProxyCore.tracing` is null and each hook is one null check.
 */

import type { ServiceSpec } from '../config/types.ts';
import type { Outcome } from '../health/probe.ts';
import type { Fields } from '../http1/fields.ts';
import type { TargetState } from '../upstreams/target.ts';
import type { AccessEntry } from './access-log.ts';

/** The request as the server span reads it (a Downstream's fields). */
export interface TracedRequest {
  readonly method: string;
  readonly target: string;
  readonly host: string;
  readonly fields: Fields;
  readonly clientIp: string;
  readonly localPort: number;
  readonly h2: boolean;
  readonly minor: number;
  readonly socket: unknown;
}

/** The request's state machine (src/proxy/exchange.ts) as its trace reads it. */
export interface TracedExchange {
  readonly down: TracedRequest;
  /** The path (with query) each try sends, once routed. */
  readonly upstreamPath: string;
}

/** A try as its client span reads it (src/proxy/try.ts). */
export interface TracedTry {
  readonly target: TargetState;
  /** The try's response status (0 before its head). */
  readonly status: number;
  /** Given up by its request (lost a hedge, timed out, the client left). */
  readonly retired: boolean;
  /** The retry or hedge place it holds; null for a first try. */
  readonly reservation: unknown;
  span: TrySpan | null;
}

/** The service a try belongs to (a ServiceRuntime). */
export interface TracedService {
  readonly spec: Pick<ServiceSpec, 'protocol' | 'http2' | 'host'>;
}

/** The node's tracer: null on ProxyCore when tracing is off. */
export interface Tracing {
  /** The server span of a request, continuing its `traceparent` or starting a trace. */
  begin(ex: TracedExchange, startMs: number): RequestTrace;
  /** Send what is queued and stop (node stop, or a new `tracing` setting). */
  shutdown(): Promise<void>;
}

/** Where the proxy adds a field to the request a target gets (headers.ts FieldSink). */
export interface TraceFieldSink {
  add(name: string, value: string, trusted: boolean): void;
}

/** One request's trace: its server span and the context each try sends on. */
export interface RequestTrace {
  /** A try starts: its client span becomes the parent the target sees (`t.span` is set). */
  startTry(t: TracedTry, service: TracedService): void;
  /** Whether a client field is one the trace replaces (`traceparent`, `tracestate`). */
  replaces(f: Fields, i: number): boolean;
  /** Add `traceparent` (and `tracestate`) of the try being sent. */
  writeFields(sink: TraceFieldSink): void;
  /** A plugin phase ran from `startMs` to now: an event on the server span. */
  pluginPhase(phase: string, startMs: number, plugins: readonly string[], outcome: string): void;
  /** The request is over: its access-log entry gives the span's outcome. */
  end(entry: AccessEntry): void;
  /** The clock the trace reads (for pluginPhase's start). */
  nowMs(): number;
}

/** A try's client span. */
export interface TrySpan {
  /** The pool's error for this try (kept for the span's `error.type`). */
  error(err: Error): void;
  /** The try's bookkeeping ended (Try.finish): the span ends. */
  end(t: TracedTry, outcome: Outcome | null): void;
}
