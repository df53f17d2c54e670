/**
 * Replies the proxy writes itself: a JSON body with the stable error code, the request id echoed,
 * `Server` when server tokens are on. Whether the connection closes after is the Downstream's
 * `closeAfter` (set by the caller when the request's framing cannot be trusted, or on drain).
 */
import { Buffer } from 'node:buffer';
import { ERRORS, type ErrorCode, errorBody } from '../core/errors.ts';
import { VERSION } from '../core/version.ts';
import type { Downstream } from './downstream.ts';

const SERVER = `fulcrum/${VERSION}`;

export interface ReplyOptions {
  readonly serverTokens: boolean;
  /** Lower-case header name for the request id, or '' when request ids are off. */
  readonly requestIdHeader: string;
  readonly requestId: string;
  /** A HEAD request: the head only. */
  readonly head: boolean;
}

/** Write a whole local response: head, then the body unless HEAD. Returns the body bytes sent. */
export function sendBody(
  down: Downstream,
  status: number,
  fields: string[],
  body: Buffer | null,
  o: ReplyOptions,
): number {
  const n = body === null ? 0 : body.length;
  addReplyFields(fields, o);
  down.writeHead({
    status,
    reason: '',
    copy: null,
    named: null,
    keepTrailer: false,
    extra: fields,
    body: { kind: 'length', length: n },
  });
  if (body !== null && n > 0 && !o.head) down.write(body);
  down.end(null);
  return o.head ? 0 : n;
}

/** `Server` (with server tokens on) and the request id, as every local reply carries them. */
export function addReplyFields(fields: string[], o: ReplyOptions): void {
  if (o.serverTokens) fields.push('server', SERVER);
  if (o.requestIdHeader !== '' && o.requestId) fields.push(o.requestIdHeader, o.requestId);
}

/** Write a JSON error reply; returns the body bytes sent. The caller checked headers are not sent. */
export function sendError(down: Downstream, code: ErrorCode, o: ReplyOptions): number {
  const body = Buffer.from(errorBody(code, o.requestId || undefined));
  return sendBody(down, ERRORS[code].status, ['content-type', 'application/json; charset=utf-8'], body, o);
}

/**
 * Plain HTTP on a route whose `protocols` allow only https (Kong): 426 with Kong's message and
 * `Upgrade: TLS/1.2, HTTP/1.1`, or a redirect (301/302/307/308) to the same host, without its
 * port, and target over https. Returns the body bytes sent.
 */
export function sendHttpsUpgrade(down: Downstream, status: number, host: string, url: string): number {
  const redirect = status !== 426;
  const fields: string[] = [];
  if (redirect) {
    fields.push('location', `https://${host.replace(/:\d+$/, '')}${url}`);
    return sendBody(down, status, fields, null, NO_OPTIONS);
  }
  fields.push('content-type', 'application/json; charset=utf-8', 'upgrade', 'TLS/1.2, HTTP/1.1');
  return sendBody(down, status, fields, Buffer.from('{"message":"Please use HTTPS protocol"}'), NO_OPTIONS);
}

const NO_OPTIONS: ReplyOptions = { serverTokens: false, requestIdHeader: '', requestId: '', head: false };
