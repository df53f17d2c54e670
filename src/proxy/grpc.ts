/**
 * gRPC over the proxy (docs/http2.md#grpc): which requests are gRPC, their `grpc-timeout`, and
 * the proxy's own failures answered as gRPC statuses. A gRPC client reads the status from
 * `grpc-status` (and `grpc-message`) in the trailers, not from the HTTP status: the proxy answers
 * HTTP 200 with a trailers-only response (one HEADERS frame with END_STREAM, gRPC over HTTP/2
 * §Responses), mapping each stable error code as Envoy does (no route → UNIMPLEMENTED, as gRPC's
 * HTTP-to-gRPC table maps 404; no target, connect failure, reset → UNAVAILABLE; a timeout →
 * DEADLINE_EXCEEDED).
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { ErrorCode } from '../core/errors.ts';
import { ERRORS } from '../core/errors.ts';

/** The gRPC status codes the proxy answers with (grpc/doc/statuscodes.md). */
export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

const BY_CODE: Readonly<Record<ErrorCode, number>> = {
  FULCRUM_ERR_BAD_REQUEST: GRPC_STATUS.INTERNAL,
  FULCRUM_ERR_URI_TOO_LONG: GRPC_STATUS.RESOURCE_EXHAUSTED,
  FULCRUM_ERR_HEADERS_TOO_LARGE: GRPC_STATUS.RESOURCE_EXHAUSTED,
  FULCRUM_ERR_REQUEST_TIMEOUT: GRPC_STATUS.DEADLINE_EXCEEDED,
  FULCRUM_ERR_PAYLOAD_TOO_LARGE: GRPC_STATUS.RESOURCE_EXHAUSTED,
  FULCRUM_ERR_NO_ROUTE: GRPC_STATUS.UNIMPLEMENTED,
  FULCRUM_ERR_ROUTE_DISABLED: GRPC_STATUS.UNAVAILABLE,
  FULCRUM_ERR_NO_HEALTHY_TARGET: GRPC_STATUS.UNAVAILABLE,
  FULCRUM_ERR_UPSTREAM_OVERFLOW: GRPC_STATUS.UNAVAILABLE,
  FULCRUM_ERR_UPSTREAM_CONNECT: GRPC_STATUS.UNAVAILABLE,
  FULCRUM_ERR_UPSTREAM_RESET: GRPC_STATUS.UNAVAILABLE,
  FULCRUM_ERR_UPSTREAM_BAD_RESPONSE: GRPC_STATUS.INTERNAL,
  FULCRUM_ERR_UPSTREAM_TIMEOUT: GRPC_STATUS.DEADLINE_EXCEEDED,
  FULCRUM_ERR_SHUTTING_DOWN: GRPC_STATUS.UNAVAILABLE,
  FULCRUM_ERR_INTERNAL: GRPC_STATUS.INTERNAL,
  FULCRUM_ERR_CLIENT_ABORTED: GRPC_STATUS.CANCELLED,
};

/** The gRPC status a proxy failure is answered with. */
export function grpcStatusOf(code: ErrorCode): number {
  return BY_CODE[code];
}

/** Whether a request is gRPC (`application/grpc`, `application/grpc+proto`, ...; not gRPC-Web). */
export function isGrpcRequest(headers: IncomingHttpHeaders): boolean {
  const ct = headers['content-type'];
  if (typeof ct !== 'string' || !ct.startsWith('application/grpc')) return false;
  const next = ct.charCodeAt(16);
  // `application/grpc` alone, or followed by `+format` or `;params`; `application/grpc-web` is not.
  return Number.isNaN(next) || next === 43 /* + */ || next === 59 /* ; */;
}

const UNIT_MS: Readonly<Record<string, number>> = {
  H: 3600000,
  M: 60000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/** `grpc-timeout` (1 to 8 digits and a unit, H M S m u n) in milliseconds; -1 when absent or malformed. */
export function grpcTimeoutMs(v: string | string[] | undefined): number {
  if (typeof v !== 'string' || v.length < 2 || v.length > 9) return -1;
  const unit = UNIT_MS[v[v.length - 1]!];
  const digits = v.slice(0, -1);
  if (unit === undefined || !/^[0-9]+$/.test(digits)) return -1;
  return Math.max(1, Math.ceil(Number(digits) * unit));
}

/** Percent-encode a `grpc-message` (bytes outside printable ASCII, and `%`). */
export function encodeGrpcMessage(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Answer a gRPC request with a proxy failure, trailers-only: HTTP 200, `content-type:
 * application/grpc`, `grpc-status`, `grpc-message` (and the request id), END_STREAM on the
 * HEADERS frame (headers set, then end() without writeHead, which Node sends as one frame).
 */
export function sendGrpcError(
  res: ServerResponse,
  code: ErrorCode,
  requestIdHeader: string,
  requestId: string,
): void {
  res.statusCode = 200;
  res.setHeader('content-type', 'application/grpc');
  res.setHeader('grpc-status', String(grpcStatusOf(code)));
  res.setHeader('grpc-message', encodeGrpcMessage(`${ERRORS[code].message} (${code})`));
  if (requestIdHeader !== '' && requestId) res.setHeader(requestIdHeader, requestId);
  res.end();
}

/**
 * Write a response head on an HTTP/2 stream from a flat [name, value, ...] list. A gRPC
 * trailers-only answer from the target (its head carries `grpc-status`) is held until end() so it
 * leaves as one HEADERS frame with END_STREAM; a gRPC client reads the status only from such a
 * frame or from trailers.
 */
export function writeHeadH2(res: ServerResponse, status: number, headers: readonly string[]): void {
  let trailersOnly = false;
  for (let i = 0; i < headers.length; i += 2)
    if (headers[i]!.length === 11 && headers[i]!.toLowerCase() === 'grpc-status') trailersOnly = true;
  if (!trailersOnly) {
    res.writeHead(status, headers as string[]);
    return;
  }
  res.statusCode = status;
  const grouped = new Map<string, string[]>();
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const list = grouped.get(name);
    if (list === undefined) grouped.set(name, [headers[i + 1]!]);
    else list.push(headers[i + 1]!);
  }
  for (const [name, values] of grouped) res.setHeader(name, values.length === 1 ? values[0]! : values);
}

/** Trailer pairs as the object Http2ServerResponse.addTrailers takes (repeated names as arrays). */
export function trailerObject(pairs: readonly [string, string][]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of pairs) {
    const name = k.toLowerCase();
    const prev = out[name];
    out[name] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}
