/**
 * HPACK (RFC 7541) for the HTTP/2 server codec of src/http2/: a decoder for request header blocks
 * (static and dynamic tables, Huffman, bounded by our SETTINGS_HEADER_TABLE_SIZE, with the decoded
 * size counted as it grows so that an HPACK bomb costs table lookups, never memory) and an encoder
 * for response header blocks (static indices, a dynamic table for values that repeat, plain
 * literals).
 *
 * Hand-written: it is the hot path of every request and no well-kept pure-JS library decodes
 * straight from socket Buffers into the flat [name, value, ...] list the codec uses. Names found
 * in a table come out as the table's own strings, so a repeated name is the same string object on
 * every request (and so are repeated values, from the dynamic table).
 */
import { Buffer } from 'node:buffer';
import {
  STATIC_COUNT,
  STATIC_NAME_INDEX,
  STATIC_NAMES,
  STATIC_PAIR_INDEX,
  STATIC_TABLE,
  validName,
  validValue,
} from './hpack-static.ts';
import { huffmanDecode } from './huffman.ts';

/** Per field (RFC 7541 §4.1, RFC 9113 §6.5.2): its name, its value and 32 octets. */
export const ENTRY_OVERHEAD = 32;

/** Result of a decode that failed: the connection must end with COMPRESSION_ERROR. */
export const DECODE_FAILED = -1;

export class HpackDecoder {
  /** The dynamic table as a ring: newest entry at (head - 1), oldest at (head - count). */
  private names: string[] = new Array<string>(64);
  private values: string[] = new Array<string>(64);
  private bad = new Uint8Array(64);
  private mask = 63;
  private head = 0;
  private count = 0;
  private size = 0;
  /** The table size the peer's encoder chose (its last size update). */
  private maxSize = 4096;
  /** The largest size it may choose: our SETTINGS_HEADER_TABLE_SIZE (once acknowledged). */
  private limit: number;
  /** A size update must open the next block (our setting went below the table's size). */
  private mustUpdate = false;
  /** Huffman output; taken when first needed. */
  private scratch: Buffer = Buffer.alloc(0);
  private pos = 0;

  /** After decode(): the header list's size as SETTINGS_MAX_HEADER_LIST_SIZE counts it. */
  listBytes = 0;
  /** After decode(): a field name or value was malformed (RFC 9113 §8.2.1): a stream error. */
  malformed = false;

  constructor(limit: number) {
    // Until our SETTINGS is acknowledged the peer may use the protocol's 4096.
    this.limit = Math.max(4096, limit);
  }

  /** Our SETTINGS_HEADER_TABLE_SIZE was acknowledged (RFC 7541 §4.2). */
  settingAcked(limit: number): void {
    this.limit = limit;
    if (limit < this.maxSize) this.mustUpdate = true;
  }

  /**
   * Decode a whole header block into `out` ([name, value, ...]), stopping to add fields (but not
   * to decode them, the table must stay in step) once the list passes `maxListBytes`. Returns the
   * number of fields decoded, or DECODE_FAILED.
   */
  decode(buf: Buffer, start: number, end: number, out: string[], maxListBytes: number): number {
    this.pos = start;
    this.listBytes = 0;
    this.malformed = false;
    let fields = 0;
    while (this.pos < end) {
      const b = buf[this.pos]!;
      let name: string;
      let value: string;
      let bad = 0;
      if (b >= 0x80) {
        const idx = this.int(buf, end, 7);
        if (idx <= 0) return DECODE_FAILED;
        if (idx <= STATIC_COUNT) {
          const e = STATIC_TABLE[idx]!;
          name = e[0];
          value = e[1];
        } else {
          const k = idx - STATIC_COUNT - 1;
          if (k >= this.count) return DECODE_FAILED;
          const at = (this.head - 1 - k) & this.mask;
          name = this.names[at]!;
          value = this.values[at]!;
          bad = this.bad[at]!;
        }
      } else if (b >= 0x20 && b < 0x40) {
        // A dynamic table size update: only before the first field (RFC 7541 §4.2).
        if (fields > 0) return DECODE_FAILED;
        const n = this.int(buf, end, 5);
        if (n < 0 || n > this.limit) return DECODE_FAILED;
        this.maxSize = n;
        this.mustUpdate = false;
        this.evict(0);
        continue;
      } else {
        const indexing = b >= 0x40;
        const idx = this.int(buf, end, indexing ? 6 : 4);
        if (idx < 0) return DECODE_FAILED;
        if (idx === 0) {
          const s = this.str(buf, end);
          if (s === null) return DECODE_FAILED;
          name = STATIC_NAMES.get(s) ?? s;
          if (!validName(name)) bad = 1;
        } else if (idx <= STATIC_COUNT) name = STATIC_TABLE[idx]![0];
        else {
          const k = idx - STATIC_COUNT - 1;
          if (k >= this.count) return DECODE_FAILED;
          const at = (this.head - 1 - k) & this.mask;
          name = this.names[at]!;
          // A bad value of that entry says nothing of its name: recheck.
          if (this.bad[at] !== 0 && !validName(name)) bad = 1;
        }
        const v = this.str(buf, end);
        if (v === null) return DECODE_FAILED;
        value = v;
        if (!validValue(value)) bad = 1;
        if (indexing) this.insert(name, value, bad);
      }
      if (this.mustUpdate) return DECODE_FAILED;
      fields++;
      if (bad !== 0) this.malformed = true;
      this.listBytes += name.length + value.length + ENTRY_OVERHEAD;
      if (this.listBytes <= maxListBytes) out.push(name, value);
    }
    if (this.mustUpdate && fields > 0) return DECODE_FAILED;
    return fields;
  }

