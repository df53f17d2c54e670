/**
 * What a parsed head means for the message: its framing (RFC 9112 §6), whether its connection
 * persists (§9.3), and the checks a proxy needs before it forwards anything. Requests are refused
 * (400) whenever two readers could disagree on where the message ends: Content-Length with
 * Transfer-Encoding, several Content-Length fields, a Transfer-Encoding other than exactly
 * `chunked` (`gzip, chunked` would be re-framed with its coding silently dropped), Transfer-Encoding
 * in HTTP/1.0, a missing, repeated or malformed Host, a WebSocket handshake with a body.
 * Responses from targets with such framing are refused as bad responses (502).
 */
import { Buffer } from 'node:buffer';
import { isValidHostHeader } from '../core/net.ts';
import type { RawFields } from './fields.ts';
import { latin1 } from './intern.ts';
import { eqLower, H, listTokens, parseContentLength } from './syntax.ts';

/** How a body is delimited. */
export type Framing =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  | { readonly kind: 'chunked' }
  /** Until the connection closes (responses only). */
  | { readonly kind: 'close' };

export const NO_BODY: Framing = Object.freeze({ kind: 'none' });
export const CHUNKED: Framing = Object.freeze({ kind: 'chunked' });
export const UNTIL_CLOSE: Framing = Object.freeze({ kind: 'close' });

/** What the Connection field (and the version) say of one message. */
export interface ConnectionFacts {
  /** The connection persists after this message (RFC 9112 §9.3). */
  readonly keepAlive: boolean;
  /** `Connection: upgrade` with an Upgrade field: its value, lower-cased; else null. */
  readonly upgrade: string | null;
  /** Other fields the Connection field names (hop-by-hop for this message), lower-cased; or null. */
  readonly named: readonly string[] | null;
}

export interface RequestMessage extends ConnectionFacts {
  readonly method: string;
  readonly target: string;
  readonly minor: number;
  readonly fields: RawFields;
  readonly framing: Framing;
  /** `Expect: 100-continue`. */
  readonly expectContinue: boolean;
  /** The Host field's value ('' for an HTTP/1.0 request without one). */
  readonly host: string;
}

export interface ResponseMessage extends ConnectionFacts {
  readonly status: number;
  readonly reason: string;
  readonly minor: number;
  readonly fields: RawFields;
  readonly framing: Framing;
}

const CHUNKED_BYTES = Buffer.from('chunked', 'latin1');
const KEEP_ALIVE_BYTES = Buffer.from('keep-alive', 'latin1');
const CLOSE_BYTES = Buffer.from('close', 'latin1');

/**
 * A Transfer-Encoding value (OWS trimmed) that is exactly `chunked`, in any case (letters only, for
 * which eqLower's `| 0x20` is exact whatever the byte compared). Not a list: in
 * `chunked,` llhttp sees a final coding that is not chunked (it refuses the request, and reads a
 * response until the close), so a list with an empty element is refused like any other.
 */
function isChunked(buf: Buffer, s: number, e: number): boolean {
  return e - s === CHUNKED_BYTES.length && eqLower(buf, s, CHUNKED_BYTES);
}

/**
 * Whether field `i` holds an HTAB in its value or in the whitespace after it (up to its CR).
 * RFC 9110 makes a trailing HTAB OWS, but llhttp reads it as part of a Content-Length (refused),
 * Transfer-Encoding (`chunked\t` is not chunked) or Connection value (`close\t` is not close): two
 * readers would frame or keep the connection differently, so these fields may not have one.
 */
function tabbed(f: RawFields, i: number): boolean {
  const b = f.buf;
  let k = f.at[4 * i + 2]!;
  const e = f.at[4 * i + 3]!;
  for (; k < e; k++) if (b[k] === 0x09) return true;
  for (; b[k] === 0x20 || b[k] === 0x09; k++) if (b[k] === 0x09) return true;
  return false;
}

/** Connection persistence, upgrade and named fields, from a message's fields and version. */
function connectionFacts(f: RawFields, minor: number): ConnectionFacts {
  let close = false;
  let keepAlive = false;
  let upgradeToken = false;
  let named: string[] | null = null;
  for (let i = f.indexOfId(H.CONNECTION); i >= 0; i = f.indexOfId(H.CONNECTION, i + 1)) {
    const at = f.at;
    const vs = at[4 * i + 2]!;
    const ve = at[4 * i + 3]!;
    // The common values alone, told from their bytes without a list of strings.
    if (ve - vs === KEEP_ALIVE_BYTES.length && eqLower(f.buf, vs, KEEP_ALIVE_BYTES)) {
      keepAlive = true;
      continue;
    }
    if (ve - vs === CLOSE_BYTES.length && eqLower(f.buf, vs, CLOSE_BYTES)) {
      close = true;
      continue;
    }
    for (const t of listTokens(f.buf, vs, ve)) {
      if (t === 'close') close = true;
      else if (t === 'keep-alive') keepAlive = true;
      else {
        if (t === 'upgrade') upgradeToken = true;
        if (named === null) named = [];
        named.push(t);
      }
    }
  }
  let upgrade: string | null = null;
  if (upgradeToken) {
    const u = f.indexOfId(H.UPGRADE);
    if (u >= 0) upgrade = f.value(u).toLowerCase();
  }
  return { keepAlive: !close && (minor === 1 || keepAlive), upgrade, named };
}

