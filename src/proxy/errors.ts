/** Map a failed call to a target (upstream-call.ts) to Fulcrum's stable codes, and decide which may be retried. */
import type { ErrorCode } from '../core/errors.ts';
import { FulcrumError } from '../core/errors.ts';
import { UpstreamError } from '../upstreams/upstream-call.ts';
import { isTlsHandshakeError } from '../upstreams/upstream-tls.ts';

export function classifyUpstreamError(err: Error): ErrorCode {
  if (err instanceof FulcrumError) return err.code;
  if (!(err instanceof UpstreamError)) return 'FULCRUM_ERR_UPSTREAM_RESET';
  switch (err.failure) {
    case 'connect':
      return 'FULCRUM_ERR_UPSTREAM_CONNECT';
    case 'connect-timeout':
    case 'timeout':
    case 'write-timeout':
      return 'FULCRUM_ERR_UPSTREAM_TIMEOUT';
    case 'bad-response':
      return 'FULCRUM_ERR_UPSTREAM_BAD_RESPONSE';
    case 'aborted':
      return 'FULCRUM_ERR_CLIENT_ABORTED';
    case 'closed':
      return 'FULCRUM_ERR_UPSTREAM_CONNECT';
    default:
      // A TLS alert from the target after the handshake began is still a failure to connect.
      return isTlsHandshakeError(err.code) ? 'FULCRUM_ERR_UPSTREAM_CONNECT' : 'FULCRUM_ERR_UPSTREAM_RESET';
  }
}

/** What kind of failure a try met, for the retry policy's `retry_on`; null: never retried. */
export type RetryKind = 'connect-failure' | 'reset' | 'timeout' | 'http-status';

/**
 * Which retry condition a failure falls under. A connect failure (or connect timeout) reached
 * nothing of the target's application; a malformed response, the client's own failures and the
 * proxy's are not retried.
 */
export function retryKind(err: Error, code: ErrorCode): RetryKind | null {
  if (err instanceof UpstreamError) {
    switch (err.failure) {
      case 'connect':
      case 'connect-timeout':
      case 'closed':
        return 'connect-failure';
      case 'timeout':
        return 'timeout';
      case 'reset':
        return isTlsHandshakeError(err.code) ? 'connect-failure' : 'reset';
      default:
        return null;
    }
  }
  if (code === 'FULCRUM_ERR_UPSTREAM_RESET') return 'reset';
  return null;
}
