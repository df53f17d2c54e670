/**
 * The chunked transfer coding (RFC 9112 §7.1): a streaming decoder that validates every byte as it
 * passes, for bodies arriving from clients and from targets, and the few bytes of the encoder.
 *
 * The decoder hands the data bytes to its consumer and tells how much of the input belonged to the
 * message, so that a proxy can forward the coded bytes as they are (no re-framing) when the next
 * hop speaks HTTP/1.1, or the data alone when it does not (HTTP/2). Strict as llhttp without its
 * lenient flags: hex digits only in a size (no sign, no `0x`, no spaces), at most 13 of them
 * (under 2^52), CRLF after the size line and after each chunk's data; chunk extensions are checked
 * against their grammar and bounded (`MAX_CHUNK_LINE_BYTES`, against the unbounded-extension
 * attacks of CVE-2024-22019); trailer fields are parsed like header fields and bounded too. A trailer that would frame the
 * message or end its connection (Content-Length, Transfer-Encoding, Connection; RFC 9110 §6.5.1
 * forbids them there) is refused: llhttp refuses the first two and acts on `Connection: close`, so
 * a reader that ignored them would see a different next message.
 */
import { Buffer } from 'node:buffer';
import type { RawFields } from './fields.ts';
import { HeadParser, PARSE } from './head-parser.ts';
import { FIELD_VALUE, H, HEX, TCHAR } from './syntax.ts';

/** The longest chunk-size line (size and extensions) accepted. */
export const MAX_CHUNK_LINE_BYTES = 4096;

const S = {
  SIZE: 0,
  EXT: 1,
  SIZE_LF: 2,
  DATA: 3,
  DATA_CR: 4,
  DATA_LF: 5,
  TRAILERS: 6,
  DONE: 7,
} as const;

/** Places in a chunk extension, after its `;` (and two outcomes of a byte: BAD, LINE_END). */
const X = {
  NAME_START: 0,
  NAME: 1,
  VALUE_START: 2,
  TOKEN: 3,
  QUOTED: 4,
  QUOTED_PAIR: 5,
  QUOTED_END: 6,
  LINE_END: 7,
  BAD: -1,
} as const;

/**
 * Where a chunk extension is after byte `c`, from `x`: `chunk-ext = *( ";" name [ "=" ( token /
 * quoted-string ) ] )` (RFC 9112 §7.1.1), names and values not empty, and no whitespace, as llhttp
 * reads it (its strict mode refuses the BWS the grammar allows). The quoted-string's qdtext and
 * quoted-pair bytes are those of a field value (HTAB, SP, VCHAR, obs-text).
 */
function extNext(x: number, c: number): number {
  switch (x) {
    case X.NAME_START:
      return TCHAR[c] === 1 ? X.NAME : X.BAD;
    case X.NAME:
      if (TCHAR[c] === 1) return X.NAME;
      if (c === 0x3d /* = */) return X.VALUE_START;
      break;
    case X.VALUE_START:
      if (c === 0x22 /* " */) return X.QUOTED;
      return TCHAR[c] === 1 ? X.TOKEN : X.BAD;
    case X.TOKEN:
      if (TCHAR[c] === 1) return X.TOKEN;
      break;
    case X.QUOTED:
      if (c === 0x22) return X.QUOTED_END;
      if (c === 0x5c /* \ */) return X.QUOTED_PAIR;
      return FIELD_VALUE[c] === 1 ? X.QUOTED : X.BAD;
    case X.QUOTED_PAIR:
      return FIELD_VALUE[c] === 1 ? X.QUOTED : X.BAD;
  }
  // After a name, a value or a quoted string: the next extension, or the end of the line.
  if (c === 0x3b /* ; */) return X.NAME_START;
  if (c === 0x0d) return X.LINE_END;
  return X.BAD;
}

export type DataSink = (buf: Buffer, start: number, end: number) => void;

export class ChunkedDecoder {
  private state: number = S.SIZE;
  private size = 0;
  private digits = 0;
  private lineBytes = 0;
  /** Where in a chunk extension (X). */
  private ext: number = X.NAME_START;
  private remaining = 0;
  private trailerBuf: Buffer | null = null;
  private readonly trailerParser: HeadParser;
  /** The trailer fields, once the message is complete (an empty list when none). */
  trailers: RawFields | null = null;
  /** Data bytes seen so far. */
  bytes = 0;

