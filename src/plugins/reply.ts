/**
 * Local replies of plugins (401, 403, 429, a CORS preflight, request-termination), written like
 * the proxy's own error replies (src/proxy/reply.ts): a JSON body (Kong's `{"message": ...}`),
 * `Server` when server tokens are on, the request id echoed; then the headers plugins added and
 * the header_filter phase of the plugins that ran, as on a proxied response.
 */
import { Buffer } from 'node:buffer';
import type { Downstream } from '../proxy/downstream.ts';
import { addReplyFields, type ReplyOptions, sendBody } from '../proxy/reply.ts';
import type { PluginRun } from './chain.ts';
import type { LocalReply } from './types.ts';

/** Write a plugin's local reply; returns the body bytes sent. The caller checked headers are not sent. */
export function sendLocalReply(down: Downstream, reply: LocalReply, run: PluginRun, o: ReplyOptions): number {
  const headers: string[] = [];
  const given = reply.headers ?? {};
  let body: Buffer | null = null;
  if (reply.body !== undefined) {
    const b = reply.body;
    const json = typeof b !== 'string' && !Buffer.isBuffer(b);
    body = Buffer.isBuffer(b) ? b : Buffer.from(json ? JSON.stringify(b) : (b as string));
    if (given['content-type'] === undefined)
      headers.push('content-type', json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8');
  }
  // Names are lower case (the LocalReply contract).
  for (const name in given) headers.push(name, given[name]!);
  addReplyFields(headers, o);
  run.headerFilter(reply.status, headers, true);
  return sendBody(down, reply.status, headers, body, { ...o, serverTokens: false, requestIdHeader: '' });
}
