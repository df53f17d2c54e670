/**
 * One HTTP/2 server connection of Fulcrum's own codec (docs/http2.md, "Codecs"): the connection
 * state machine of RFC 9113 on a raw net/tls socket. Client preface and SETTINGS exchange, PING,
 * GOAWAY (graceful: the last stream id, then close once the streams end), RST_STREAM,
 * WINDOW_UPDATE and flow control both ways (receiving: flow-control.ts, windows given back as the
 * streams' readers take the data), CONTINUATION, PRIORITY (read and ignored), stream
 * states (§5.1) and id rules, max concurrent streams, frame size limits, connection and stream
 * errors with their codes. Streams are H2ServerStream objects, each an Exchange's Downstream.
 *
 * Defences (docs/http2.md#defences): rapid reset and SETTINGS/PING floods counted as by
 * h2-guard.ts; empty-frame and CONTINUATION floods; a bounded header block; a peer that does not
 * read (reading stops while the output is over its bound, and the connection is dropped when it
 * stays stuck); the idle keep-alive timeout (GOAWAY) and the SETTINGS ACK deadline (deadlines.ts).
 *
 * Hand-written: it replaces node:http2's session and stream objects, which dominated the profile
 * of the HTTP/2 path (docs/benchmarks.md); no well-kept pure-JS HTTP/2 server implementation
 * exists to take instead. Frames produced in one turn of the event loop leave in one write.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { Http2Settings } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import { atTurnEnd, type TurnEndWork } from '../core/turn-end.ts';
import { PREMATURE_LIFETIME_MS, PrematureResets, WindowCounter } from '../listeners/h2-guard.ts';
import { ConnectionDeadlines } from './deadlines.ts';
import { ReceiveWindows } from './flow-control.ts';
import {
  DEFAULT_MAX_FRAME_BYTES,
  E_ENHANCE_YOUR_CALM,
  E_FLOW_CONTROL,
  E_FRAME_SIZE,
  E_NO_ERROR,
  E_PROTOCOL,
  F_ACK,
  FrameReader,
  type FrameSink,
  FrameWriter,
  MAX_WINDOW,
  S_ENABLE_CONNECT_PROTOCOL,
  S_ENABLE_PUSH,
  S_HEADER_TABLE_SIZE,
  S_INITIAL_WINDOW_SIZE,
  S_MAX_CONCURRENT_STREAMS,
  S_MAX_FRAME_SIZE,
  S_MAX_HEADER_LIST_SIZE,
  T_CONTINUATION,
  T_DATA,
  T_GOAWAY,
  T_HEADERS,
  T_PING,
  T_PRIORITY,
  T_PUSH_PROMISE,
  T_RST_STREAM,
  T_SETTINGS,
  T_WINDOW_UPDATE,
} from './frames.ts';
import { HeaderBlocks } from './header-blocks.ts';
import { HpackDecoder, HpackEncoder } from './hpack.ts';
import type { RequestHead } from './messages.ts';
import { clientIpOf, H2ServerStream } from './stream.ts';
import { CLOSED, CLOSED_BY_CLIENT, CLOSED_BY_US, StreamFrames } from './stream-frames.ts';

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export type AbuseReason =
  | 'rapid-reset'
  | 'control-flood'
  | 'empty-frames'
  | 'continuation-flood'
  | 'stuck-output';

export interface H2ConnectionOptions {
  readonly settings: Http2Settings;
  /** Header fields per request (pseudo-headers included) past which the request is refused (431). */
  readonly maxHeaderPairs: number;
  /** Idle time (no frames either way) after which the connection is closed gracefully. */
  readonly keepaliveMs: number;
  readonly clock: Clock;
  /** A request stream is ready for an Exchange. */
  onStream(stream: H2ServerStream): void;
  onAbuse(reason: AbuseReason): void;
  onClose(conn: H2Connection): void;
}