  constructor(maxTrailerBytes: number) {
    this.trailerParser = new HeadParser('trailers', {
      maxHeadBytes: maxTrailerBytes,
      maxFields: 100,
      maxTargetBytes: 0,
    });
  }

  get done(): boolean {
    return this.state === S.DONE;
  }

  /**
   * Decode `buf[s..e)`, calling `sink` with each slice of data. Returns the index just past the
   * bytes that belonged to the message (`e` unless it ended inside), or -1 when the coding is
   * invalid (the connection must then be closed: its framing can no longer be trusted).
   */
  push(buf: Buffer, s: number, e: number, sink: DataSink): number {
    let i = s;
    while (i < e) {
      switch (this.state) {
        case S.SIZE: {
          const c = buf[i]!;
          const h = HEX[c]!;
          if (h !== 255) {
            if (++this.digits > 13) return -1;
            this.size = this.size * 16 + h;
            if (this.size > Number.MAX_SAFE_INTEGER) return -1;
          } else if (this.digits === 0) return -1;
          else if (c === 0x3b /* ; */) {
            this.state = S.EXT;
            this.ext = X.NAME_START;
          } else if (c === 0x0d) this.state = S.SIZE_LF;
          else return -1;
          if (++this.lineBytes > MAX_CHUNK_LINE_BYTES) return -1;
          i++;
          break;
        }
        case S.EXT: {
          const x = extNext(this.ext, buf[i]!);
          if (x === X.BAD) return -1;
          if (x === X.LINE_END) this.state = S.SIZE_LF;
          else this.ext = x;
          if (++this.lineBytes > MAX_CHUNK_LINE_BYTES) return -1;
          i++;
          break;
        }
        case S.SIZE_LF: {
          if (buf[i] !== 0x0a) return -1;
          i++;
          this.lineBytes = 0;
          this.digits = 0;
          if (this.size === 0) {
            this.state = S.TRAILERS;
            this.trailerParser.reset();
            this.trailerBuf = null;
          } else {
            this.remaining = this.size;
            this.state = S.DATA;
          }
          this.size = 0;
          break;
        }
        case S.DATA: {
          const n = Math.min(this.remaining, e - i);
          sink(buf, i, i + n);
          this.bytes += n;
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = S.DATA_CR;
          break;
        }
        case S.DATA_CR:
          if (buf[i] !== 0x0d) return -1;
          this.state = S.DATA_LF;
          i++;
          break;
        case S.DATA_LF:
          if (buf[i] !== 0x0a) return -1;
          this.state = S.SIZE;
          i++;
          break;
        case S.TRAILERS:
          return this.pushTrailers(buf, i, e);
        default:
          // DONE: the rest belongs to whatever follows the message.
          return i;
      }
    }
    return i;
  }

  /** The trailer section: field lines and an empty line, gathered then parsed as a head. */
  private pushTrailers(buf: Buffer, s: number, e: number): number {
    const prev = this.trailerBuf;
    const base = prev === null ? 0 : prev.length;
    const all = prev === null ? buf.subarray(s, e) : Buffer.concat([prev, buf.subarray(s, e)]);
    const r = this.trailerParser.execute(all, 0, all.length);
    if (r === PARSE.MORE) {
      // Keep a copy: the caller's buffer is reused once this returns.
      this.trailerBuf = Buffer.from(all);
      return e;
    }
    if (r !== PARSE.DONE) return -1;
    const used = this.trailerParser.headLength;
    const trailers = this.trailerParser.fields(Buffer.from(all.subarray(0, used)), 0);
    for (const id of trailers.ids)
      if (id === H.CONTENT_LENGTH || id === H.TRANSFER_ENCODING || id === H.CONNECTION) return -1;
    this.trailers = trailers;
    this.trailerBuf = null;
    this.state = S.DONE;
    return s + used - base;
  }
}

/** The size line of one chunk of `n` bytes. */
export function chunkHead(n: number): string {
  return `${n.toString(16)}\r\n`;
}

export const CRLF = Buffer.from('\r\n', 'latin1');
/** The last chunk and an empty trailer section. */
export const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
