/**
 * HTTP/1.1 message syntax shared by Fulcrum's request and response parsers (RFC 9110 §5.6,
 * RFC 9112): byte classes, and the header names the proxy must recognise, matched on the bytes
 * without making a string of every name.
 */
import { Buffer } from 'node:buffer';

/** tchar (RFC 9110 §5.6.2): the bytes of methods and field names. */
export const TCHAR = new Uint8Array(256);
/** field-vchar, SP and HTAB (RFC 9110 §5.5): the bytes of a field value (obs-text included). */
export const FIELD_VALUE = new Uint8Array(256);
/** The bytes of a request target: VCHAR (no spaces, controls or non-ASCII). */
export const TARGET = new Uint8Array(256);
/** Hex digit values, 255 for anything else. */
export const HEX = new Uint8Array(256).fill(255);
/** The bytes of a URI's authority (RFC 3986 §3.2: unreserved, pct-encoded, sub-delims, `:@[]`). */
export const AUTHORITY = new Uint8Array(256);

for (let c = 0; c < 256; c++) {
  const ch = String.fromCharCode(c);
  TCHAR[c] = /[A-Za-z0-9!#$%&'*+\-.^_`|~]/.test(ch) ? 1 : 0;
  FIELD_VALUE[c] = (c >= 0x20 && c !== 0x7f) || c === 0x09 ? 1 : 0;
  TARGET[c] = c > 0x20 && c < 0x7f ? 1 : 0;
  AUTHORITY[c] = /[A-Za-z0-9\-._~%!$&'()*+,;=:@[\]]/.test(ch) ? 1 : 0;
}
for (let c = 0; c < 10; c++) HEX[48 + c] = c;
for (let c = 0; c < 6; c++) {
  HEX[65 + c] = 10 + c;
  HEX[97 + c] = 10 + c;
}

/** Header names the proxy acts on; 0 is any other name. */
export const H = {
  OTHER: 0,
  HOST: 1,
  CONTENT_LENGTH: 2,
  TRANSFER_ENCODING: 3,
  CONNECTION: 4,
  KEEP_ALIVE: 5,
  PROXY_CONNECTION: 6,
  PROXY_AUTHENTICATE: 7,
  PROXY_AUTHORIZATION: 8,
  TE: 9,
  TRAILER: 10,
  UPGRADE: 11,
  EXPECT: 12,
  HTTP2_SETTINGS: 13,
  X_FORWARDED_FOR: 14,
  X_FORWARDED_PROTO: 15,
  X_FORWARDED_HOST: 16,
  X_FORWARDED_PORT: 17,
  X_REAL_IP: 18,
  FORWARDED: 19,
  VIA: 20,
  /** Any other `proxy-*` field (never forwarded, as nginx and Kong drop them). */
  PROXY_OTHER: 21,
  DATE: 22,
} as const;
export type HeaderId = (typeof H)[keyof typeof H];

const KNOWN: readonly [string, HeaderId][] = [
  ['host', H.HOST],
  ['content-length', H.CONTENT_LENGTH],
  ['transfer-encoding', H.TRANSFER_ENCODING],
  ['connection', H.CONNECTION],
  ['keep-alive', H.KEEP_ALIVE],
  ['proxy-connection', H.PROXY_CONNECTION],
  ['proxy-authenticate', H.PROXY_AUTHENTICATE],
  ['proxy-authorization', H.PROXY_AUTHORIZATION],
  ['te', H.TE],
  ['trailer', H.TRAILER],
  ['upgrade', H.UPGRADE],
  ['expect', H.EXPECT],
  ['http2-settings', H.HTTP2_SETTINGS],
  ['x-forwarded-for', H.X_FORWARDED_FOR],
  ['x-forwarded-proto', H.X_FORWARDED_PROTO],
  ['x-forwarded-host', H.X_FORWARDED_HOST],
  ['x-forwarded-port', H.X_FORWARDED_PORT],
  ['x-real-ip', H.X_REAL_IP],
  ['forwarded', H.FORWARDED],
  ['via', H.VIA],
  ['date', H.DATE],
];

const BY_NAME = new Map<string, HeaderId>(KNOWN);

/** Which known header a lower-case name is (for fields that arrive as strings). */
export function headerIdOfName(lower: string): HeaderId {
  const id = BY_NAME.get(lower);
  if (id !== undefined) return id;
  return lower.startsWith('proxy-') ? H.PROXY_OTHER : H.OTHER;
}

/** Known names by length: their lower-case bytes and ids, in parallel lists (indexed loops, no destructuring). */
const BYTES_BY_LENGTH: Uint8Array[][] = [];
const IDS_BY_LENGTH: HeaderId[][] = [];
for (const [name, id] of KNOWN) {
  const n = name.length;
  if (BYTES_BY_LENGTH[n] === undefined) {
    BYTES_BY_LENGTH[n] = [];
    IDS_BY_LENGTH[n] = [];
  }
  BYTES_BY_LENGTH[n].push(Buffer.from(name, 'latin1'));
  IDS_BY_LENGTH[n]!.push(id);
}

/**
 * Whether `buf[s..s+lower.length)` equals `lower` ignoring ASCII case. `lower` holds lower-case
 * letters, digits and `-` only, and `buf` holds tchars (validated), for which `| 0x20` is exact.
 */
export function eqLower(buf: Uint8Array, s: number, lower: Uint8Array): boolean {
  for (let i = 0; i < lower.length; i++) if ((buf[s + i]! | 0x20) !== lower[i]) return false;
  return true;
}

/** Which known header a validated name `buf[s..e)` is. */
export function headerId(buf: Uint8Array, s: number, e: number): HeaderId {
  const n = e - s;
  if (n < BYTES_BY_LENGTH.length) {
    const list = BYTES_BY_LENGTH[n];
    if (list !== undefined) {
      // The first byte tells most names apart before a whole comparison.
      const first = buf[s]! | 0x20;
      for (let k = 0; k < list.length; k++) {
        const bytes = list[k]!;
        if (bytes[0] === first && eqLower(buf, s, bytes)) return IDS_BY_LENGTH[n]![k]!;
      }
    }
  }
  if (n > 6 && (buf[s]! | 0x20) === 0x70 && eqLower(buf, s, PROXY_DASH)) return H.PROXY_OTHER;
  return H.OTHER;
}
const PROXY_DASH = Buffer.from('proxy-', 'latin1');

/** Fields never forwarded in either direction (RFC 9110 §7.6.1), besides those Connection names. */
const HOP_BY_HOP = new Uint8Array(32);
for (const id of [
  H.CONNECTION,
  H.KEEP_ALIVE,
  H.PROXY_CONNECTION,
  H.PROXY_AUTHENTICATE,
  H.PROXY_AUTHORIZATION,
  H.PROXY_OTHER,
  H.TE,
  H.TRAILER,
  H.TRANSFER_ENCODING,
  H.UPGRADE,
  H.EXPECT,
  H.HTTP2_SETTINGS,
])
  HOP_BY_HOP[id] = 1;

export function isHopByHop(id: number): boolean {
  return HOP_BY_HOP[id] === 1;
}

/** Trim OWS (SP, HTAB) from both ends of `buf[s..e)`; returns [s, e]. */
export function trimOws(buf: Uint8Array, s: number, e: number): [number, number] {
  while (s < e && (buf[s] === 0x20 || buf[s] === 0x09)) s++;
  while (e > s && (buf[e - 1] === 0x20 || buf[e - 1] === 0x09)) e--;
  return [s, e];
}

/**
 * A Content-Length value (1*DIGIT, RFC 9110 §8.6), or -1 when it is anything else: a sign, a list
 * (`5, 5`), spaces inside, or a number past 2^53.
 */
export function parseContentLength(buf: Uint8Array, s: number, e: number): number {
  if (s >= e || e - s > 15) return -1;
  let n = 0;
  for (let i = s; i < e; i++) {
    const c = buf[i]! - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/**
 * Comma-separated tokens of a list field (Connection, Transfer-Encoding), lower-cased, empty
 * elements skipped (RFC 9110 §5.6.1).
 */
export function listTokens(buf: Buffer, s: number, e: number): string[] {
  const out: string[] = [];
  let i = s;
  while (i <= e) {
    let j = i;
    while (j < e && buf[j] !== 0x2c) j++;
    const [a, b] = trimOws(buf, i, j);
    if (b > a) out.push(buf.toString('latin1', a, b).toLowerCase());
    i = j + 1;
  }
  return out;
}
