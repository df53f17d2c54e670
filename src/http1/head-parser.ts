/**
 * Fulcrum's HTTP/1.1 head parser (RFC 9112 §2-5), for requests from clients and responses from
 * targets. Written by hand because it is the hot path of the proxy (ARCHITECTURE.md rule 8):
 * Node's llhttp binding turns every field into a string and hands the head to a stream machinery
 * that costs more than the proxying itself; here a head is validated in one pass over its bytes
 * and kept as offsets (fields.ts). It is strict where leniency lets requests be smuggled: CRLF
 * line ends only (a bare LF is refused), no obs-fold, no whitespace before a field's colon, tchar
 * names, field values without controls, one SP between the parts of the start line.
 *
 * The parser is resumable: it consumes complete lines only and remembers where it stopped, so a
 * head trickling in byte by byte is still validated once per byte (plus one native LF search per
 * call over the unfinished line).
 */
import { Buffer } from 'node:buffer';
import { RawFields } from './fields.ts';
import { latin1 } from './intern.ts';
import { AUTHORITY, FIELD_VALUE, headerId, TARGET, TCHAR } from './syntax.ts';

/** What `execute` returns besides a head: more bytes needed, or why the head is refused. */
export const PARSE = {
  DONE: 1,
  MORE: 0,
  BAD: -1,
  /** The head is larger than allowed, or has too many fields (431). */
  TOO_LARGE: -2,
  /** The request line is longer than allowed (414). */
  URI_TOO_LONG: -3,
} as const;
export type ParseResult = (typeof PARSE)[keyof typeof PARSE];

export interface HeadLimits {
  /** The whole head, start line and fields. */
  readonly maxHeadBytes: number;
  readonly maxFields: number;
  /** The request target (requests only). */
  readonly maxTargetBytes: number;
}

const CR = 0x0d;
const LF = 0x0a;
const SP = 0x20;
const DEL = 0x7f;
const HTAB = 0x09;
const COLON = 0x3a;
const SLASH = 0x2f;
const QUESTION = 0x3f;
/** fieldLine read a field: go on to the next line. */
const LINE = 2;

/**
 * The methods accepted: those Node's parser (llhttp) knows, as node:http accepted before (any other
 * answers 400, as it did); the common ones first. Told from their bytes, so that requests make no
 * string for their method.
 */
const METHODS = (
  'GET HEAD POST PUT DELETE OPTIONS PATCH TRACE CONNECT ACL BIND CHECKOUT COPY LINK LOCK M-SEARCH ' +
  'MERGE MKACTIVITY MKCALENDAR MKCOL MOVE NOTIFY PROPFIND PROPPATCH PURGE QUERY REBIND REPORT SEARCH ' +
  'SOURCE SUBSCRIBE UNBIND UNLINK UNLOCK UNSUBSCRIBE'
)
  .split(' ')
  .map((m) => [m, Buffer.from(m, 'latin1')] as const);

function knownMethod(buf: Buffer, s: number, e: number): string | null {
  const n = e - s;
  for (const [m, bytes] of METHODS) {
    if (bytes.length !== n || bytes[0] !== buf[s]) continue;
    let k = 1;
    while (k < n && bytes[k] === buf[s + k]) k++;
    if (k === n) return m;
  }
  return null;
}

export class HeadParser {
  /** `trailers`: the field lines after a chunked body's last chunk (no start line). */
  readonly kind: 'request' | 'response' | 'trailers';
  private readonly limits: HeadLimits;
  /** Relative to the head's first byte: the next line to parse, and where to resume the LF search. */
  private pos = 0;
  private scan = 0;
  private started = false;
  /** Offsets and ids of the fields so far (scratch, reused); copied out exact-sized by fields(). */
  private at: Int32Array;
  private ids: Uint8Array;
  private n = 0;
  /** Bytes of the head, once complete (relative end, after the empty line). */
  headLength = 0;
  // Start line, requests.
  method = '';
  target = '';
  // Start line, responses.
  status = 0;
  reason = '';
  /** HTTP/1.x minor version. */
  minor = 1;

