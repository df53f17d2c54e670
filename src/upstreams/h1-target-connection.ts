/**
 * One HTTP/1.1 connection to a target, for the keep-alive pool of h1-pool.ts: it writes a request
 * (its pre-encoded head, then its body with backpressure), reads the response head with Fulcrum's
 * parser (src/http1/) and hands the body on as it comes, validated but not re-framed, and tells
 * the pool when it is clean to reuse (see h1-pool.ts for when that is). Hand written for the
 * reasons h1-pool.ts gives.
 *
 * Reading: a cleartext connection reads into one buffer shared by all of them (net's documented
 * `onread` option), which skips the Readable stream machinery and a 64 KiB allocation per read;
 * what must outlive the read (a response head, body bytes handed on) is copied out of it. TLS
 * connections, and those opened for a WebSocket upgrade (handed over as streams on a 101), read
 * as streams.
 */
import { Buffer } from 'node:buffer';
import { connect as netConnect, type Socket } from 'node:net';
import process from 'node:process';
import { connect as tlsConnect } from 'node:tls';
import { TurnEndWriter } from '../core/turn-end.ts';
import { ChunkedDecoder, CRLF, chunkHead, LAST_CHUNK } from '../http1/chunked.ts';
import type { Fields } from '../http1/fields.ts';
import { HeadParser, PARSE } from '../http1/head-parser.ts';
import { headWriter } from '../http1/head-writer.ts';
import { type ResponseMessage, responseMessage } from '../http1/message.ts';
import type { BodyChannel, BodyConsumer } from '../proxy/body-channel.ts';
import { CONNECT, type DeadlineOwner, Deadlines, IDLE, NONE, READ } from './deadlines.ts';
import type { CallState as Call, ConnectionPool as Pool } from './h1-pool-contract.ts';
import { ReadShare } from './read-share.ts';
import { UpstreamError } from './upstream-call.ts';

type CallState = Call<TargetConnection>;
type ConnectionPool = Pool<TargetConnection>;

/** Largest response head accepted from a target (nginx's buffers grow to 32 KiB and more). */
export const UPSTREAM_MAX_HEADER_BYTES = 65536;
const MAX_RESPONSE_FIELDS = 500;
/** A target's `Keep-Alive: timeout` hint is trusted less this margin (undici uses 1 s as well). */
const KEEPALIVE_HINT_MARGIN_MS = 1000;

/** Where cleartext connections read (one read at a time in this process: its bytes are copied before the next). */
const SHARED_READ_BYTES = 64 * 1024;
let sharedRead: Buffer | null = null;
function sharedReadBuffer(): Buffer {
  if (sharedRead === null) sharedRead = Buffer.allocUnsafe(SHARED_READ_BYTES);
  return sharedRead;
}

/** A request at most this long, head and whole body, waits for the end of the turn (turn-end.ts). */
const HELD_REQUEST_MAX_BYTES = 8 * 1024;

const RESPONSE_LIMITS = {
  maxHeadBytes: UPSTREAM_MAX_HEADER_BYTES,
  maxFields: MAX_RESPONSE_FIELDS,
  maxTargetBytes: 0,
};

export class TargetConnection implements BodyConsumer, DeadlineOwner {
  readonly pool: ConnectionPool;
  readonly servername: string;
  /** Reads as a stream ('data' events), else into the shared buffer (see the file's comment). */
  private readonly streamed: boolean;
  /** The current read is in the shared buffer: what is kept of it must be copied. */
  private shared = false;
  private socket: Socket | null = null;
  private connected = false;
  private call: CallState | null = null;
  private readonly parser = new HeadParser('response', RESPONSE_LIMITS);
  /** Bytes of a response head that arrived in pieces. */
  private headBuf: Buffer | null = null;
  private res: ResponseMessage | null = null;
  /** Body bytes still expected (length framing). */
  private remaining = 0;
  private decoder: ChunkedDecoder | null = null;
  /** The whole request was written. */
  private written = false;
  /** Any response byte arrived for the current request. */
  private responded = false;
  /** The reader asked to wait: the socket is paused (a read already in hand was delivered whole). */
  private paused = false;
  /** The body channel being written, while it is. */
  private writing: BodyChannel | null = null;
  private waitingDrain = false;
  /** A request head waiting for the end of the turn (start()). */
  private held: TurnEndWriter | null = null;
  private share: ReadShare | null = null;
  /** Connect, read, write and idle deadlines, one timer for all. */
  private readonly deadlines: Deadlines;
  /** The target's Keep-Alive timeout hint, ms (0: none). */
  private keepAliveHintMs = 0;
  private dead = false;

