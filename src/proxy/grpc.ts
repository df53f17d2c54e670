/**
 * gRPC over the proxy (docs/http2.md#grpc): which requests are gRPC, their `grpc-timeout`, and
 * the proxy's own failures answered as gRPC statuses. A gRPC client reads the status from
 * `grpc-status` (and `grpc-message`) in the trailers, not from the HTTP status: the proxy answers
 * HTTP 200 with a trailers-only response (one HEADERS frame with END_STREAM, gRPC over HTTP/2
 * §Responses), mapping each stable error code as Envoy does (no route → UNIMPLEMENTED, as gRPC's
 * HTTP-to-gRPC table maps 404; no target, connect failure, reset → UNAVAILABLE; a timeout →
 * DEADLINE_EXCEEDED).
 */
import { Buffer } from 'node:buffer';
import type { ErrorCode } from '../core/errors.ts';
import { ERRORS } from '../core/errors.ts';
import { BODY_NONE, type Downstream } from './downstream.ts';

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

/** Whether a request is gRPC (`application/grpc`, `application/grpc+proto`, ...; not gRPC-Web), by its Content-Type. */
export function isGrpcRequest(ct: string | undefined): boolean {
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
 * HEADERS frame.
 */
export function sendGrpcError(
  down: Downstream,
  code: ErrorCode,
  requestIdHeader: string,
  requestId: string,
): void {
  const extra = [
    'content-type',
    'application/grpc',
    'grpc-status',
    String(grpcStatusOf(code)),
    'grpc-message',
    encodeGrpcMessage(`${ERRORS[code].message} (${code})`),
  ];
  if (requestIdHeader !== '' && requestId) extra.push(requestIdHeader, requestId);
  down.writeHead({
    status: 200,
    reason: '',
    copy: null,
    named: null,
    keepTrailer: false,
    extra,
    body: BODY_NONE,
    endStream: true,
  });
  down.end(null);
}

/** Whether a response head is a gRPC trailers-only answer (its head carries `grpc-status`). */
export function isTrailersOnly(fields: readonly string[]): boolean {
  for (let i = 0; i < fields.length; i += 2)
    if (fields[i]!.length === 11 && fields[i]!.toLowerCase() === 'grpc-status') return true;
  return false;
}