  constructor(kind: 'request' | 'response' | 'trailers', limits: HeadLimits) {
    this.kind = kind;
    this.limits = limits;
    this.started = kind === 'trailers';
    this.at = new Int32Array(4 * Math.min(limits.maxFields, 64));
    this.ids = new Uint8Array(Math.min(limits.maxFields, 64));
  }

  /** Whether this parser works to these limits (a spare parser is reused only then). */
  fits(maxHeadBytes: number, maxFields: number, maxTargetBytes: number): boolean {
    const l = this.limits;
    return (
      l.maxHeadBytes === maxHeadBytes && l.maxFields === maxFields && l.maxTargetBytes === maxTargetBytes
    );
  }

  /** Forget everything: the next call parses a new head. */
  reset(): void {
    this.pos = 0;
    this.scan = 0;
    this.started = this.kind === 'trailers';
    this.n = 0;
    this.headLength = 0;
    this.method = '';
    this.target = '';
    this.status = 0;
    this.reason = '';
    this.minor = 1;
  }

  /**
   * Parse what `buf[base..end)` holds of a head (`base` is the head's first byte, the same on every
   * call for one head; the bytes already seen must be unchanged). DONE: `headLength` bytes from
   * `base` were the head, `fields(buf, base)` has its fields.
   */
  execute(buf: Buffer, base: number, end: number): ParseResult {
    const lim = this.limits;
    for (;;) {
      if (this.started) {
        // Field lines (and the empty line) are scanned in one pass each, their end found on the
        // way. A line left unfinished by the last call is scanned again only once its LF is here.
        if (this.scan > this.pos) {
          const from = base + this.scan;
          const lf = from < end ? buf.indexOf(LF, from) : -1;
          if (lf < 0 || lf >= end) return this.incomplete(base, end);
        }
        const r = this.fieldLine(buf, base + this.pos, end, base);
        if (r === LINE) continue;
        return r as ParseResult;
      }
      const from = base + this.scan;
      const lf = from < end ? buf.indexOf(LF, from) : -1;
      if (lf < 0 || lf >= end) return this.incomplete(base, end);
      const lineStart = base + this.pos;
      if (lf - base + 1 > lim.maxHeadBytes) return this.tooLarge();
      // A bare LF ends no line: only CRLF does.
      if (lf === lineStart || buf[lf - 1] !== CR) return PARSE.BAD;
      const lineEnd = lf - 1;
      this.pos = this.scan = lf + 1 - base;
      // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line
      // (some clients send a CRLF after a body); they count against the head's size.
      if (lineEnd === lineStart && this.kind === 'request') continue;
      const r =
        this.kind === 'request'
          ? this.requestLine(buf, lineStart, lineEnd)
          : this.statusLine(buf, lineStart, lineEnd);
      if (r !== PARSE.DONE) return r;
      this.started = true;
    }
  }

  /** The line at `pos` goes on past `end`: more bytes needed, unless the head is already too big. */
  private incomplete(base: number, end: number): ParseResult {
    this.scan = end - base;
    return end - base > this.limits.maxHeadBytes ? this.tooLarge() : PARSE.MORE;
  }

  /** The fields of a complete head, offsets absolute in `buf`. */
  fields(buf: Buffer, base: number): RawFields {
    // Plain arrays sized exactly: copying into them costs a fraction of a typed array's slice().
    const n = this.n;
    const src = this.at;
    const at: number[] = new Array(4 * n);
    for (let i = 0; i < 4 * n; i++) at[i] = src[i]! + base;
    const ids: number[] = new Array(n);
    const sid = this.ids;
    for (let i = 0; i < n; i++) ids[i] = sid[i]!;
    return new RawFields(buf, at, ids);
  }