  /** An integer with an N-bit prefix (RFC 7541 §5.1); -1 if truncated or past 2^28. */
  private int(buf: Buffer, end: number, prefix: number): number {
    const max = (1 << prefix) - 1;
    let v = buf[this.pos++]! & max;
    if (v < max) return v;
    let shift = 0;
    for (;;) {
      if (this.pos >= end || shift > 21) return -1;
      const c = buf[this.pos++]!;
      v += (c & 0x7f) * 2 ** shift;
      shift += 7;
      if (c < 0x80) return v;
    }
  }

  /** A string literal (RFC 7541 §5.2), Huffman-coded or not; null if malformed. */
  private str(buf: Buffer, end: number): string | null {
    if (this.pos >= end) return null;
    const huffman = buf[this.pos]! >= 0x80;
    const n = this.int(buf, end, 7);
    if (n < 0 || n > end - this.pos) return null;
    const s = this.pos;
    this.pos += n;
    if (!huffman) return buf.toString('latin1', s, s + n);
    // A Huffman code is at least 5 bits per byte of output.
    if (this.scratch.length < n * 2) this.scratch = Buffer.allocUnsafe(Math.max(256, n * 2));
    return huffmanDecode(buf, s, s + n, this.scratch);
  }

  private insert(name: string, value: string, bad: number): void {
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (size > this.maxSize) {
      // Larger than the whole table: it empties the table and is not kept (RFC 7541 §4.4).
      this.count = 0;
      this.size = 0;
      return;
    }
    this.evict(size);
    if (this.count === this.mask + 1) this.grow();
    const at = this.head;
    this.names[at] = name;
    this.values[at] = value;
    this.bad[at] = bad;
    this.head = (this.head + 1) & this.mask;
    this.count++;
    this.size += size;
  }

  /** Drop the oldest entries until `room` more bytes fit. */
  private evict(room: number): void {
    while (this.count > 0 && this.size + room > this.maxSize) {
      const at = (this.head - this.count) & this.mask;
      this.size -= this.names[at]!.length + this.values[at]!.length + ENTRY_OVERHEAD;
      this.names[at] = '';
      this.values[at] = '';
      this.count--;
    }
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const names = new Array<string>(cap);
    const values = new Array<string>(cap);
    const bad = new Uint8Array(cap);
    for (let k = 0; k < this.count; k++) {
      const from = (this.head - this.count + k) & this.mask;
      names[k] = this.names[from]!;
      values[k] = this.values[from]!;
      bad[k] = this.bad[from]!;
    }
    this.names = names;
    this.values = values;
    this.bad = bad;
    this.head = this.count;
    this.mask = cap - 1;
  }
}

/** Fields never put in the table (RFC 7541 §7.1.3): credentials, sent as never-indexed literals. */
const SENSITIVE = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
/** Fields whose values rarely repeat: kept out of the table so that they do not push out what does. */
const VOLATILE = new Set(['x-request-id', 'traceparent', 'tracestate', 'content-range', 'age', 'expires']);
/** Values this long are never indexed. */
const MAX_INDEXED_VALUE = 512;

/** Encodes response header blocks; one per connection (its dynamic table mirrors the peer's). */
export class HpackEncoder {
  /** A small slice of Node's buffer pool to start with, grown for a large block. */
  private buf = Buffer.allocUnsafe(1024);
  private p = 0;
  /** The table's ring of entries (as name, value), with sizes; insertion numbers count up. */
  private names: string[] = [];
  private values: string[] = [];
  private first = 0;
  private inserted = 0;
  private size = 0;
  private maxSize = 4096;
  /** A size update to send at the start of the next block, or -1. */
  private pendingUpdate = -1;
  /** name → value → insertion number of the newest entry holding both. */
  private readonly pairs = new Map<string, Map<string, number>>();
  /** name → insertion number of the newest entry with that name. */
  private readonly byName = new Map<string, number>();

