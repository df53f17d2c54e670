/**
 * HTTP/2 frames (RFC 9113 §4, §6) for the server codec of src/http2/: the reader cuts frames out of
 * socket chunks without copying (an offset into the chunk; only a frame split across chunks is
 * copied, once, into a buffer of its size), the writer gathers every frame produced in one turn of the event loop into as few
 * buffers as it can (small frames are packed into one; large DATA payloads are referenced, not
 * copied) for a single socket write, as the HTTP/1.1 codec's flush does.
 *
 * Hand-written: the hot path of the codec, and no well-kept pure-JS library frames HTTP/2 on raw
 * sockets.
 */
import { Buffer } from 'node:buffer';

export const FRAME_HEADER_BYTES = 9;

export const T_DATA = 0;
export const T_HEADERS = 1;
export const T_PRIORITY = 2;
export const T_RST_STREAM = 3;
export const T_SETTINGS = 4;
export const T_PUSH_PROMISE = 5;
export const T_PING = 6;
export const T_GOAWAY = 7;
export const T_WINDOW_UPDATE = 8;
export const T_CONTINUATION = 9;

export const F_END_STREAM = 0x1;
export const F_ACK = 0x1;
export const F_END_HEADERS = 0x4;
export const F_PADDED = 0x8;
export const F_PRIORITY = 0x20;

/** Error codes (RFC 9113 §7). */
export const E_NO_ERROR = 0x0;
export const E_PROTOCOL = 0x1;
export const E_INTERNAL = 0x2;
export const E_FLOW_CONTROL = 0x3;
export const E_SETTINGS_TIMEOUT = 0x4;
export const E_STREAM_CLOSED = 0x5;
export const E_FRAME_SIZE = 0x6;
export const E_REFUSED_STREAM = 0x7;
export const E_CANCEL = 0x8;
export const E_COMPRESSION = 0x9;
export const E_ENHANCE_YOUR_CALM = 0xb;

/** SETTINGS identifiers (RFC 9113 §6.5.2, RFC 8441 §3). */
export const S_HEADER_TABLE_SIZE = 0x1;
export const S_ENABLE_PUSH = 0x2;
export const S_MAX_CONCURRENT_STREAMS = 0x3;
export const S_INITIAL_WINDOW_SIZE = 0x4;
export const S_MAX_FRAME_SIZE = 0x5;
export const S_MAX_HEADER_LIST_SIZE = 0x6;
export const S_ENABLE_CONNECT_PROTOCOL = 0x8;

export const DEFAULT_MAX_FRAME_BYTES = 16384;
export const MAX_WINDOW = 0x7fffffff;

/** What the reader hands each whole frame to. */
export interface FrameSink {
  /** One frame; its payload is `buf[start, end)` (a view: copy what must outlive the call). False: stop reading. */
  onFrame(type: number, flags: number, streamId: number, buf: Buffer, start: number, end: number): boolean;
  /** A frame header announced more than the frame size we allow (FRAME_SIZE_ERROR). */
  onOversizedFrame(type: number, streamId: number): void;
}

export class FrameReader {
  /** SETTINGS_MAX_FRAME_SIZE as we advertised it. */
  maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
  /**
   * A frame that the chunks so far did not finish, assembled in a buffer of its whole size once
   * its header is known (so a frame trickled in tiny chunks costs one copy, not one per chunk).
   */
  private part: Buffer | null = null;
  private partBytes = 0;

  /** Feed a chunk from the socket; every whole frame in it goes to `sink`, in order. */
  push(chunk: Buffer, sink: FrameSink): void {
    let off = 0;
    if (this.part !== null) {
      off = this.fill(chunk, sink);
      if (off < 0) return;
    }
    const n = chunk.length;
    while (n - off >= FRAME_HEADER_BYTES) {
      const len = (chunk[off]! << 16) | (chunk[off + 1]! << 8) | chunk[off + 2]!;
      if (len > this.maxFrameBytes) {
        sink.onOversizedFrame(chunk[off + 3]!, chunk.readUInt32BE(off + 5) & 0x7fffffff);
        return;
      }
      const end = off + FRAME_HEADER_BYTES + len;
      if (end > n) break;
      const id = chunk.readUInt32BE(off + 5) & 0x7fffffff;
      if (!sink.onFrame(chunk[off + 3]!, chunk[off + 4]!, id, chunk, off + FRAME_HEADER_BYTES, end)) return;
      off = end;
    }
    if (off < n) {
      this.part = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
      this.partBytes = 0;
      this.fill(chunk.subarray(off), sink);
    }
  }

