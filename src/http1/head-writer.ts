/**
 * Building an HTTP/1.1 head as one buffer: the start line, fields copied as bytes from a parsed
 * head, and fields given as strings. The head goes to the socket in one write (with the first
 * body bytes when they are at hand). One scratch buffer per process is reused; `finish` copies the
 * head out of it, so a head costs one small allocation whatever its number of fields.
 */
import { Buffer } from 'node:buffer';

const SCRATCH_BYTES = 64 * 1024;
let scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

/** A header value or name the proxy did not parse itself may hold what would split the head. */
export class HeadValueError extends Error {}

/** Whether a string may be a field value on the wire: no CR, LF, NUL or other controls but HTAB. */
export function isFieldValue(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/** Whether a string is a token (a field name, a method). */
export function isToken(v: string): boolean {
  if (v.length === 0) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c > 0x7e || !TOKEN[c]) return false;
  }
  return true;
}
/** Field names field() has checked, with their `name: ` bytes; bounded (names from targets vary). */
const CHECKED_NAMES = new Map<string, Uint8Array>();
const CHECKED_NAMES_MAX = 512;
/**
 * Long values field() has checked, with their bytes: the same few recur (a consumer's id and its
 * credential's on every request it makes), and V8 spends ~50 instructions a character reading a
 * string char by char, against a few hundred for a lookup and a copy. Cleared when full, so that
 * values seen once (ids, timestamps) cannot crowd out the recurring ones for long.
 */
const CHECKED_VALUES = new Map<string, Uint8Array>();
const CHECKED_VALUES_MAX = 1024;
/** Shorter values are cheaper to check again than to look up. */
const CHECKED_VALUE_MIN_CHARS = 16;
const CONTENT_LENGTH = Buffer.from('content-length: ', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');
const TOKEN: boolean[] = [];
for (let c = 0; c < 128; c++) TOKEN[c] = /[A-Za-z0-9!#$%&'*+\-.^_`|~]/.test(String.fromCharCode(c));

export class HeadWriter {
  private n = 0;

  /** Start a new head (the scratch buffer is shared: one head at a time, finished before the next). */
  reset(): this {
    this.n = 0;
    return this;
  }

  private room(k: number): void {
    if (this.n + k <= scratch.length) return;
    const next = Buffer.allocUnsafe(Math.max(scratch.length * 2, this.n + k));
    scratch.copy(next, 0, 0, this.n);
    scratch = next;
  }

  /** Raw latin1 text (start lines, separators): the caller vouches for it. */
  text(s: string): this {
    const n = s.length;
    this.room(n);
    if (n > 32) {
      this.n += scratch.write(s, this.n, 'latin1');
      return this;
    }
    let k = this.n;
    for (let i = 0; i < n; i++) scratch[k++] = s.charCodeAt(i);
    this.n = k;
    return this;
  }

  /** CRLF. */
  crlf(): this {
    this.room(2);
    scratch[this.n++] = 13;
    scratch[this.n++] = 10;
    return this;
  }

  /**
   * Pre-encoded bytes (a status line, a constant field line): one set(), where text() would read
   * a string char by char (tens of instructions a char) and bytes() goes through Buffer.copy.
   */
  raw(u8: Uint8Array): this {
    this.room(u8.length);
    scratch.set(u8, this.n);
    this.n += u8.length;
    return this;
  }

  /**
   * `content-length: n\r\n`, the digits written as they are computed: a template string of that
   * line is a rope (13 characters or more), which text() would have the runtime flatten.
   */
  contentLength(length: number): this {
    this.raw(CONTENT_LENGTH);
    let digits = 1;
    for (let t = length; t >= 10; t = Math.floor(t / 10)) digits++;
    this.room(digits + 2);
    const b = scratch;
    let k = this.n + digits;
    this.n = k + 2;
    let t = length;
    do {
      const q = Math.floor(t / 10);
      b[--k] = 48 + (t - q * 10);
      t = q;
    } while (t > 0);
    b[this.n - 2] = 13;
    b[this.n - 1] = 10;
    return this;
  }

  /** Bytes as they are (a field line copied from a parsed head). */
  bytes(buf: Buffer, s: number, e: number): this {
    this.room(e - s);
    buf.copy(scratch, this.n, s, e);
    this.n += e - s;
    return this;
  }

  /**
   * `name: value\r\n`, both checked (values from plugins or the network may hold anything). A
   * name checked once is kept with its `name: ` bytes (names repeat: the same few from plugins and
   * targets), and the value is checked as it is copied: a string read char by char costs tens of
   * instructions a char, so each is read once, and a long one is kept with its bytes.
   */
  field(name: string, value: string): this {
    const pre = namePrefix(name);
    const n = value.length;
    this.room(pre.length + n + 2);
    const b = scratch;
    let k = this.n;
    b.set(pre, k);
    k += pre.length;
    if (n >= CHECKED_VALUE_MIN_CHARS) {
      const known = CHECKED_VALUES.get(value);
      if (known !== undefined) {
        b.set(known, k);
        k += n;
        b[k++] = 13;
        b[k++] = 10;
        this.n = k;
        return this;
      }
    }
    const from = k;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff)
        throw new HeadValueError(`invalid header ${JSON.stringify(name)}`);
      b[k++] = c;
    }
    if (n >= CHECKED_VALUE_MIN_CHARS) {
      if (CHECKED_VALUES.size >= CHECKED_VALUES_MAX) CHECKED_VALUES.clear();
      // A copy: the scratch buffer is written over by the next head.
      CHECKED_VALUES.set(value, new Uint8Array(b.buffer.slice(b.byteOffset + from, b.byteOffset + k)));
    }
    b[k++] = 13;
    b[k++] = 10;
    this.n = k;
    return this;
  }

  /** `name: value\r\n` for values the proxy made itself (numbers, addresses, its own tokens). */
  trustedField(name: string, value: string): this {
    return this.raw(namePrefix(name)).text(value).raw(CRLF);
  }

  /** The head so far, copied out of the scratch buffer. */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.n);
    scratch.copy(out, 0, 0, this.n);
    return out;
  }

  get length(): number {
    return this.n;
  }

  /**
   * Bytes `from` to `to` written so far, as latin1 text (to keep a part of a head for reuse, and
   * write it again with text()). A string, not a Buffer: kept for a connection's life, a small
   * Buffer costs three objects and pins a slab of Node's shared pool (~350 bytes against ~120).
   */
  textOut(from: number, to: number): string {
    return scratch.toString('latin1', from, to);
  }
}

/** `name: ` as bytes, the name checked the first time it is seen. */
function namePrefix(name: string): Uint8Array {
  let pre = CHECKED_NAMES.get(name);
  if (pre === undefined) {
    if (!isToken(name)) throw new HeadValueError(`invalid header ${JSON.stringify(name)}`);
    pre = Buffer.from(`${name}: `, 'latin1');
    if (CHECKED_NAMES.size < CHECKED_NAMES_MAX) CHECKED_NAMES.set(name, pre);
  }
  return pre;
}

/** The one writer of this process (heads are built synchronously, one at a time). */
export const headWriter = new HeadWriter();
