/**
 * The client library's tries run on undici: map undici and socket errors to Fulcrum's stable codes,
 * and decide which may be retried (the proxy's own pools report UpstreamError, src/proxy/errors.ts).
 */
import type { ErrorCode } from '../core/errors.ts';
import { isTlsHandshakeError } from '../upstreams/upstream-tls.ts';

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'ECONNABORTED',
]);

export function classifyUndiciError(err: Error): ErrorCode {
  const code = (err as { code?: string }).code ?? '';
  if (CONNECT_CODES.has(code) || isTlsHandshakeError(code)) return 'FULCRUM_ERR_UPSTREAM_CONNECT';
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

/** What kind of failure a try met, for the retry policy's `retry_on`; null: never retried. */
export type { RetryKind } from '../proxy/errors.ts';

import type { RetryKind } from '../proxy/errors.ts';

/**
 * Which retry condition a transport failure falls under. A connect failure (or connect timeout)
 * reached nothing of the target's application; a malformed response, the client's own failures and
 * the proxy's are not retried.
 */
export function undiciRetryKind(err: Error, code: ErrorCode): RetryKind | null {
  const c = (err as { code?: string }).code ?? '';
  if (code === 'FULCRUM_ERR_UPSTREAM_CONNECT' || c === 'UND_ERR_CONNECT_TIMEOUT') return 'connect-failure';
  if (code === 'FULCRUM_ERR_UPSTREAM_TIMEOUT') return 'timeout';
  if (code === 'FULCRUM_ERR_UPSTREAM_RESET') return 'reset';
  return null;
}
