/**
 * Why Fulcrum refused a fuzzed message that llhttp accepted: which of Fulcrum's deliberate
 * strictness choices (test/helpers/http1-corpus.ts STRICTER, docs/http1-parser.md) it falls under,
 * judged from llhttp's reading of the message (its head, as llhttp read it) and from the bytes.
 * A refusal no choice explains is reported by the fuzzer with its bytes, for a person to look at:
 * it may be a new strictness to document, or a parser bug.
 */
import { STRICTER } from '../test/helpers/http1-corpus.ts';
import type { Reading, ReadMessage } from '../test/helpers/http1-readers.ts';

/** The values of the fields named `lower` in a [name, value, ...] list. */
function values(flat: readonly string[], lower: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i]!.toLowerCase() === lower) out.push(flat[i + 1]!);
  return out;
}

const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(:[0-9]*)?$/;
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
/** A Transfer-Encoding value with an HTAB in or after it (llhttp keeps it, Node's rawHeaders trim it). */
const TE_TAB = /\ntransfer-encoding:[ \t]*[^ \t\r\n][^\r\n]*\t/i;

/**
 * The message Fulcrum refused, as llhttp read it (the first one their readings part on); when
 * llhttp was still waiting for the rest of its head, its first lines as they are in the bytes.
 */
function refusedMessage(fulcrum: Reading, llhttp: Reading, text: string): ReadMessage {
  const f = fulcrum.messages;
  const k = f.length > 0 && !f[f.length - 1]!.complete ? f.length - 1 : f.length;
  return llhttp.messages[k] ?? roughHead(k === 0 ? text : '');
}

