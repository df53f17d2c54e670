/** Map undici and socket errors to Fulcrum's stable codes, and decide which may be retried. */
import type { Readable } from 'node:stream';
import type { ErrorCode } from '../core/errors.ts';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'ECONNABORTED',
]);

export function classifyUpstreamError(err: Error): ErrorCode {
  const code = (err as { code?: string }).code ?? '';
  if (CONNECT_CODES.has(code)) return 'FULCRUM_ERR_UPSTREAM_CONNECT';
  if (
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'ETIMEDOUT'
  )
    return 'FULCRUM_ERR_UPSTREAM_TIMEOUT';
  if (code === 'UND_ERR_ABORTED') return 'FULCRUM_ERR_CLIENT_ABORTED';
  // undici refused the request the proxy built (a header value with CR/LF from the configuration,
  // say) before sending a byte: the proxy's fault, not the target's, and not worth a retry.
  if (code === 'UND_ERR_INVALID_ARG') return 'FULCRUM_ERR_INTERNAL';
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED')
    return 'FULCRUM_ERR_UPSTREAM_RESET';
  if (
    // undici 7's HTTPParserError carries no code for most llhttp errors (invalid status line,
    // invalid header character): its name is the reliable mark of a malformed response.
    err.name === 'HTTPParserError' ||
    code.startsWith('HPE_') ||
    code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' ||
    code === 'UND_ERR_HEADERS_OVERFLOW' ||
    code === 'UND_ERR_INFO'
  )
    return 'FULCRUM_ERR_UPSTREAM_BAD_RESPONSE';
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') return 'FULCRUM_ERR_CLIENT_ABORTED';
  return 'FULCRUM_ERR_UPSTREAM_RESET';
}

/**
 * A try may be repeated on another target when nothing of it can have reached the first one's
 * application: the connection was never established; or the method is idempotent, there is no
 * body, and the connection failed before any response (a stale keep-alive socket).
 */
export function isRetryable(
  err: Error,
  code: ErrorCode,
  body: Readable | null,
  method: string,
  idempotent: ReadonlySet<string>,
): boolean {
  const c = (err as { code?: string }).code ?? '';
  // undici writes no body byte before the connection is up, so the body stream is untouched.
  if (code === 'FULCRUM_ERR_UPSTREAM_CONNECT' || c === 'UND_ERR_CONNECT_TIMEOUT') return true;
  if (code === 'FULCRUM_ERR_UPSTREAM_RESET') return body === null && idempotent.has(method);
  return false;
}