/**
 * The meaning of a request head, or 'bad' when it must be refused (400, connection closed).
 * Limits on size were the parser's; this checks framing, Host and the method.
 */
export function requestMessage(
  method: string,
  target: string,
  minor: number,
  f: RawFields,
): RequestMessage | 'bad' {
  let length = -1;
  let lengths = 0;
  let te = -1;
  let tes = 0;
  let host = -1;
  let hosts = 0;
  let expectContinue = false;
  const ids = f.ids;
  const at = f.at;
  for (let i = 0; i < ids.length; i++) {
    switch (ids[i]) {
      case H.CONTENT_LENGTH:
        lengths++;
        length = parseContentLength(f.buf, at[4 * i + 2]!, at[4 * i + 3]!);
        if (length < 0 || tabbed(f, i)) return 'bad';
        break;
      case H.TRANSFER_ENCODING:
        tes++;
        te = i;
        if (tabbed(f, i)) return 'bad';
        break;
      case H.CONNECTION:
        if (tabbed(f, i)) return 'bad';
        break;
      case H.HOST:
        hosts++;
        host = i;
        break;
      case H.EXPECT:
        // Other expectations are ignored (nginx does the same); Expect is never forwarded.
        if (f.value(i).toLowerCase() === '100-continue') expectContinue = true;
        break;
    }
  }
  if (lengths > 1 || tes > 1 || hosts > 1) return 'bad';
  let framing: Framing = NO_BODY;
  if (te >= 0) {
    if (minor === 0 || lengths > 0) return 'bad';
    if (!isChunked(f.buf, at[4 * te + 2]!, at[4 * te + 3]!)) return 'bad';
    framing = CHUNKED;
  } else if (length > 0) framing = { kind: 'length', length };
  if (hosts === 0 && minor === 1) return 'bad';
  // A connection's requests repeat their Host: its string is made once (intern.ts).
  const hostValue = host >= 0 ? latin1(f.buf, at[4 * host + 2]!, at[4 * host + 3]!) : '';
  if (host >= 0 && !isValidHostHeader(hostValue)) return 'bad';
  // CONNECT asks for a tunnel, which this proxy does not open (nginx answers 405).
  if (method === 'CONNECT') return 'bad';
  const c = connectionFacts(f, minor);
  // A WebSocket handshake has no body (RFC 6455 §4.1). With one, where the tunnel starts is
  // ambiguous: the connection would tunnel from the end of the head, llhttp and nginx from the end
  // of the body.
  if (c.upgrade === 'websocket' && method === 'GET' && framing !== NO_BODY) return 'bad';
  return {
    method,
    target,
    minor,
    fields: f,
    framing,
    expectContinue,
    host: hostValue,
    keepAlive: c.keepAlive,
    upgrade: c.upgrade,
    named: c.named,
  };
}

/**
 * The meaning of a response head to a request (`head`: to a HEAD request), or 'bad' when its
 * framing is ambiguous (502, connection dropped).
 */
export function responseMessage(
  status: number,
  reason: string,
  minor: number,
  f: RawFields,
  head: boolean,
): ResponseMessage | 'bad' {
  let length = -1;
  let te = -1;
  let tes = 0;
  const ids = f.ids;
  const at = f.at;
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] === H.CONTENT_LENGTH) {
      const n = parseContentLength(f.buf, at[4 * i + 2]!, at[4 * i + 3]!);
      // Repeated, even with the same value: llhttp (so undici) and nginx 1.23+ refuse it too.
      if (n < 0 || length >= 0 || tabbed(f, i)) return 'bad';
      length = n;
    } else if (ids[i] === H.TRANSFER_ENCODING) {
      tes++;
      te = i;
      // Empty, it names no coding: llhttp 9.4 (Node 24) refuses it even where there is no body.
      if (tabbed(f, i) || at[4 * i + 2] === at[4 * i + 3]) return 'bad';
    } else if (ids[i] === H.CONNECTION && tabbed(f, i)) return 'bad';
  }
  // Both framings named is refused even where there is no body (HEAD, 1xx, 204, 304), as llhttp does.
  if (te >= 0 && length >= 0) return 'bad';
  const c = connectionFacts(f, minor);
  // An interim response that ends its connection (Connection: close, HTTP/1.0) leaves the final
  // response nowhere to come: llhttp refuses what follows it, and so does this.
  if (status < 200 && status !== 101 && !c.keepAlive) return 'bad';
  let framing: Framing;
  let keepAlive = c.keepAlive;
  if (head || status < 200 || status === 204 || status === 304) framing = NO_BODY;
  else if (te >= 0) {
    if (tes > 1) return 'bad';
    if (!isChunked(f.buf, at[4 * te + 2]!, at[4 * te + 3]!)) return 'bad';
    framing = CHUNKED;
  } else if (length >= 0) framing = length === 0 ? NO_BODY : { kind: 'length', length };
  else {
    framing = UNTIL_CLOSE;
    keepAlive = false;
  }
  return { status, reason, minor, fields: f, framing, keepAlive, upgrade: c.upgrade, named: c.named };
}