  /** Add to the frame being assembled; returns where the chunk's unused bytes start, or -1 (stop). */
  private fill(chunk: Buffer, sink: FrameSink): number {
    let part = this.part!;
    let off = 0;
    if (this.partBytes < FRAME_HEADER_BYTES) {
      const take = Math.min(FRAME_HEADER_BYTES - this.partBytes, chunk.length);
      chunk.copy(part, this.partBytes, 0, take);
      this.partBytes += take;
      off = take;
      if (this.partBytes < FRAME_HEADER_BYTES) return chunk.length;
      const len = (part[0]! << 16) | (part[1]! << 8) | part[2]!;
      if (len > this.maxFrameBytes) {
        this.part = null;
        sink.onOversizedFrame(part[3]!, part.readUInt32BE(5) & 0x7fffffff);
        return -1;
      }
      const whole = Buffer.allocUnsafe(FRAME_HEADER_BYTES + len);
      part.copy(whole, 0, 0, FRAME_HEADER_BYTES);
      part = whole;
      this.part = whole;
    }
    const take = Math.min(part.length - this.partBytes, chunk.length - off);
    chunk.copy(part, this.partBytes, off, off + take);
    this.partBytes += take;
    off += take;
    if (this.partBytes < part.length) return chunk.length;
    this.part = null;
    const id = part.readUInt32BE(5) & 0x7fffffff;
    if (!sink.onFrame(part[3]!, part[4]!, id, part, FRAME_HEADER_BYTES, part.length)) return -1;
    return off;
  }
}

/** Payloads at least this long are referenced rather than copied into the packed buffer. */
const REFERENCE_BYTES = 1024;
/**
 * The packing buffer's size: under half of Node's 8 KiB buffer pool, so that it is a slice of the
 * shared pool (an idle connection holds no buffer of its own; a turn's frames past it take more).
 */
const SCRATCH_BYTES = 4000;
const EMPTY = Buffer.alloc(0);

/** Frames produced in one turn, gathered for one write. */
export class FrameWriter {
  private scratch: Buffer = EMPTY;
  private start = 0;
  private pos = 0;
  private chunks: Buffer[] = [];
  /** Bytes gathered and not yet taken. */
  bytes = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.scratch.length) return;
    this.seal();
    this.scratch = Buffer.allocUnsafe(Math.max(SCRATCH_BYTES, n));
    this.start = 0;
    this.pos = 0;
  }

  /** Close the packed run so far into a chunk of its own. */
  private seal(): void {
    if (this.pos > this.start) {
      this.chunks.push(this.scratch.subarray(this.start, this.pos));
      this.start = this.pos;
    }
  }

  header(len: number, type: number, flags: number, streamId: number): void {
    this.ensure(FRAME_HEADER_BYTES);
    const b = this.scratch;
    const p = this.pos;
    b[p] = len >>> 16;
    b[p + 1] = (len >>> 8) & 0xff;
    b[p + 2] = len & 0xff;
    b[p + 3] = type;
    b[p + 4] = flags;
    b.writeUInt32BE(streamId, p + 5);
    this.pos = p + FRAME_HEADER_BYTES;
    this.bytes += FRAME_HEADER_BYTES;
  }

  u32(v: number): void {
    this.ensure(4);
    this.scratch.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    this.bytes += 4;
  }

  u16(v: number): void {
    this.ensure(2);
    this.scratch.writeUInt16BE(v, this.pos);
    this.pos += 2;
    this.bytes += 2;
  }

  /** Payload bytes: copied when short, referenced when long (the caller must not change them). */
  put(b: Buffer): void {
    const n = b.length;
    if (n === 0) return;
    this.bytes += n;
    if (n >= REFERENCE_BYTES) {
      this.seal();
      this.chunks.push(b);
      return;
    }
    this.ensure(n);
    b.copy(this.scratch, this.pos);
    this.pos += n;
  }

  /** Payload bytes always copied (the caller reuses `b`). */
  copy(b: Buffer): void {
    const n = b.length;
    this.ensure(n);
    b.copy(this.scratch, this.pos);
    this.pos += n;
    this.bytes += n;
  }

  /** A whole frame. */
  frame(type: number, flags: number, streamId: number, payload: Buffer | null): void {
    this.header(payload === null ? 0 : payload.length, type, flags, streamId);
    if (payload !== null) this.put(payload);
  }

  /** Everything gathered, as buffers to write in order (empty when nothing was). */
  take(): Buffer[] {
    this.seal();
    const out = this.chunks;
    this.chunks = [];
    this.bytes = 0;
    // The scratch space left over serves the next turn (what was taken is never written again);
    // when little is left, a fresh one is taken when next needed.
    if (this.scratch.length - this.pos < 256) {
      this.scratch = EMPTY;
      this.pos = 0;
    }
    this.start = this.pos;
    return out;
  }
}
