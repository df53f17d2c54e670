/**
 * Replies the proxy writes itself (errors today, plugin answers later): a JSON body with the
 * stable error code, the request id echoed, `Server` when server tokens are on, and
 * `Connection: close` when the request's framing cannot be trusted or the node is draining.
 */
import type { ServerResponse } from 'node:http';
import { ERRORS, type ErrorCode, errorBody } from '../core/errors.ts';
import { VERSION } from '../core/version.ts';

const SERVER = `fulcrum/${VERSION}`;

export interface ReplyOptions {
  readonly serverTokens: boolean;
  /** Lower-case header name for the request id, or '' when request ids are off. */
  readonly requestIdHeader: string;
  readonly requestId: string;
  readonly close: boolean;
  /** A HEAD request: the head only. */
  readonly head: boolean;
}

/** Write a JSON error reply; returns the body bytes sent. The caller checked headers are not sent. */
export function sendError(res: ServerResponse, code: ErrorCode, o: ReplyOptions): number {
  const e = ERRORS[code];
  const body = errorBody(code, o.requestId || undefined);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  };
  if (o.serverTokens) headers.server = SERVER;
  if (o.requestIdHeader !== '' && o.requestId) headers[o.requestIdHeader] = o.requestId;
  // HTTP/2 has no Connection field (Node refuses it); its stream simply ends.
  if (o.close && (res as { stream?: unknown }).stream === undefined) {
    headers.connection = 'close';
    res.shouldKeepAlive = false;
  }
  res.writeHead(e.status, headers);
  if (o.head) {
    res.end();
    return 0;
  }
  res.end(body);
  return Buffer.byteLength(body);
}

/**
 * Plain HTTP on a route whose `protocols` allow only https (Kong): 426 with Kong's message and
 * `Upgrade: TLS/1.2, HTTP/1.1`, or a redirect (301/302/307/308) to the same host, without its
 * port, and target over https. Returns the body bytes sent.
 */
export function sendHttpsUpgrade(res: ServerResponse, status: number, host: string, url: string): number {
  const redirect = status !== 426;
  const body = redirect ? '' : '{"message":"Please use HTTPS protocol"}';
  const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(body) };
  if (redirect) headers.location = `https://${host.replace(/:\d+$/, '')}${url}`;
  else {
    headers['content-type'] = 'application/json; charset=utf-8';
    headers.upgrade = 'TLS/1.2, HTTP/1.1';
    headers.connection = 'Upgrade';
  }
  res.writeHead(status, headers);
  res.end(body);
  return body.length;
}