  private tooLarge(): ParseResult {
    // Still in the request line: the target is what is too long.
    return !this.started && this.kind === 'request' ? PARSE.URI_TOO_LONG : PARSE.TOO_LARGE;
  }

  /** `method SP request-target SP HTTP/1.x` (HTTP/0.9's bare `GET /` is refused). */
  private requestLine(buf: Buffer, s: number, e: number): ParseResult {
    let i = s;
    while (i < e && TCHAR[buf[i]!] === 1) i++;
    if (i === s || i >= e || buf[i] !== SP) return PARSE.BAD;
    const m = knownMethod(buf, s, i);
    if (m === null) return PARSE.BAD;
    this.method = m;
    const t = ++i;
    while (i < e && TARGET[buf[i]!] === 1) i++;
    if (i === t || i >= e || buf[i] !== SP) return PARSE.BAD;
    if (i - t > this.limits.maxTargetBytes) return PARSE.URI_TOO_LONG;
    if (buf[t] !== SLASH && !absoluteOrAsterisk(buf, t, i)) return PARSE.BAD;
    this.target = buf.toString('latin1', t, i);
    i++;
    const minor = version(buf, i, e);
    if (minor < 0) return PARSE.BAD;
    if (i + 8 !== e) return PARSE.BAD;
    this.minor = minor;
    return PARSE.DONE;
  }

  /** `HTTP/1.x SP 3DIGIT [SP reason]` (a missing reason, with or without its SP, is tolerated). */
  private statusLine(buf: Buffer, s: number, e: number): ParseResult {
    const minor = version(buf, s, e);
    if (minor < 0 || s + 12 > e || buf[s + 8] !== SP) return PARSE.BAD;
    let status = 0;
    for (let i = s + 9; i < s + 12; i++) {
      const d = buf[i]! - 48;
      if (d < 0 || d > 9) return PARSE.BAD;
      status = status * 10 + d;
    }
    if (status < 100) return PARSE.BAD;
    let i = s + 12;
    if (i < e) {
      if (buf[i] !== SP) return PARSE.BAD;
      for (let k = i + 1; k < e; k++) if (FIELD_VALUE[buf[k]!] !== 1) return PARSE.BAD;
      this.reason = latin1(buf, i + 1, e);
    } else i = e;
    this.minor = minor;
    this.status = status;
    return PARSE.DONE;
  }

  /**
   * `field-name ":" OWS field-value OWS CRLF` at `s`, or the empty line that ends the head (DONE);
   * LINE when a field was read. obs-fold, whitespace before the colon, a bare CR or LF and control
   * bytes in a value are refused. One pass over the line's bytes: its end is where the value's
   * bytes stop (a native LF search per line costs more than the whole scan of a short line).
   */
  private fieldLine(buf: Buffer, s: number, end: number, base: number): number {
    const lim = this.limits;
    if (s < end && buf[s] === CR) {
      if (s + 1 >= end) return this.incomplete(base, end);
      if (buf[s + 1] !== LF) return this.badLine(buf, s, end, base);
      if (s + 2 - base > lim.maxHeadBytes) return this.tooLarge();
      this.pos = this.scan = this.headLength = s + 2 - base;
      return PARSE.DONE;
    }
    // The table in a local: read through the module binding, it is reloaded for every byte.
    const tchar = TCHAR;
    let i = s;
    while (i < end && tchar[buf[i]!] === 1) i++;
    if (i >= end) return this.incomplete(base, end);
    // An empty name, a name ending in anything but the colon (obs-fold starts with SP/HTAB, which
    // is no tchar: refused here too), or no colon at all.
    if (i === s || buf[i] !== COLON) return this.badLine(buf, i, end, base);
    const nameEnd = i;
    i++;
    while (i < end && (buf[i] === SP || buf[i] === HTAB)) i++;
    const vs = i;
    // field-vchar, SP, HTAB and obs-text: compared, not looked up (a tenth fewer instructions a
    // head, measured), and FIELD_VALUE's definition in syntax.ts says the same.
    while (i < end) {
      const c = buf[i]!;
      if (c < SP ? c !== HTAB : c === DEL) break;
      i++;
    }
    if (i + 1 >= end)
      return i < end && buf[i] !== CR ? this.badLine(buf, i, end, base) : this.incomplete(base, end);
    // Whatever stopped the value must be the line's CRLF: a control byte, a bare LF or a CR alone is refused.
    if (buf[i] !== CR || buf[i + 1] !== LF) return this.badLine(buf, i, end, base);
    if (i + 2 - base > lim.maxHeadBytes) return this.tooLarge();
    const n = this.n;
    if (n >= lim.maxFields) return PARSE.TOO_LARGE;
    let ve = i;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
    if (n === this.ids.length) this.grow();
    const k = 4 * n;
    const at = this.at;
    at[k] = s - base;
    at[k + 1] = nameEnd - base;
    at[k + 2] = vs - base;
    at[k + 3] = ve - base;
    this.ids[n] = headerId(buf, s, nameEnd);
    this.n = n + 1;
    this.pos = this.scan = i + 2 - base;
    return LINE;
  }

