/**
 * The stream-level frames of the HTTP/2 server codec (connection.ts holds the connection-level
 * state machine): DATA in (both flow-control windows, padding, stream states of RFC 9113 §5.1),
 * RST_STREAM and WINDOW_UPDATE in; HEADERS (with CONTINUATION past the peer's frame size), DATA
 * within the windows, RST_STREAM, WINDOW_UPDATE and GOAWAY out.
 *
 * Hand-written with the rest of src/http2/ (the hot path; see connection.ts).
 */
import type { Buffer } from 'node:buffer';
import type { FrameWriter } from './frames.ts';
import {
  E_FLOW_CONTROL,
  E_FRAME_SIZE,
  E_PROTOCOL,
  E_STREAM_CLOSED,
  F_END_HEADERS,
  F_END_STREAM,
  F_PADDED,
  MAX_WINDOW,
  T_CONTINUATION,
  T_DATA,
  T_GOAWAY,
  T_HEADERS,
  T_RST_STREAM,
  T_WINDOW_UPDATE,
} from './frames.ts';
import type { HpackEncoder } from './hpack.ts';
import type { H2ServerStream, StreamOwner } from './stream.ts';

/** How a recently closed stream ended (connection.ts closedHow()). */
export const CLOSED = 1;
export const CLOSED_BY_US = 2;
export const CLOSED_BY_CLIENT = 3;

/** What the stream frames need of their connection (connection.ts), as an interface against import cycles. */
export interface FramesOwner extends StreamOwner {
  readonly streams: Map<number, H2ServerStream>;
  readonly out: FrameWriter;
  readonly encoder: HpackEncoder;
  readonly peerMaxFrame: number;
  sendWindow: number;
  fail(code: number): void;
  receivedOnConnection(n: number): boolean;
  isIdle(id: number): boolean;
  closedHow(id: number): number;
  emptyFrame(): boolean;
  closeStream(st: H2ServerStream, complete: boolean, byClient: boolean): void;
  block(st: H2ServerStream): void;
  unblock(): void;
}

export class StreamFrames {
  private readonly c: FramesOwner;

  constructor(c: FramesOwner) {
    this.c = c;
  }

  // ---- in ----

  onDataFrame(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    const c = this.c;
    if (id === 0) return c.fail(E_PROTOCOL);
    const len = end - start;
    let from = start;
    let to = end;
    if ((flags & F_PADDED) !== 0) {
      if (len < 1) return c.fail(E_FRAME_SIZE);
      const pad = buf[start]!;
      if (pad >= len) return c.fail(E_PROTOCOL);
      from++;
      to -= pad;
    }
    // Counted against the connection window whatever becomes of it (§6.9).
    if (!c.receivedOnConnection(len)) return;
    const st = c.streams.get(id);
    // Until a stream takes it, the frame's share of the connection window is given back at once.
    if (st === undefined || st.remoteClosed || len > st.recvWindow) c.released(len);
    if (st === undefined) {
      if (c.isIdle(id)) return c.fail(E_PROTOCOL);
      const how = c.closedHow(id);
      // A stream we reset: DATA may have been in flight when the client learnt it (§5.1).
      if (how === CLOSED_BY_US) return;
      // After the client's own RST_STREAM: a stream error; after END_STREAM both ways: a connection error (§5.1).
      if (how === CLOSED_BY_CLIENT) return this.resetId(id, E_STREAM_CLOSED);
      return c.fail(E_STREAM_CLOSED);
    }
    if (st.remoteClosed) return c.streamError(st, E_STREAM_CLOSED);
    if (len > st.recvWindow) return c.streamError(st, E_FLOW_CONTROL);
    st.recvWindow -= len;
    const endStream = (flags & F_END_STREAM) !== 0;
    if (to === from && !endStream && c.emptyFrame()) return;
    // Padding and the pad length octet are nobody's data: their window goes back now.
    if (len > to - from) c.consumed(st, len - (to - from));
    st.onData(buf.subarray(from, to), endStream);
  }

  onRstStream(id: number, buf: Buffer, start: number, end: number): void {
    const c = this.c;
    if (id === 0) return c.fail(E_PROTOCOL);
    if (end - start !== 4) return c.fail(E_FRAME_SIZE);
    if (c.isIdle(id)) return c.fail(E_PROTOCOL);
    void buf;
    const st = c.streams.get(id);
    if (st !== undefined) c.closeStream(st, false, true);
  }