  constructor(pool: ConnectionPool, servername: string, streamed: boolean) {
    this.pool = pool;
    this.servername = servername;
    this.streamed = streamed;
    this.deadlines = new Deadlines(pool.o.clock, this);
    this.onData = this.onData.bind(this);
    this.onSharedRead = this.onSharedRead.bind(this);
    this.onDrain = this.onDrain.bind(this);
    this.onEnd = this.onEnd.bind(this);
    this.onError = this.onError.bind(this);
    this.onClose = this.onClose.bind(this);
    this.sink = this.sink.bind(this);
  }

  connect(call: CallState): void {
    const o = this.pool.o;
    this.call = call;
    call.conn = this;
    const plain = { host: o.host, port: o.port, noDelay: true };
    const socket =
      o.tls === null
        ? netConnect(this.streamed ? plain : { ...plain, onread: this.sharedRead() })
        : tlsConnect({
            ...o.tls,
            host: o.host,
            port: o.port,
            ...(this.servername !== '' ? { servername: this.servername } : {}),
          });
    this.socket = socket;
    this.held = new TurnEndWriter(socket);
    // Only sockets read through `onread` relay many reads in one event (onSharedRead).
    if (o.tls === null && !this.streamed)
      this.share = new ReadShare(socket, () => !this.paused && !this.dead);
    socket.setNoDelay(true);
    // Never what keeps the process alive: a request in flight has its client's connection (or the
    // embedding caller) for that, and an idle one must not hold a stopping node. Unref'd once
    // rather than ref'd and unref'd per request (two native calls each time).
    socket.unref();
    if (this.streamed) socket.on('data', this.onData);
    socket.on('drain', this.onDrain);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.once(o.tls === null ? 'connect' : 'secureConnect', () => {
      this.connected = true;
      this.deadlines.connect = NONE;
      if (this.call !== null) this.start();
      else this.pool.release(this);
    });
    this.deadlines.connect = this.deadlines.in(o.connectTimeoutMs);
    this.deadlines.arm();
  }

  /** Net's `onread`: reads land in the buffer every cleartext connection shares. */
  private sharedRead(): { buffer: Buffer; callback: (n: number, buf: Buffer) => boolean } {
    return { buffer: sharedReadBuffer(), callback: this.onSharedRead };
  }

  /** An idle connection takes a request. */
  assign(call: CallState): void {
    this.call = call;
    call.conn = this;
    this.deadlines.idle = NONE;
    this.start();
  }

  /** Whether an idle connection may carry another request. */
  reusable(): boolean {
    const s = this.socket;
    if (this.dead || s === null || s.destroyed || !s.writable) return false;
    const idle = this.deadlines.idle;
    return idle === NONE || this.deadlines.ahead(idle);
  }

  idleSince(): void {
    const o = this.pool.o;
    const keep = this.keepAliveHintMs > 0 ? Math.min(o.keepAliveMs, this.keepAliveHintMs) : o.keepAliveMs;
    this.deadlines.idle = this.deadlines.in(keep);
    this.deadlines.arm();
  }

  /** Write the request: its head, then its body. */
  private start(): void {
    const call = this.call!;
    const req = call.req;
    const socket = this.socket!;
    this.written = false;
    this.responded = false;
    this.res = null;
    this.headBuf = null;
    this.decoder = null;
    this.parser.reset();
    call.handler.onConnected();
    if (call.done) return;
    this.deadlines.read = this.deadlines.in(req.readTimeoutMs);
    this.deadlines.arm();
    const body = req.body;
    if (body === null) {
      // Written at the end of the turn (turn-end.ts); nothing follows it before the response.
      this.held!.hold(req.head!);
      this.written = true;
    } else if (Buffer.isBuffer(body) && req.head!.length + body.length <= HELD_REQUEST_MAX_BYTES) {
      this.held!.hold(req.head!);
      this.held!.hold(body);
      this.written = true;
    } else if (Buffer.isBuffer(body)) {
      socket.cork();
      socket.write(req.head!);
      socket.write(body);
      socket.uncork();
      this.written = true;
    } else {
      // The head leaves with the body's first bytes (as undici does): a body that fails before
      // any byte of it is valid (a bad first chunk) never reaches the target at all.
      this.headPending = req.head;
      this.writing = body;
      body.attach(this);
    }
  }