  /**
   * A line found wrong at `i` is refused as a whole line, once its LF is here, with the reason a
   * line-at-a-time reader would give (too large, too many fields, or bad): the answer must not
   * depend on how the bytes were cut into reads.
   */
  private badLine(buf: Buffer, i: number, end: number, base: number): ParseResult {
    const lf = buf.indexOf(LF, i);
    if (lf < 0 || lf >= end) return this.incomplete(base, end);
    if (lf - base + 1 > this.limits.maxHeadBytes) return this.tooLarge();
    return this.n >= this.limits.maxFields ? PARSE.TOO_LARGE : PARSE.BAD;
  }

  /** More fields than the scratch holds (up to the limit). */
  private grow(): void {
    const cap = Math.min(this.ids.length * 2, this.limits.maxFields);
    const at = new Int32Array(4 * cap);
    at.set(this.at);
    const ids = new Uint8Array(cap);
    ids.set(this.ids);
    this.at = at;
    this.ids = ids;
  }
}

/**
 * A request target in absolute-form, `scheme://authority` then nothing, a path or a query (RFC 9112
 * §3.2.2; the scheme in letters only and the authority's bytes as llhttp reads them; the authority
 * not empty, RFC 9110 §4.2.1), or in asterisk-form, `*`. Origin-form (a leading `/`) is the
 * caller's check; authority-form is CONNECT's, refused anyway. Any other target is none of
 * RFC 9112's forms, and llhttp refuses it.
 */
function absoluteOrAsterisk(buf: Buffer, s: number, e: number): boolean {
  if (e - s === 1) return buf[s] === 0x2a;
  let i = s;
  while (i < e && (buf[i]! | 0x20) >= 0x61 && (buf[i]! | 0x20) <= 0x7a) i++;
  if (i === s || buf[i] !== COLON || buf[i + 1] !== SLASH || buf[i + 2] !== SLASH) return false;
  i += 3;
  const a = i;
  while (i < e && AUTHORITY[buf[i]!] === 1) i++;
  return i > a && (i === e || buf[i] === SLASH || buf[i] === QUESTION);
}

/** `HTTP/1.0` or `HTTP/1.1` at `buf[s..]`: the minor version, or -1. */
function version(buf: Buffer, s: number, e: number): number {
  if (s + 8 > e) return -1;
  if (
    buf[s] !== 0x48 ||
    buf[s + 1] !== 0x54 ||
    buf[s + 2] !== 0x54 ||
    buf[s + 3] !== 0x50 ||
    buf[s + 4] !== 0x2f ||
    buf[s + 5] !== 0x31 ||
    buf[s + 6] !== 0x2e
  )
    return -1;
  const minor = buf[s + 7]! - 48;
  return minor === 0 || minor === 1 ? minor : -1;
}
