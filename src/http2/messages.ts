/**
 * What makes an HTTP/2 request well-formed (RFC 9113 §8.1, §8.2, §8.3; RFC 8441 §4) and which fields
 * a response carries over HTTP/2 (§8.2.2: no connection-specific fields). A malformed request is a
 * stream error (PROTOCOL_ERROR) and is never forwarded. The response side is shared by both codecs
 * (src/http2/stream.ts and src/listeners/h2-stream.ts).
 */

import { TARGET, TCHAR } from '../http1/syntax.ts';
import type { OutHead } from '../proxy/downstream.ts';
import { keepResponseField } from '../proxy/headers.ts';
import { validName } from './hpack-static.ts';

/** Fields HTTP/2 forbids (RFC 9113 §8.2.2). */
export const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

/** A request's pseudo-headers and fields, as read from a valid header list. */
export interface RequestHead {
  readonly method: string;
  readonly scheme: string;
  readonly path: string;
  readonly authority: string;
  /** RFC 8441 `:protocol` ('' when none). */
  readonly protocol: string;
  /** The regular fields, [name, value, ...]. */
  readonly fields: string[];
  /** The Content-Length, or -1. */
  readonly contentLength: number;
}

/**
 * Read a request's header list ([name, value, ...]); null when it is malformed: pseudo-headers
 * unknown, repeated, missing or after a regular field; a connection-specific field; TE other than
 * `trailers`; an empty `:path`; `:protocol` without CONNECT; Content-Length values not one number.
 */
export function readRequest(list: readonly string[]): RequestHead | null {
  let method = '';
  let scheme = '';
  let path = '';
  let authority = '';
  let protocol = '';
  let seen = 0;
  let regular = false;
  let contentLength = -1;
  const fields: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    const value = list[i + 1]!;
    if (name.charCodeAt(0) === 58 /* : */) {
      if (regular) return null;
      let bit: number;
      if (name === ':method') {
        bit = 1;
        method = value;
      } else if (name === ':path') {
        bit = 2;
        path = value;
      } else if (name === ':scheme') {
        bit = 4;
        scheme = value;
      } else if (name === ':authority') {
        bit = 8;
        authority = value;
      } else if (name === ':protocol') {
        bit = 16;
        protocol = value;
      } else return null;
      if ((seen & bit) !== 0) return null;
      seen |= bit;
      continue;
    }
    regular = true;
    if (CONNECTION_SPECIFIC.has(name)) return null;
    if (name === 'te' && value !== 'trailers') return null;
    if (name === 'content-length') {
      const n = parseLength(value);
      if (n < 0 || (contentLength >= 0 && n !== contentLength)) return null;
      contentLength = n;
    }
    fields.push(name, value);
  }
  if ((seen & 1) === 0) return null;
  if (method === 'CONNECT') {
    if ((seen & 16) === 0) {
      // Plain CONNECT (§8.5): :authority only; well-formed, though the proxy will not open it.
      if ((seen & 6) !== 0 || (seen & 8) === 0) return null;
    } else if ((seen & 14) !== 14 || path === '') return null;
  } else if ((seen & 16) !== 0 || (seen & 6) !== 6 || path === '') return null;
  // A method that is no token, or a :path outside VCHAR or not an absolute path ('*' for OPTIONS),
  // could not be written as an HTTP/1.1 request line (found by fuzz-http2).
  if (method === '' || !allIn(method, TCHAR) || !allIn(path, TARGET)) return null;
  if (path !== '' && path.charCodeAt(0) !== 47 /* / */ && !(path === '*' && method === 'OPTIONS'))
    return null;
  return { method, scheme, path, authority, protocol, fields, contentLength };
}

/** Whether every char of `s` is in the byte class `set`. */
function allIn(s: string, set: Uint8Array): boolean {
  for (let i = 0; i < s.length; i++)
    if (set[s.charCodeAt(i) & 0xff] !== 1 || s.charCodeAt(i) > 0xff) return false;
  return true;
}

/** A trailer section: no pseudo-headers, no connection-specific fields; null when malformed. */
export function readTrailers(list: readonly string[]): string[] | null {
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!;
    if (name.charCodeAt(0) === 58 || CONNECTION_SPECIFIC.has(name)) return null;
  }
  return list as string[];
}

/** No NUL, CR or LF (a sender's side of RFC 9113 §8.2.1; edge whitespace is left to the receiver). */
function sendableValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13) return false;
  }
  return true;
}

function parseLength(v: string): number {
  if (v.length === 0 || v.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/**
 * A response head's fields as HTTP/2 carries them, [name, value, ...] with names in lower case:
 * the target's fields that are kept (headers.ts keepResponseField), then `extra`, then Via, with
 * connection-specific fields dropped and Content-Length as the body mode says.
 */
export function responseFields(head: OutHead): string[] {
  const out: string[] = [];
  const mode = head.body;
  const bodiless = mode.kind === 'none';
  const copy = head.copy;
  if (copy !== null)
    for (let i = 0; i < copy.count; i++) {
      if (
        !keepResponseField(
          copy,
          i,
          head.named,
          head.keepTrailer,
          bodiless || mode.kind === 'length',
          head.dropVia,
        )
      )
        continue;
      const n = copy.name(i);
      if (CONNECTION_SPECIFIC.has(n) || (n === 'content-length' && mode.kind !== 'none')) continue;
      out.push(n, copy.value(i));
    }
  const extra = head.extra;
  for (let i = 0; i < extra.length; i += 2) {
    const n = extra[i]!.toLowerCase();
    if (CONNECTION_SPECIFIC.has(n) || (n === 'content-length' && mode.kind !== 'none')) continue;
    const v = extra[i + 1]!;
    // Fields added or edited by plugins were not read by a parser: a name that is no token, or a
    // value with CR, LF or NUL, must not be sent (RFC 9113 §8.2.1); the exchange answers 502.
    if (n.charCodeAt(0) === 58 || !validName(n) || !sendableValue(v))
      throw new Error(`a response field HTTP/2 cannot carry: ${JSON.stringify(n)}`);
    out.push(n, v);
  }
  if (head.via === true) out.push('via', '1.1 fulcrum');
  if (mode.kind === 'length') out.push('content-length', String(mode.length));
  return out;
}