  /** A request head waiting for its body's first bytes. */
  private headPending: Buffer | null = null;

  /** Whether `chunk` is all of a short body, sent as it is (not coded in chunks for the target). */
  private wholeBodyIn(head: Buffer, chunk: Buffer): boolean {
    const body = this.writing;
    return (
      body?.complete === true &&
      body.queuedBytes === 0 &&
      !this.call!.req.encodeChunks &&
      head.length + chunk.length <= HELD_REQUEST_MAX_BYTES
    );
  }

  // ---- the request body (BodyConsumer) ----

  data(chunk: Buffer): boolean {
    const socket = this.socket;
    if (socket === null || this.dead) return false;
    const head = this.headPending;
    const held = this.held!;
    if (head !== null && this.wholeBodyIn(head, chunk)) {
      // The whole body came with the head (most API requests): both wait for the end of the turn
      // as a bodiless head does, and end() follows at once.
      this.headPending = null;
      held.hold(head);
      held.hold(chunk);
      return true;
    }
    held.flush();
    socket.cork();
    if (head !== null) {
      this.headPending = null;
      socket.write(head);
    }
    let ok: boolean;
    if (this.call!.req.encodeChunks) {
      socket.write(chunkHead(chunk.length));
      socket.write(chunk);
      ok = socket.write(CRLF);
    } else ok = socket.write(chunk);
    socket.uncork();
    if (ok) return true;
    this.waitingDrain = true;
    const ms = this.call!.req.writeTimeoutMs;
    if (ms > 0) {
      this.deadlines.write = this.deadlines.in(ms);
      this.deadlines.arm();
    }
    return false;
  }

  end(trailers: Fields | null): void {
    const socket = this.socket;
    this.writing = null;
    if (socket === null || this.dead) return;
    // What is held goes before what this writes; a whole body held with its head stays held.
    if (this.headPending !== null || this.call!.req.encodeChunks) this.held!.flush();
    if (this.headPending !== null) {
      socket.write(this.headPending);
      this.headPending = null;
    }
    if (this.call!.req.encodeChunks) {
      if (trailers === null || trailers.count === 0) socket.write(LAST_CHUNK);
      else {
        const w = headWriter.reset().text('0\r\n');
        for (let i = 0; i < trailers.count; i++) trailers.writeLine(w, i);
        socket.write(w.text('\r\n').finish());
      }
    }
    this.written = true;
    this.maybeDone();
  }

  error(): void {
    // The client's body failed: this request cannot complete; the try answers the client.
    this.writing = null;
    this.fail(new UpstreamError('aborted', 'the request body failed'));
  }

  private onDrain(): void {
    if (!this.waitingDrain) return;
    this.waitingDrain = false;
    this.deadlines.write = NONE;
    this.writing?.resume();
  }

  // ---- the response ----

  resumeReading(): void {
    if (!this.paused || this.dead) return;
    this.paused = false;
    const call = this.call;
    if (call !== null && this.res !== null) this.deadlines.read = this.deadlines.in(call.req.readTimeoutMs);
    this.deadlines.arm();
    this.socket?.resume();
  }

  /** A read into the shared buffer (onread): handled before the next read reuses it. */
  private onSharedRead(n: number, buf: Buffer): boolean {
    this.shared = true;
    this.onData(buf.subarray(0, n));
    this.shared = false;
    // False pauses the socket: the reader asked to wait, or the connection had its turn's share.
    return !this.paused && this.share!.take(n);
  }

  /** Bytes of the current read that outlive it: a copy when they are in the shared buffer. */
  private keep(buf: Buffer, s: number, e: number): Buffer {
    if (!this.shared) return s === 0 && e === buf.length ? buf : buf.subarray(s, e);
    const out = Buffer.allocUnsafe(e - s);
    buf.copy(out, 0, s, e);
    return out;
  }

  private onData(chunk: Buffer): void {
    const call = this.call;
    try {
      this.read(chunk);
      // What this read brought to the client side may leave in one write now.
      if (call !== null) call.handler.onReadEnd();
    } catch (err) {
      // A bug must cost this request, never the process.
      this.fail(new UpstreamError('bad-response', `internal error: ${(err as Error).message}`, '', true));
      process.emitWarning(err as Error);
    }
  }