  onWindowUpdate(id: number, buf: Buffer, start: number, end: number): void {
    const c = this.c;
    if (end - start !== 4) return c.fail(E_FRAME_SIZE);
    const inc = buf.readUInt32BE(start) & 0x7fffffff;
    if (id === 0) {
      if (inc === 0) return c.fail(E_PROTOCOL);
      c.sendWindow += inc;
      if (c.sendWindow > MAX_WINDOW) return c.fail(E_FLOW_CONTROL);
      c.unblock();
      return;
    }
    if (c.isIdle(id)) return c.fail(E_PROTOCOL);
    const st = c.streams.get(id);
    if (st === undefined) return;
    if (inc === 0) return c.streamError(st, E_PROTOCOL);
    st.sendWindow += inc;
    if (st.sendWindow > MAX_WINDOW) return c.streamError(st, E_FLOW_CONTROL);
    if (st.queued > 0 || st.endPending) c.schedule(st);
  }

  /** A stream error on `id`, open or not. */
  resetId(id: number, code: number): void {
    const st = this.c.streams.get(id);
    if (st !== undefined) return this.c.resetStream(st, code);
    // Each answer to a frame on a dead stream costs a frame out: counted as an empty frame.
    if (this.c.emptyFrame()) return;
    this.writeRst(id, code);
  }

  // ---- out ----

  /** A header block: HEADERS, then CONTINUATION frames when it exceeds the peer's frame size. `status` < 0: trailers. */
  writeHeaders(id: number, status: number, fields: readonly string[], endStream: boolean): void {
    const c = this.c;
    const enc = c.encoder;
    enc.begin();
    if (status >= 0) enc.status(status);
    for (let i = 0; i < fields.length; i += 2) enc.field(fields[i]!, fields[i + 1]!);
    const block = enc.block();
    const max = c.peerMaxFrame;
    const end = endStream ? F_END_STREAM : 0;
    const out = c.out;
    if (block.length <= max) {
      out.header(block.length, T_HEADERS, F_END_HEADERS | end, id);
      out.copy(block);
      return;
    }
    out.header(max, T_HEADERS, end, id);
    out.copy(block.subarray(0, max));
    for (let p = max; p < block.length; p += max) {
      const n = Math.min(max, block.length - p);
      out.header(n, T_CONTINUATION, p + n === block.length ? F_END_HEADERS : 0, id);
      out.copy(block.subarray(p, p + n));
    }
  }

  writeRst(id: number, code: number): void {
    this.c.out.header(4, T_RST_STREAM, 0, id);
    this.c.out.u32(code);
  }

  writeWindowUpdate(id: number, n: number): void {
    this.c.out.header(4, T_WINDOW_UPDATE, 0, id);
    this.c.out.u32(n);
  }

  writeGoaway(lastStreamId: number, code: number): void {
    this.c.out.header(8, T_GOAWAY, 0, 0);
    this.c.out.u32(lastStreamId);
    this.c.out.u32(code);
  }

  /** Send what the windows allow of a stream's queued data, then its end (trailers or END_STREAM). */
  pump(st: H2ServerStream): void {
    const c = this.c;
    const out = c.out;
    while (st.queued > 0) {
      const room = Math.min(st.sendWindow, c.sendWindow, c.peerMaxFrame);
      if (room <= 0) {
        // The stream's own window reopens with a WINDOW_UPDATE for it, which schedules it again.
        if (c.sendWindow <= 0) c.block(st);
        break;
      }
      const n = Math.min(room, st.queued);
      const last = n === st.queued && st.endPending && st.trailers === null;
      out.header(n, T_DATA, last ? F_END_STREAM : 0, st.id);
      let left = n;
      while (left > 0) {
        const b = st.queue[0]!;
        if (b.length <= left) {
          out.put(b);
          st.queue.shift();
          left -= b.length;
        } else {
          out.put(b.subarray(0, left));
          st.queue[0] = b.subarray(left);
          left = 0;
        }
      }
      st.queued -= n;
      st.sendWindow -= n;
      c.sendWindow -= n;
      if (last) st.localClosed = true;
    }
    if (st.queued === 0 && st.endPending && !st.localClosed) {
      if (st.trailers !== null) this.writeHeaders(st.id, -1, st.trailers, true);
      else out.header(0, T_DATA, F_END_STREAM, st.id);
      st.localClosed = true;
    }
    if (st.localClosed) c.localEnded(st);
    else if (st.waitingDrain) st.drained();
  }
}