  /** The peer's SETTINGS_HEADER_TABLE_SIZE: the table we keep is at most 4096 and at most that. */
  setPeerLimit(n: number): void {
    const size = Math.min(n, 4096);
    if (size === this.maxSize) return;
    this.maxSize = size;
    this.pendingUpdate = this.pendingUpdate < 0 ? size : Math.min(this.pendingUpdate, size);
    this.evict(0);
  }

  /** Start a header block. */
  begin(): void {
    this.p = 0;
    if (this.pendingUpdate >= 0) {
      this.int(this.pendingUpdate, 5, 0x20);
      // A lowered then raised limit: the lowest first, then the new size (RFC 7541 §4.2).
      if (this.pendingUpdate !== this.maxSize) this.int(this.maxSize, 5, 0x20);
      this.pendingUpdate = -1;
    }
  }

  /** `:status`, from the static table when it is there. */
  status(code: number): void {
    const s = String(code);
    const idx = STATIC_PAIR_INDEX.get(':status')!.get(s);
    if (idx !== undefined) this.int(idx, 7, 0x80);
    else this.field(':status', s);
  }

  /** One field; `name` in lower case. */
  field(name: string, value: string): void {
    const sp = STATIC_PAIR_INDEX.get(name)?.get(value);
    if (sp !== undefined) return this.int(sp, 7, 0x80);
    const dyn = this.pairs.get(name)?.get(value);
    if (dyn !== undefined && dyn >= this.first) return this.int(this.index(dyn), 7, 0x80);
    let nameIdx = STATIC_NAME_INDEX.get(name) ?? 0;
    if (nameIdx === 0) {
      const n = this.byName.get(name);
      if (n !== undefined && n >= this.first) nameIdx = this.index(n);
    }
    if (SENSITIVE.has(name)) {
      this.int(nameIdx, 4, 0x10);
      if (nameIdx === 0) this.lit(name);
      return this.lit(value);
    }
    const size = name.length + value.length + ENTRY_OVERHEAD;
    if (value.length > MAX_INDEXED_VALUE || VOLATILE.has(name) || size > this.maxSize >> 1) {
      this.int(nameIdx, 4, 0x00);
      if (nameIdx === 0) this.lit(name);
      return this.lit(value);
    }
    this.int(nameIdx, 6, 0x40);
    if (nameIdx === 0) this.lit(name);
    this.lit(value);
    this.insert(name, value, size);
  }

  /** The block encoded since begin() (valid until the next begin()). */
  block(): Buffer {
    return this.buf.subarray(0, this.p);
  }

  private index(insertion: number): number {
    return STATIC_COUNT + 1 + (this.inserted - insertion);
  }

  private insert(name: string, value: string, size: number): void {
    this.evict(size);
    this.names.push(name);
    this.values.push(value);
    this.inserted++;
    this.size += size;
    let m = this.pairs.get(name);
    if (m === undefined) {
      m = new Map();
      this.pairs.set(name, m);
    }
    m.set(value, this.inserted);
    this.byName.set(name, this.inserted);
  }

  private evict(room: number): void {
    const base = this.inserted - this.names.length;
    let drop = 0;
    while (drop < this.names.length && this.size + room > this.maxSize) {
      const name = this.names[drop]!;
      const value = this.values[drop]!;
      this.size -= name.length + value.length + ENTRY_OVERHEAD;
      const no = base + drop + 1;
      const m = this.pairs.get(name);
      if (m !== undefined && m.get(value) === no) {
        m.delete(value);
        if (m.size === 0) this.pairs.delete(name);
      }
      if (this.byName.get(name) === no) this.byName.delete(name);
      drop++;
    }
    if (drop > 0) {
      this.names.splice(0, drop);
      this.values.splice(0, drop);
    }
    this.first = this.inserted - this.names.length + 1;
  }

  private ensure(n: number): void {
    if (this.p + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.p + n));
    this.buf.copy(b, 0, 0, this.p);
    this.buf = b;
  }

  private int(v: number, prefix: number, first: number): void {
    this.ensure(6);
    const max = (1 << prefix) - 1;
    if (v < max) {
      this.buf[this.p++] = first | v;
      return;
    }
    this.buf[this.p++] = first | max;
    v -= max;
    while (v >= 128) {
      this.buf[this.p++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.p++] = v;
  }

  private lit(s: string): void {
    this.int(s.length, 7, 0);
    this.ensure(s.length);
    this.p += this.buf.write(s, this.p, 'latin1');
  }
}