  private read(chunk: Buffer): void {
    const call = this.call;
    if (call === null || call.done) {
      // Bytes nobody asked for (an idle connection, or after the response): never reuse it.
      this.destroy();
      return;
    }
    if (!this.responded) this.responded = true;
    let i = 0;
    let buf = chunk;
    if (this.res === null) {
      // The head (possibly after 1xx heads).
      for (;;) {
        if (this.headBuf !== null) {
          // The head began in an earlier read: parse it from its first byte (the parser resumes).
          buf = Buffer.concat([this.headBuf, buf.subarray(i)]);
          this.headBuf = null;
          this.shared = false; // a copy of its own now
          i = 0;
        }
        const r = this.parser.execute(buf, i, buf.length);
        if (r === PARSE.MORE) {
          this.headBuf = Buffer.from(buf.subarray(i));
          // Keep the parser's offsets valid: they are relative to the head's first byte.
          return;
        }
        if (r !== PARSE.DONE)
          return this.fail(new UpstreamError('bad-response', 'invalid response head', '', true));
        const p = this.parser;
        // The fields stay with the response: out of the shared buffer if the head is in it.
        const fields = this.shared ? p.fields(this.keep(buf, i, i + p.headLength), 0) : p.fields(buf, i);
        const m = responseMessage(p.status, p.reason, p.minor, fields, call.req.headOnly);
        if (m === 'bad')
          return this.fail(new UpstreamError('bad-response', 'ambiguous response framing', '', true));
        i += p.headLength;
        if (m.status < 200 && m.status !== 101) {
          this.parser.reset();
          call.handler.onInformational(m.status, m.fields);
          if (call.done) return;
          if (i >= buf.length) return;
          continue;
        }
        if (m.status === 101) {
          if (!call.req.upgrade)
            return this.fail(new UpstreamError('bad-response', 'unexpected 101', '', true));
          return this.upgrade(m, buf.subarray(i));
        }
        this.res = m;
        this.deadlines.read = this.deadlines.in(call.req.readTimeoutMs);
        this.keepAliveHint(m);
        if (!m.keepAlive) this.dead = true;
        const f = m.framing;
        if (f.kind === 'length') this.remaining = f.length;
        else if (f.kind === 'chunked') this.decoder = new ChunkedDecoder(UPSTREAM_MAX_HEADER_BYTES);
        if (!call.handler.onHead(m)) this.pause();
        if (call.done) return;
        if (f.kind === 'none') return this.complete(null, i < buf.length);
        break;
      }
    } else {
      this.deadlines.read = this.deadlines.in(call.req.readTimeoutMs);
    }
    if (i < buf.length) this.body(buf, i);
  }

  /** Body bytes `buf[i..]` of the current response. */
  private body(buf: Buffer, i: number): void {
    const call = this.call!;
    const res = this.res!;
    const f = res.framing;
    if (f.kind === 'length') {
      const n = Math.min(this.remaining, buf.length - i);
      this.remaining -= n;
      call.bodyBytes += n;
      if (!call.handler.onData(this.keep(buf, i, i + n))) this.pause();
      if (call.done) return;
      if (this.remaining === 0) this.complete(null, i + n < buf.length);
      return;
    }
    if (f.kind === 'close') {
      call.bodyBytes += buf.length - i;
      if (!call.handler.onData(this.keep(buf, i, buf.length))) this.pause();
      return;
    }
    const d = this.decoder!;
    this.sinkFull = false;
    const end = d.push(buf, i, buf.length, this.sink);
    if (end < 0) return this.fail(new UpstreamError('bad-response', 'invalid chunked coding', '', true));
    call.bodyBytes = d.bytes;
    if (call.raw && end > i) {
      if (!call.handler.onData(this.keep(buf, i, end))) this.pause();
    } else if (this.sinkFull) this.pause();
    if (call.done) return;
    if (d.done) this.complete(d.trailers, end < buf.length);
  }

  private sinkFull = false;

  /** Decoded data of a chunked body (unless the try takes the coded bytes). */
  private sink(buf: Buffer, s: number, e: number): void {
    const call = this.call!;
    if (call.raw || call.done) return;
    if (!call.handler.onData(this.keep(buf, s, e))) this.sinkFull = true;
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket?.pause();
    // The slow side is the client: the read timeout does not run meanwhile.
    this.deadlines.read = NONE;
  }