/** A head read roughly from its lines (for the explanation only). */
function roughHead(text: string): ReadMessage {
  const lines = text.replace(/^(\r\n)+/, '').split('\r\n');
  const start = lines[0]!.split(' ');
  const response = /^[A-Z]+\/\d/.test(lines[0]!);
  const headers: string[] = [];
  for (const l of lines.slice(1)) {
    if (l === '') break;
    const c = l.indexOf(':');
    if (c > 0) headers.push(l.slice(0, c), l.slice(c + 1).trim());
  }
  return {
    method: response ? '' : (start[0] ?? ''),
    target: response ? '' : (start[1] ?? ''),
    status: response ? Number(start[1]) : 0,
    reason: response ? start.slice(2).join(' ') : '',
    version: (response ? start[0] : start[2])?.replace(/^[A-Z]+\//, '') ?? '',
    headers,
    body: '',
    trailers: [],
    complete: false,
  };
}

/** Choices that hold for requests and responses alike. */
function common(m: ReadMessage, fulcrum: Reading, bytes: string): string | null {
  if (fulcrum.refused === 'head-431' || fulcrum.refused === 'head-414') return STRICTER.OVER_LIMITS;
  if (m.version !== '1.0' && m.version !== '1.1') return STRICTER.VERSION;
  const te = values(m.headers, 'transfer-encoding');
  if (te.length > 1) return STRICTER.TE_REPEATED;
  if (fulcrum.refused === 'chunked') {
    const t = values(m.trailers, 'connection').length + values(m.trailers, 'transfer-encoding').length;
    if (t > 0) return STRICTER.TRAILER_FIELDS;
    if (m.trailers.length > 200 || /\n0\r\n([^\r\n]+\r\n){101}/.test(bytes)) return STRICTER.TRAILER_LIMITS;
    if (/(^|\n)[0-9A-Fa-f]{14,}/.test(bytes)) return STRICTER.CHUNK_SIZE_DIGITS;
    if (/(^|\n)[0-9A-Fa-f]+;[^\n]{4090,}/.test(bytes)) return STRICTER.CHUNK_LINE;
    if (/(^|\n)[0-9A-Fa-f]+(;[^\r\n]*)?(;=|=\r|=;|;;|=[^"\r\n;]+")/.test(bytes)) return STRICTER.CHUNK_EXT;
  }
  if (values(m.headers, 'content-length').some((v) => v.length >= 16)) return STRICTER.CONTENT_LENGTH_DIGITS;
  if (/\nconnection:[ \t]*[^ \t\r\n][^\r\n]*\t/i.test(bytes)) return STRICTER.CONNECTION_HTAB;
  if (/\ncontent-length:[ \t]*[^ \t\r\n][^\r\n]*\t/i.test(bytes)) return STRICTER.CONTENT_LENGTH_HTAB;
  return null;
}

/** Why Fulcrum refused (as a STRICTER reason) the message of `bytes` that llhttp accepted; or null. */
export function explain(request: boolean, bytes: Buffer, fulcrum: Reading, llhttp: Reading): string | null {
  const text = bytes.toString('latin1');
  const m = refusedMessage(fulcrum, llhttp, text);
  return common(m, fulcrum, text) ?? (request ? requestChoice : responseChoice)(m, fulcrum, text);
}

function requestChoice(m: ReadMessage, fulcrum: Reading, text: string): string | null {
  if (m.method === 'CONNECT') return STRICTER.CONNECT;
  if ((m.target.startsWith('*') && m.target.length > 1) || /^[A-Za-z]+:\/\/([/?]|$)/.test(m.target))
    return STRICTER.TARGET_FORM;
  const te = values(m.headers, 'transfer-encoding');
  if (te.length === 1 && m.version === '1.0') return STRICTER.TE_HTTP10;
  if (te.length === 1 && (te[0]!.toLowerCase() !== 'chunked' || TE_TAB.test(text)))
    return STRICTER.TE_NOT_CHUNKED;
  const hosts = values(m.headers, 'host');
  if (hosts.length === 0 && m.version === '1.1') return STRICTER.HOST_MISSING;
  if (hosts.length > 1) return STRICTER.HOST_REPEATED;
  if (hosts.length === 1 && (!HOST.test(hosts[0]!) || /\.\./.test(hosts[0]!))) return STRICTER.HOST_INVALID;
  const upgrade = values(m.headers, 'upgrade').map((v) => v.toLowerCase());
  const framed = te.length > 0 || values(m.headers, 'content-length').some((v) => Number(v) > 0);
  if (m.method === 'GET' && upgrade.includes('websocket') && framed) return STRICTER.WEBSOCKET_BODY;
  if (
    fulcrum.refused === 'head-400' &&
    /^(\r\n)*(\r(?!\n)|\n)|(^|[^\r])\n[\r\n]*[A-Z]|\r(?!\n)[\r\n]*[A-Z]/.test(text)
  )
    return STRICTER.REQUEST_LEADING_BARE;
  // A request line with two spaces where one belongs: llhttp reads past them.
  if (fulcrum.refused === 'head-400' && /[A-Z-]+ ( +[^ \r\n]+ *| *[^ \r\n]+ {2,})HTTP\//.test(text))
    return STRICTER.REQUEST_LINE_SPACES;
  return null;
}

function responseChoice(m: ReadMessage, fulcrum: Reading, text: string): string | null {
  if (fulcrum.refused === 'unexpected-101') return STRICTER.UNEXPECTED_101;
  if (m.status >= 100 && m.status < 200 && fulcrum.refused === 'message') return STRICTER.CLOSING_1XX;
  const te = values(m.headers, 'transfer-encoding');
  if (te.length === 1 && te[0] === '') return STRICTER.TE_EMPTY;
  if (te.length === 1 && (te[0]!.toLowerCase() !== 'chunked' || TE_TAB.test(text)))
    return STRICTER.RESPONSE_TE_NOT_CHUNKED;
  if (m.status < 100) return STRICTER.STATUS_BELOW_100;
  if (CONTROL.test(m.reason)) return STRICTER.REASON_CONTROLS;
  if (/^(\r\n)*(RTSP|ICE)\//.test(text) || /\n(RTSP|ICE)\//.test(text)) return STRICTER.NOT_HTTP;
  if (/^[\r\n]/.test(text) || /\r\n\r\n[\r\n]+(HTTP|RTSP|ICE)\//.test(text))
    return STRICTER.RESPONSE_LEADING_CRLF;
  if (/(^|\n)HTTP\/[^\n]*\r[^\n]/.test(text)) return STRICTER.STATUS_LINE_BARE_CR;
  return null;
}
