/**
 * Every error Fulcrum can answer with, in one table: a stable code (used in response bodies, the
 * access log and the `fulcrum_errors_total` metric), the HTTP status, and a human message.
 * Codes never change meaning once released; add new ones instead. (undici UND_ERR_*, fastify FST_ERR_*)
 */
export const ERRORS = {
  FULCRUM_ERR_BAD_REQUEST: { status: 400, message: 'bad request' },
  FULCRUM_ERR_URI_TOO_LONG: { status: 414, message: 'request URI too long' },
  FULCRUM_ERR_HEADERS_TOO_LARGE: { status: 431, message: 'request header fields too large' },
  FULCRUM_ERR_REQUEST_TIMEOUT: { status: 408, message: 'request timeout' },
  FULCRUM_ERR_PAYLOAD_TOO_LARGE: { status: 413, message: 'request body too large' },
  FULCRUM_ERR_NO_ROUTE: { status: 404, message: 'no route matched with those values' },
  FULCRUM_ERR_ROUTE_DISABLED: {
    status: 503,
    message: 'the matched route is disabled by a configuration error',
  },
  FULCRUM_ERR_NO_HEALTHY_TARGET: { status: 503, message: 'no healthy target in the upstream' },
  FULCRUM_ERR_UPSTREAM_OVERFLOW: {
    status: 503,
    message: "the upstream's circuit breaker is open: too many requests in flight or waiting",
  },
  FULCRUM_ERR_UPSTREAM_CONNECT: { status: 502, message: 'could not connect to the upstream target' },
  FULCRUM_ERR_UPSTREAM_RESET: { status: 502, message: 'the upstream target closed the connection' },
  FULCRUM_ERR_UPSTREAM_BAD_RESPONSE: { status: 502, message: 'the upstream target sent an invalid response' },
  FULCRUM_ERR_UPSTREAM_TIMEOUT: { status: 504, message: 'the upstream target timed out' },
  FULCRUM_ERR_SHUTTING_DOWN: { status: 503, message: 'the proxy is shutting down' },
  FULCRUM_ERR_INTERNAL: { status: 500, message: 'internal error' },
  FULCRUM_ERR_CLIENT_ABORTED: { status: 499, message: 'the client closed the connection' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** An error that carries one of the stable codes. */
export class FulcrumError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  constructor(code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ?? ERRORS[code].message, options);
    this.code = code;
    this.status = ERRORS[code].status;
  }
}

/** The JSON body of a locally generated error reply (Kong answers `{"message": ...}`; we add the code). */
export function errorBody(code: ErrorCode, requestId: string | undefined): string {
  const e = ERRORS[code];
  return JSON.stringify({ message: e.message, code, request_id: requestId });
}