  /** The response is complete. `extra`: bytes followed it (never reuse such a connection). */
  private complete(trailers: Fields | null, extra: boolean): void {
    const call = this.call!;
    if (extra) this.dead = true;
    this.deadlines.read = NONE;
    this.res = null;
    call.done = true;
    call.handler.onEnd(trailers);
    // An early answer (the target did not wait for the whole body): the connection is not clean.
    if (!this.written) {
      this.dead = true;
      if (this.writing !== null) this.writing.detach(this);
      this.writing = null;
    }
    this.maybeDone();
  }

  /** Both directions finished: give the connection back, or drop it. */
  private maybeDone(): void {
    const call = this.call;
    if (call === null || !call.done || !this.written) return;
    this.call = null;
    call.conn = null;
    if (this.paused) {
      this.paused = false;
      this.socket?.resume();
    }
    if (this.dead) return this.destroy();
    this.pool.release(this);
  }

  private keepAliveHint(m: ResponseMessage): void {
    const i = m.fields.indexOf('keep-alive');
    if (i < 0) return;
    const t = /(?:^|[,\s])timeout\s*=\s*(\d+)/i.exec(m.fields.value(i));
    if (t === null) return;
    const ms = Number(t[1]) * 1000 - KEEPALIVE_HINT_MARGIN_MS;
    this.keepAliveHintMs = Math.max(ms, 1);
  }

  private upgrade(m: ResponseMessage, rest: Buffer): void {
    const call = this.call!;
    const socket = this.socket!;
    this.detachSocket();
    this.pool.forget(this);
    this.call = null;
    call.done = true;
    call.conn = null;
    socket.ref();
    call.handler.onUpgrade(m, socket, rest);
  }

  /** Hand the socket over (upgrade): none of this connection's listeners or timers remain. */
  private detachSocket(): void {
    const s = this.socket!;
    s.off('data', this.onData);
    s.off('drain', this.onDrain);
    s.off('end', this.onEnd);
    s.off('error', this.onError);
    s.off('close', this.onClose);
    this.deadlines.stop();
    this.dead = true;
    this.socket = null;
  }

  // ---- failures and the end of the connection ----

  private onEnd(): void {
    const call = this.call;
    if (call !== null && !call.done && this.res !== null && this.res.framing.kind === 'close') {
      // A close-delimited body ends with the connection.
      this.dead = true;
      this.complete(null, false);
      return;
    }
    this.fail(this.closedError('the target closed the connection'));
  }

  private onError(err: NodeJS.ErrnoException): void {
    if (!this.connected) return this.fail(new UpstreamError('connect', err.message, err.code ?? ''));
    this.fail(this.closedError(err.message, err.code ?? ''));
  }

  private closedError(message: string, code = ''): UpstreamError {
    return new UpstreamError('reset', message, code, this.responded);
  }

  private onClose(): void {
    if (this.call !== null && !this.call.done)
      this.fail(
        this.connected
          ? this.closedError('the target closed the connection')
          : new UpstreamError('connect', 'the connection closed before it was established'),
      );
    this.destroy();
  }

  /** Fail the current call (if any) and drop the connection. */
  fail(err: Error): void {
    this.dead = true;
    const call = this.call;
    this.call = null;
    if (this.writing !== null) {
      this.writing.detach(this);
      this.writing = null;
    }
    this.destroy();
    if (call !== null) {
      call.conn = null;
      call.fail(err);
    }
  }

  destroy(): void {
    this.dead = true;
    this.held?.drop();
    this.deadlines.stop();
    const s = this.socket;
    if (s !== null && !s.destroyed) s.destroy();
    this.pool.forget(this);
    const call = this.call;
    if (call !== null && !call.done) {
      this.call = null;
      call.conn = null;
      call.fail(this.closedError('the connection was closed'));
    }
  }

  // ---- deadlines ----

  /** A deadline passed (deadlines.ts): connect, read and write end the try; idle, the connection. */
  deadlinePassed(which: number): void {
    if (this.dead && this.socket === null) return;
    if (which === CONNECT) return this.fail(new UpstreamError('connect-timeout', 'connect timeout'));
    if (which === READ)
      return this.fail(
        new UpstreamError(
          'timeout',
          this.res === null ? 'no response head in time' : 'body read timeout',
          '',
          this.responded,
        ),
      );
    if (which === IDLE) return this.destroy();
    this.fail(
      new UpstreamError('write-timeout', 'the target stopped reading the request body', '', this.responded),
    );
  }
}
