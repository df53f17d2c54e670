/**
 * HPACK's static table (RFC 7541 Appendix A) and the byte classes the decoder checks field names
 * and values against (RFC 9113 §8.2.1). Kept apart from hpack.ts: tables, not logic.
 */

/** Index 1..61; entry 0 is unused so that indices read as in the RFC. */
// biome-ignore format: a table
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  ['', ''],
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'],
  [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'], [':status', '200'],
  [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'],
  [':status', '404'], [':status', '500'], ['accept-charset', ''], ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''], ['accept-ranges', ''], ['accept', ''], ['access-control-allow-origin', ''],
  ['age', ''], ['allow', ''], ['authorization', ''], ['cache-control', ''],
  ['content-disposition', ''], ['content-encoding', ''], ['content-language', ''], ['content-length', ''],
  ['content-location', ''], ['content-range', ''], ['content-type', ''], ['cookie', ''],
  ['date', ''], ['etag', ''], ['expect', ''], ['expires', ''],
  ['from', ''], ['host', ''], ['if-match', ''], ['if-modified-since', ''],
  ['if-none-match', ''], ['if-range', ''], ['if-unmodified-since', ''], ['last-modified', ''],
  ['link', ''], ['location', ''], ['max-forwards', ''], ['proxy-authenticate', ''],
  ['proxy-authorization', ''], ['range', ''], ['referer', ''], ['refresh', ''],
  ['retry-after', ''], ['server', ''], ['set-cookie', ''], ['strict-transport-security', ''],
  ['transfer-encoding', ''], ['user-agent', ''], ['vary', ''], ['via', ''],
  ['www-authenticate', ''],
];

export const STATIC_COUNT = 61;

/** Name → its first static index. */
export const STATIC_NAME_INDEX = new Map<string, number>();
/** Name → value → static index, for the entries that carry a value. */
export const STATIC_PAIR_INDEX = new Map<string, Map<string, number>>();
/** A static name string for a name decoded as a literal: the same string object each time. */
export const STATIC_NAMES = new Map<string, string>();

for (let i = 1; i <= STATIC_COUNT; i++) {
  const [name, value] = STATIC_TABLE[i]!;
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i);
  STATIC_NAMES.set(name, name);
  if (value !== '') {
    let m = STATIC_PAIR_INDEX.get(name);
    if (m === undefined) {
      m = new Map();
      STATIC_PAIR_INDEX.set(name, m);
    }
    m.set(value, i);
  }
}

/** tchar (RFC 9110 §5.6.2) without upper-case letters: what an HTTP/2 field name may hold. */
const NAME_OK = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") NAME_OK[c.charCodeAt(0)] = 1;

/** Whether a field name is well-formed for HTTP/2: lower-case token, or `:` then one (a pseudo-header). */
export function validName(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  let i = s.charCodeAt(0) === 58 /* : */ ? 1 : 0;
  if (i === n) return false;
  for (; i < n; i++) if (NAME_OK[s.charCodeAt(i) & 0xff] !== 1 || s.charCodeAt(i) > 0xff) return false;
  return true;
}

/**
 * Whether a field value is well-formed: no leading or trailing whitespace and no NUL, CR or LF
 * (RFC 9113 §8.2.1), nor any other control character but HTAB, nor DEL: HTTP/1.1 cannot carry
 * them to a target (RFC 9110 §5.5), and nghttp2 (the `node` codec) refuses the same set.
 */
export function validValue(s: string): boolean {
  const n = s.length;
  if (n === 0) return true;
  const a = s.charCodeAt(0);
  const z = s.charCodeAt(n - 1);
  if (a === 32 || a === 9 || z === 32 || z === 9) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false;
  }
  return true;
}