/** Output bytes waiting in the socket past which reading stops (a peer that does not read). */
const MAX_OUTPUT_BYTES = 1024 * 1024;
/** Closed stream ids remembered, to tell a closed stream from one never opened. */
const CLOSED_MEMORY = 256;

export class H2Connection implements FrameSink, TurnEndWork {
  readonly socket: Socket;
  readonly localPort: number;
  readonly clientIp: string;
  readonly initialWindow: number;
  /** The peer's SETTINGS_INITIAL_WINDOW_SIZE (our send window for new streams). */
  peerInitialWindow = 65535;
  /** The output is over its bound: streams wait for 'drain'. */
  congested = false;
  readonly streams = new Map<number, H2ServerStream>();
  private readonly opts: H2ConnectionOptions;
  readonly s: Http2Settings;
  private readonly clock: Clock;
  private readonly reader = new FrameReader();
  readonly out = new FrameWriter();
  readonly decoder: HpackDecoder;
  readonly encoder = new HpackEncoder();
  readonly frames: StreamFrames;
  private prefaceLeft = PREFACE.length;
  private sawSettings = false;
  settingsAcked = false;
  /** The connection window we send in. */
  sendWindow = 65535;
  /** Receive flow control: windows given back as the streams' readers take the data. */
  readonly flow: ReceiveWindows;
  peerMaxFrame = DEFAULT_MAX_FRAME_BYTES;
  lastStreamId = 0;
  /** Recently closed streams, and how (frames in flight on a stream we reset are ignored). */
  private readonly closedIds = new Map<number, number>();
  private readonly blocks: HeaderBlocks;
  /** GOAWAY sent (graceful): streams above goawayId are ignored; the socket ends when none remain. */
  closing = false;
  goawayId = 0;
  /** The connection is over: nothing more is read or written. */
  dead = false;
  private flushQueued = false;
  private readonly dirty: H2ServerStream[] = [];
  /** Streams with data waiting for the connection window. */
  private readonly blocked = new Set<H2ServerStream>();
  private readonly resets: PrematureResets | null;
  private readonly control: WindowCounter | null;
  private readonly empty: WindowCounter;
  lastActivityMs: number;
  private readonly deadlines: ConnectionDeadlines;
  private readPaused = false;

