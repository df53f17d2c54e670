/**
 * Header blocks of the HTTP/2 server codec (connection.ts holds the rest of the connection state
 * machine): HEADERS (padding, priority) and CONTINUATION frames joined into one block (contiguous,
 * bounded in frames and bytes: CVE-2024-27316), decoded by HPACK, then read as a new request
 * (stream id rules, concurrency, malformed requests as stream errors: RFC 9113 §5.1, §8.1) or as
 * trailers ending an open stream.
 *
 * Hand-written with the rest of src/http2/ (the hot path; see connection.ts).
 */
import { Buffer } from 'node:buffer';
import type { Http2Settings } from '../config/types.ts';
import {
  E_COMPRESSION,
  E_FRAME_SIZE,
  E_PROTOCOL,
  E_REFUSED_STREAM,
  E_STREAM_CLOSED,
  F_END_HEADERS,
  F_END_STREAM,
  F_PADDED,
  F_PRIORITY,
} from './frames.ts';
import { DECODE_FAILED, type HpackDecoder } from './hpack.ts';
import { type RequestHead, readRequest, readTrailers } from './messages.ts';
import type { H2ServerStream } from './stream.ts';
import { CLOSED_BY_US } from './stream-frames.ts';

/** CONTINUATION frames one header block may take. */
const MAX_CONTINUATIONS = 128;

/** What header blocks need of their connection (connection.ts), as an interface against import cycles. */
export interface HeaderOwner {
  readonly s: Http2Settings;
  readonly decoder: HpackDecoder;
  readonly streams: Map<number, H2ServerStream>;
  readonly settingsAcked: boolean;
  readonly closing: boolean;
  readonly goawayId: number;
  lastStreamId: number;
  /** Fields per request past which it is refused as too large. */
  readonly maxHeaderPairs: number;
  closedHow(id: number): number;
  fail(code: number): void;
  abuse(reason: 'empty-frames' | 'continuation-flood'): void;
  emptyFrame(): boolean;
  streamError(st: H2ServerStream, code: number): void;
  resetId(id: number, code: number): void;
  openStream(id: number, head: RequestHead, endStream: boolean, listBytes: number): void;
}

export class HeaderBlocks {
  private readonly c: HeaderOwner;
  /** The stream whose header block continues in CONTINUATION frames, or 0. */
  pending = 0;
  private flags = 0;
  private parts: Buffer[] = [];
  private bytes = 0;
  private frames = 0;
  private badPriority = false;

  constructor(c: HeaderOwner) {
    this.c = c;
  }

  onHeaders(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) return this.c.fail(E_PROTOCOL);
    if ((flags & F_PADDED) !== 0) {
      if (start >= end) return this.c.fail(E_FRAME_SIZE);
      const pad = buf[start]!;
      start++;
      if (pad > end - start) return this.c.fail(E_PROTOCOL);
      end -= pad;
    }
    let badPriority = false;
    if ((flags & F_PRIORITY) !== 0) {
      if (end - start < 5) return this.c.fail(E_FRAME_SIZE);
      badPriority = (buf.readUInt32BE(start) & 0x7fffffff) === id;
      start += 5;
    }
    if (start === end && (flags & F_END_HEADERS) === 0 && this.c.emptyFrame()) return;
    if ((flags & F_END_HEADERS) !== 0) return this.block(id, flags, buf, start, end, badPriority);
    this.pending = id;
    this.flags = flags;
    this.parts = [Buffer.from(buf.subarray(start, end))];
    this.bytes = end - start;
    this.frames = 0;
    this.badPriority = badPriority;
  }

  onContinuation(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (this.pending === 0 || id !== this.pending) return this.c.fail(E_PROTOCOL);
    const n = end - start;
    this.frames++;
    this.bytes += n;
    // CVE-2024-27316: a header block is bounded in bytes and frames, whatever it decodes to.
    if (this.frames > MAX_CONTINUATIONS || this.bytes > this.c.s.maxHeaderListBytes * 2 + 16384)
      return this.c.abuse('continuation-flood');
    if (n === 0 && (flags & F_END_HEADERS) === 0 && this.c.emptyFrame()) return;
    if (n > 0) this.parts.push(Buffer.from(buf.subarray(start, end)));
    if ((flags & F_END_HEADERS) === 0) return;
    const block = Buffer.concat(this.parts);
    this.pending = 0;
    this.parts = [];
    this.block(id, this.flags, block, 0, block.length, this.badPriority);
  }

  /** A whole header block for stream `id`: a request, trailers, or something to refuse. */
  private block(
    id: number,
    flags: number,
    buf: Buffer,
    start: number,
    end: number,
    badPriority: boolean,
  ): void {
    const list: string[] = [];
    const n = this.c.decoder.decode(buf, start, end, list, this.c.s.maxHeaderListBytes);
    // The table may be out of step with the client's: nothing more can be read (§4.3).
    if (n === DECODE_FAILED) return this.c.fail(E_COMPRESSION);
    const endStream = (flags & F_END_STREAM) !== 0;
    const st = this.c.streams.get(id);
    if (st !== undefined) {
      // HEADERS on an open stream: trailers, which must end it (§8.1).
      if (st.remoteClosed) return this.c.streamError(st, E_STREAM_CLOSED);
      if (!endStream || this.c.decoder.malformed || badPriority) return this.c.streamError(st, E_PROTOCOL);
      const trailers = readTrailers(list);
      if (trailers === null) return this.c.streamError(st, E_PROTOCOL);
      st.onEnd(trailers);
      return;
    }
    if (id % 2 === 0) return this.c.fail(E_PROTOCOL);
    if (id <= this.c.lastStreamId) {
      const was = this.c.closedHow(id);
      if (was === CLOSED_BY_US) return; // in flight when the client learnt of our reset
      return this.c.fail(was === 0 ? E_PROTOCOL : E_STREAM_CLOSED);
    }
    if (this.c.closing && id > this.c.goawayId) return; // after our GOAWAY: ignored (§6.8)
    this.c.lastStreamId = id;
    if (badPriority) return this.c.resetId(id, E_PROTOCOL);
    if (this.c.streams.size >= this.c.s.maxConcurrentStreams) {
      // Past the limit the client acknowledged it is a connection error, before it a refusal (as nghttp2).
      if (this.c.settingsAcked) return this.c.fail(E_PROTOCOL);
      return this.c.resetId(id, E_REFUSED_STREAM);
    }
    if (this.c.decoder.malformed) return this.c.resetId(id, E_PROTOCOL);
    const head = readRequest(list);
    if (head === null) return this.c.resetId(id, E_PROTOCOL);
    // A Content-Length the DATA cannot match (none follows): malformed (§8.1.1), and caught here
    // before the head goes to a target rather than when the body falls short.
    if (endStream && head.contentLength > 0) return this.c.resetId(id, E_PROTOCOL);
    const listBytes = n > this.c.maxHeaderPairs ? Number.MAX_SAFE_INTEGER : this.c.decoder.listBytes;
    this.c.openStream(id, head, endStream, listBytes);
  }
}