  constructor(socket: Socket, opts: H2ConnectionOptions, head: Buffer | null) {
    this.socket = socket;
    this.opts = opts;
    this.s = opts.settings;
    this.clock = opts.clock;
    this.localPort = socket.localPort ?? 0;
    this.clientIp = clientIpOf(socket);
    this.initialWindow = this.s.initialWindowBytes;
    this.decoder = new HpackDecoder(this.s.headerTableBytes);
    this.frames = new StreamFrames(this);
    this.flow = new ReceiveWindows(
      {
        writeWindowUpdate: (id, n) => this.frames.writeWindowUpdate(id, n),
        flushSoon: () => this.flushSoon(),
      },
      this.initialWindow,
    );
    this.blocks = new HeaderBlocks(this);
    this.resets = this.s.maxResets > 0 ? new PrematureResets(this.s.maxResets, this.s.resetWindowMs) : null;
    this.control =
      this.s.maxControlFrames > 0 ? new WindowCounter(this.s.maxControlFrames, this.s.controlWindowMs) : null;
    // Frames that carry nothing (empty DATA, HEADERS or CONTINUATION fragments) cost work for nothing.
    this.empty = new WindowCounter(Math.max(this.s.maxControlFrames, 1000), this.s.controlWindowMs);
    this.lastActivityMs = this.clock.monoMs();
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onSocketClose());
    socket.on('drain', () => this.onDrain());
    this.sendSettings();
    this.deadlines = new ConnectionDeadlines(this, this.clock, opts.keepaliveMs);
    if (head !== null && head.length > 0) this.onData(head);
    else this.flush();
    socket.resume();
  }

  private sendSettings(): void {
    const s = this.s;
    const entries: [number, number][] = [
      [S_MAX_CONCURRENT_STREAMS, s.maxConcurrentStreams],
      [S_ENABLE_PUSH, 0],
      [S_MAX_HEADER_LIST_SIZE, s.maxHeaderListBytes],
      [S_ENABLE_CONNECT_PROTOCOL, 1],
    ];
    if (s.headerTableBytes !== 4096) entries.push([S_HEADER_TABLE_SIZE, s.headerTableBytes]);
    if (s.initialWindowBytes !== 65535) entries.push([S_INITIAL_WINDOW_SIZE, s.initialWindowBytes]);
    this.out.header(entries.length * 6, T_SETTINGS, 0, 0);
    for (const [id, v] of entries) {
      this.out.u16(id);
      this.out.u32(v);
    }
    // The connection window starts at 65535 whatever the setting (§6.9.2): raised to ours.
    this.flow.open();
  }

  // ---- reading ----

  private onData(chunk: Buffer): void {
    if (this.dead) return;
    this.lastActivityMs = this.clock.monoMs();
    let buf = chunk;
    if (this.prefaceLeft > 0) {
      const off = PREFACE.length - this.prefaceLeft;
      const n = Math.min(this.prefaceLeft, buf.length);
      if (!buf.subarray(0, n).equals(PREFACE.subarray(off, off + n))) return this.fail(E_PROTOCOL);
      this.prefaceLeft -= n;
      buf = buf.subarray(n);
    }
    if (buf.length > 0) this.reader.push(buf, this);
    this.flush();
  }

  onOversizedFrame(type: number, _id: number): void {
    // A frame that cannot be skipped safely (header state, or no room to read past it).
    void type;
    this.fail(E_FRAME_SIZE);
  }

  onFrame(type: number, flags: number, id: number, buf: Buffer, start: number, end: number): boolean {
    if (this.dead) return false;
    if (!this.sawSettings) {
      // The client preface ends with a SETTINGS frame (RFC 9113 §3.4).
      if (type !== T_SETTINGS || (flags & F_ACK) !== 0) {
        this.fail(E_PROTOCOL);
        return false;
      }
      this.sawSettings = true;
    }
    if (this.blocks.pending !== 0 && type !== T_CONTINUATION) {
      // A header block must be contiguous (§6.2, §6.10).
      this.fail(E_PROTOCOL);
      return false;
    }
    switch (type) {
      case T_DATA:
        this.frames.onDataFrame(flags, id, buf, start, end);
        break;
      case T_HEADERS:
        this.blocks.onHeaders(flags, id, buf, start, end);
        break;
      case T_PRIORITY:
        this.onPriority(id, buf, start, end);
        break;
      case T_RST_STREAM:
        this.frames.onRstStream(id, buf, start, end);
        break;
      case T_SETTINGS:
        this.onSettings(flags, id, buf, start, end);
        break;
      case T_PUSH_PROMISE:
        this.fail(E_PROTOCOL);
        break;
      case T_PING:
        this.onPing(flags, id, buf, start, end);
        break;
      case T_GOAWAY:
        if (id !== 0) this.fail(E_PROTOCOL);
        else if (end - start < 8) this.fail(E_FRAME_SIZE);
        else {
          // The client opens no more streams: finish those open, then close.
          this.close();
        }
        break;
      case T_WINDOW_UPDATE:
        this.frames.onWindowUpdate(id, buf, start, end);
        break;
      case T_CONTINUATION:
        this.blocks.onContinuation(flags, id, buf, start, end);
        break;
      default:
      // Unknown frame types are ignored (§4.1, §5.5).
    }
    return !this.dead;
  }

  private onSettings(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) return this.fail(E_PROTOCOL);
    const len = end - start;
    if ((flags & F_ACK) !== 0) {
      if (len !== 0) return this.fail(E_FRAME_SIZE);
      if (!this.settingsAcked) {
        this.settingsAcked = true;
        this.decoder.settingAcked(this.s.headerTableBytes);
        this.deadlines.settingsAcked();
      }
      return;
    }
    if (len % 6 !== 0) return this.fail(E_FRAME_SIZE);
    if (this.control?.hit(this.clock.monoMs())) return this.abuse('control-flood');
    for (let p = start; p < end; p += 6) {
      const key = buf.readUInt16BE(p);
      const v = buf.readUInt32BE(p + 2);
      if (key === S_HEADER_TABLE_SIZE) this.encoder.setPeerLimit(v);
      else if (key === S_ENABLE_PUSH || key === S_ENABLE_CONNECT_PROTOCOL) {
        if (v > 1) return this.fail(E_PROTOCOL);
      } else if (key === S_INITIAL_WINDOW_SIZE) {
        if (v > MAX_WINDOW) return this.fail(E_FLOW_CONTROL);
        const delta = v - this.peerInitialWindow;
        this.peerInitialWindow = v;
        for (const st of this.streams.values()) {
          st.sendWindow += delta;
          if (st.sendWindow > MAX_WINDOW) return this.fail(E_FLOW_CONTROL);
          if (delta > 0 && st.queued > 0) this.schedule(st);
        }
      } else if (key === S_MAX_FRAME_SIZE) {
        if (v < DEFAULT_MAX_FRAME_BYTES || v > 0xffffff) return this.fail(E_PROTOCOL);
        this.peerMaxFrame = v;
      }
      // Others (MAX_CONCURRENT_STREAMS: we open none; MAX_HEADER_LIST_SIZE: advisory) are noted only.
    }
    this.out.header(0, T_SETTINGS, F_ACK, 0);
  }

  private onPing(flags: number, id: number, buf: Buffer, start: number, end: number): void {
    if (id !== 0) return this.fail(E_PROTOCOL);
    if (end - start !== 8) return this.fail(E_FRAME_SIZE);
    // An ACK answers a PING of ours; we send none, so it is ignored (§6.7).
    if ((flags & F_ACK) !== 0) return;
    if (this.control?.hit(this.clock.monoMs())) return this.abuse('control-flood');
    this.out.header(8, T_PING, F_ACK, 0);
    this.out.put(buf.subarray(start, end));
  }

  private onPriority(id: number, buf: Buffer, start: number, end: number): void {
    if (id === 0) return this.fail(E_PROTOCOL);
    if (end - start !== 5) return this.frames.resetId(id, E_FRAME_SIZE);
    // A stream cannot depend on itself (§5.3.1); priorities are otherwise ignored (RFC 9113 §5.3.2).
    if ((buf.readUInt32BE(start) & 0x7fffffff) === id) this.frames.resetId(id, E_PROTOCOL);
  }

  // ---- header blocks ----

  get maxHeaderPairs(): number {
    return this.opts.maxHeaderPairs;
  }

  /** A stream error on `id`, open or not. */
  resetId(id: number, code: number): void {
    this.frames.resetId(id, code);
  }

  /** A request stream is ready: to the listener, which gives it an Exchange. */
  openStream(id: number, head: RequestHead, endStream: boolean, listBytes: number): void {
    const stream = new H2ServerStream(this, id, head, endStream, listBytes, this.clock.monoMs());
    this.streams.set(id, stream);
    this.opts.onStream(stream);
  }

  // ---- streams (called by H2ServerStream and StreamFrames) ----

  /** Queue a stream's data or end for this turn's flush. */
  schedule(st: H2ServerStream): void {
    if (!st.dirty) {
      st.dirty = true;
      this.dirty.push(st);
    }
    this.flushSoon();
  }

  /** A HEADERS block (and CONTINUATIONs) for a response, an interim response or trailers. */
  sendHeaders(st: H2ServerStream, status: number, fields: readonly string[], endStream: boolean): void {
    if (this.dead || st.closed) return;
    this.frames.writeHeaders(st.id, status, fields, endStream);
    this.flushSoon();
  }

  /** The client ended its side: the stream closes if ours is over too. */
  remoteEnded(st: H2ServerStream): void {
    if (st.localClosed) this.closeStream(st, true, false);
  }

  /** Our END_STREAM went out. With the client still sending, it is told to stop (§8.1: NO_ERROR). */
  localEnded(st: H2ServerStream): void {
    if (st.remoteClosed) return this.closeStream(st, true, false);
    if (st.upgrade !== null) return; // a tunnel half-closes
    this.frames.writeRst(st.id, E_NO_ERROR);
    this.closeStream(st, true, false);
    this.closedIds.set(st.id, CLOSED_BY_US);
  }

  /** Reset a stream ourselves (RST_STREAM with `code`); `clientsFault`: counted as a reset by the client. */
  resetStream(st: H2ServerStream, code: number, clientsFault = false): void {
    if (st.closed) return;
    this.frames.writeRst(st.id, code);
    this.flushSoon();
    this.closeStream(st, false, clientsFault);
    this.closedIds.set(st.id, CLOSED_BY_US);
  }

  /**
   * A stream error (§5.4.2): the client's fault, so counted as a reset by the client. A client that
   * cuts its uploads short (END_STREAM before the declared content-length, then RST_STREAM) gets
   * the reset from us: with the connection window at 16 stream windows (flow-control.ts) its data
   * and END_STREAM leave before its RST_STREAM, where a 64 KiB window used to hold them back.
   */
  streamError(st: H2ServerStream, code: number): void {
    this.resetStream(st, code, true);
  }

  /** `n` bytes of a stream's data were taken by its reader: its window and the connection's are given back. */
  consumed(st: H2ServerStream, n: number): void {
    this.flow.consumed(st, n);
  }

  /** `n` received bytes were dropped, no stream's reader took them: the connection window is given back. */
  released(n: number): void {
    this.flow.released(n);
  }

  /** DATA arrived: counted against the connection window, given back as the streams' readers take it. */
  receivedOnConnection(n: number): boolean {
    if (this.flow.received(n)) return true;
    this.fail(E_FLOW_CONTROL);
    return false;
  }

  /** Whether `id` names a stream that was never opened (§5.1 "idle"). */
  isIdle(id: number): boolean {
    return id % 2 === 0 || id > this.lastStreamId;
  }

  /** How a stream not open now was closed: CLOSED, CLOSED_BY_US, CLOSED_BY_CLIENT, or 0 (unknown). */
  closedHow(id: number): number {
    return this.closedIds.get(id) ?? 0;
  }

  emptyFrame(): boolean {
    if (!this.empty.hit(this.clock.monoMs())) return false;
    this.abuse('empty-frames');
    return true;
  }

  /** A stream waits for the connection window. */
  block(st: H2ServerStream): void {
    this.blocked.add(st);
  }

  /** The connection window opened: streams waiting for it send again. */
  unblock(): void {
    for (const st of this.blocked) this.schedule(st);
    this.blocked.clear();
  }

  /**
   * A stream is over. `complete`: it ended normally (not reset); `byClient`: the client reset it
   * (or made us, a stream error), which counts as premature (rapid reset) when unanswered and young.
   */
  closeStream(st: H2ServerStream, complete: boolean, byClient: boolean): void {
    if (st.closed) return;
    this.streams.delete(st.id);
    this.blocked.delete(st);
    this.closedIds.set(st.id, byClient ? CLOSED_BY_CLIENT : CLOSED);
    if (this.closedIds.size > CLOSED_MEMORY) this.closedIds.delete(this.closedIds.keys().next().value!);
    st.onClosed(complete);
    // What the stream held unread is dropped with it: its share of the connection window comes back.
    this.flow.released(st.held);
    st.held = 0;
    if (this.resets !== null && !this.dead) {
      const now = this.clock.monoMs();
      const premature = byClient && !st.headersSent && now - st.openedMs < PREMATURE_LIFETIME_MS;
      if (this.resets.streamEnded(premature, now)) return this.abuse('rapid-reset');
    }
    if (this.closing && this.streams.size === 0) this.flushSoon();
  }

  // ---- writing ----

  flushSoon(): void {
    if (this.flushQueued || this.dead) return;
    this.flushQueued = true;
    atTurnEnd(this);
  }

  /** The turn ended (turn-end.ts): what it produced goes out. */
  turnEnded(): void {
    if (!this.dead) this.flush();
  }

  /** Write everything this turn produced in one go. */
  flush(): void {
    this.flushQueued = false;
    if (this.socket.destroyed) return;
    const dirty = this.dirty;
    for (let i = 0; i < dirty.length; i++) {
      const st = dirty[i]!;
      st.dirty = false;
      if (!st.closed) this.frames.pump(st);
    }
    dirty.length = 0;
    const chunks = this.out.take();
    if (chunks.length > 0) {
      let ok: boolean;
      if (chunks.length === 1) ok = this.socket.write(chunks[0]!);
      else {
        this.socket.cork();
        ok = true;
        for (const c of chunks) ok = this.socket.write(c);
        this.socket.uncork();
      }
      this.lastActivityMs = this.clock.monoMs();
      if (!ok) this.congested = true;
      if (this.socket.writableLength > MAX_OUTPUT_BYTES && !this.readPaused) {
        this.readPaused = true;
        this.socket.pause();
      }
    }
    if (this.closing && this.streams.size === 0 && !this.dead) this.end();
  }

  private onDrain(): void {
    this.lastActivityMs = this.clock.monoMs();
    if (this.readPaused) {
      this.readPaused = false;
      if (!this.dead) this.socket.resume();
    }
    if (!this.congested) return;
    this.congested = false;
    for (const st of this.streams.values()) if (st.waitingDrain) st.drained();
  }

  // ---- the connection's end ----

  /** Graceful close (GOAWAY with the last stream id): open streams finish, then the socket ends. */
  close(): void {
    if (this.closing || this.dead) return;
    this.closing = true;
    this.goawayId = this.lastStreamId;
    this.frames.writeGoaway(this.goawayId, E_NO_ERROR);
    this.flush();
  }

  /** A connection error (§5.4.1): GOAWAY with `code`, then close. */
  fail(code: number): void {
    if (this.dead) return;
    this.frames.writeGoaway(this.lastStreamId, code);
    this.flush();
    this.end();
  }

  abuse(reason: AbuseReason): void {
    if (this.dead) return;
    this.opts.onAbuse(reason);
    this.fail(E_ENHANCE_YOUR_CALM);
  }

  /** Stop everything; what was written is flushed before the socket closes. */
  private end(): void {
    if (this.dead) return;
    this.dead = true;
    this.dropStreams();
    this.socket.pause();
    // Closed once what was written has left (a peer that never reads is left to the idle timer).
    const socket = this.socket;
    socket.end(() => socket.destroy());
  }

  destroy(): void {
    this.dead = true;
    this.dropStreams();
    this.socket.destroy();
  }

  private dropStreams(): void {
    for (const st of [...this.streams.values()]) this.closeStream(st, false, false);
  }

  private onEnd(): void {
    // The client will send nothing more: what is open is answered, then the socket ends.
    if (this.streams.size === 0) this.end();
    else this.close();
  }

  private onSocketClose(): void {
    this.dead = true;
    this.deadlines.stop();
    this.dropStreams();
    this.opts.onClose(this);
  }

  /** The output stayed stuck for a keep-alive period: reported as abuse, dropped. */
  stuckOutput(): void {
    this.opts.onAbuse('stuck-output');
    this.destroy();
  }
}
