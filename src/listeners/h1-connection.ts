/**
 * One HTTP/1.1 client connection (RFC 9112) on a net or TLS socket: the connection state machine
 * that reads request heads with Fulcrum's parser (src/http1/), hands each request to an Exchange
 * through an H1Request (the Downstream of that request), reads its body into the request's
 * BodyChannel with backpressure, and writes the response, framed by Content-Length, chunked (the
 * target's chunks passed on as they came, or ours), or by closing.
 *
 * Requests on one connection are served one at a time, in order, as nginx does: a pipelined
 * request is parsed once the response before it has been written, so answers never overtake one
 * another, and a request pipelined behind a response that closes the connection is never read.
 * Any doubt about framing (a malformed head, a broken chunked body) ends the connection after the
 * error is answered. Timeouts (one clock timer, re-armed lazily): `client_header_ms` for a head
 * (408), `client_request_ms` for a whole request (408), `keepalive_ms` between requests; a
 * connection being closed after an answer lingers briefly, reading and dropping what the client
 * still sends, so that it reads the answer rather than a reset (nginx's lingering close).
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { NodeSpec } from '../config/types.ts';
import type { WheelEntry } from '../core/deadline-wheel.ts';
import { ERRORS, type ErrorCode, errorBody } from '../core/errors.ts';
import { unmapIPv4 } from '../core/net.ts';
import { TurnEndWriter } from '../core/turn-end.ts';
import type { Fields } from '../http1/fields.ts';
import { HeadParser, PARSE } from '../http1/head-parser.ts';
import { type RequestMessage, requestMessage } from '../http1/message.ts';
import { BodyChannel } from '../proxy/body-channel.ts';
import type { ForwardCache } from '../proxy/downstream.ts';
import { Exchange } from '../proxy/exchange.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { BODY_BAD, BODY_DONE, BODY_FULL, H1BodyReader } from './h1-body-reader.ts';
import { type H1Owner, H1Request, NO_BYTES, reasonPhrase } from './h1-request.ts';

/** How long a connection idle between requests keeps what speeds up its next one (cool()). */
const COOL_MS = 5000;
/** How long a connection being closed keeps reading (and dropping) what the client sends. */
const LINGER_MS = 2000;
const NONE = 0;

/** A socket whose client address came from a PROXY protocol header. */
export type ProxiedSocket = Socket & { fulcrumClientIp?: string };

/** What a connection needs from its listener. */
export interface H1Host {
  readonly runtime: Runtime;
  /** The node settings in service (limits and timeouts are read per request). */
  node(): NodeSpec;
  /** The port the listener is bound to, or 0 when it does not know. */
  port(): number;
  /** The connection is gone (for the listener's count). */
  closed(c: H1Connection): void;
}

/**
 * Parsers not in use. A parser's scratch is about a kilobyte; a connection takes one when a head
 * starts and gives it back when the head is read, so that idle keep-alive connections hold none.
 */
const spareParsers: HeadParser[] = [];
const SPARE_PARSERS = 256;

/** Requests a client may have in flight on one connection by pipelining; beyond, reading waits. */
const MAX_PIPELINED = 32;

export class H1Connection implements WheelEntry, H1Owner {
  readonly socket: Socket;
  readonly clientIp: string;
  /** The port the client connected to: the listener's (asking the socket keeps a copy of its address on it). */
  readonly localPort: number;
  /** The forwarding fields of the last request (exchange.ts): the same for most requests of a connection. */
  readonly forwardCache: ForwardCache = { host: '', clientHost: '', settings: null, block: null };
  private readonly host: H1Host;
  private readonly runtime: Runtime;
  /** Held while a head is being read only: an idle connection holds none (spareParsers). */
  private parser: HeadParser | null = null;
  /** `resumeBody` as the bodies' onResume, made when a first body is read. */
  private resumer: (() => void) | null = null;
  /** Bytes read and not yet consumed: a head in pieces, or requests pipelined ahead. */
  private pending: Buffer | null = null;
  /** Finished responses' bytes waiting for the end of the turn (H1Request.flush). */
  readonly held: TurnEndWriter;
  /** Requests whose responses are not finished, in order: the first one writes, the others wait. */
  private queue: H1Request[] = [];
  /** The request whose body is being read, and how. */
  private reading: H1BodyReader | null = null;
  private paused = false;
  /**
   * head: reading a request head; body: reading `reading`'s body; stopped: no more requests on this
   * connection (after one that closes it, an upgrade, or a refused head); closing: FIN sent,
   * lingering; closed.
   */
  private state: 'head' | 'body' | 'stopped' | 'closing' | 'closed' = 'head';
  /** A refusal (bad head, timeout) to answer once the responses before it are written. */
  private refusal: ErrorCode | null = null;
  private headStarted = false;
  private headerDeadline = NONE;
  private requestDeadline = NONE;
  private idleDeadline = NONE;
  private lingerDeadline = NONE;
  /** When an idle connection lets go of what only speeds up its next request (COOL_MS). */
  private coolDeadline = NONE;
  // The connection's place on runtime.connectionTimers (its one deadline at a time: the earliest).
  wheelAt = -1;
  wheelSlot = -1;
  wheelNext: WheelEntry | null = null;
  wheelPrev: WheelEntry | null = null;
  /** Requests read on this connection (the first one's head is timed from the accept). */
  private served = 0;

  constructor(socket: Socket, host: H1Host, initial: Buffer | null) {
    this.socket = socket;
    this.held = new TurnEndWriter(socket);
    this.host = host;
    this.runtime = host.runtime;
    const proxied = (socket as ProxiedSocket).fulcrumClientIp;
    this.clientIp = proxied ?? unmapIPv4(socket.remoteAddress ?? '');
    this.localPort = host.port() || (socket.localPort ?? 0);
    // The socket's events find the connection through the socket: no bound function per connection.
    (socket as ConnSocket)[kConn] = this;
    socket.setNoDelay(true);
    socket.on('data', onSocketData);
    socket.on('drain', onSocketDrain);
    socket.on('end', onSocketEnd);
    socket.on('error', noop);
    socket.on('close', onSocketClose);
    const t = host.node().timeouts;
    this.headerDeadline = this.now() + t.clientHeaderMs;
    this.schedule();
    if (initial !== null && initial.length > 0) this.onData(initial);
  }

  /** Whole milliseconds: deadlines stay small integers, kept in the object rather than boxed. */
  private now(): number {
    return Math.floor(this.runtime.ioClock.monoMs());
  }

  /** Wall-clock time, for the Date field. */
  nowMs(): number {
    return this.runtime.ioClock.nowMs();
  }

  // ---- reading ----

  /** @internal (socket event) */
  onData(chunk: Buffer): void {
    try {
      this.dispatchData(chunk);
    } catch (err) {
      // A bug must cost this connection, never the process (and never go unnoticed).
      this.runtime.logs.app.error(
        { err, client: this.clientIp },
        'internal error on a client connection: closed',
      );
      this.socket.destroy();
    }
  }

  private dispatchData(chunk: Buffer): void {
    switch (this.state) {
      case 'head':
        return this.readHeads(chunk);
      case 'body':
        return this.afterBody(chunk, this.readBody(chunk, 0));
      case 'stopped':
        // Kept for a WebSocket's tunnel; otherwise what follows a closing request is never read.
        if (this.queue.length > 0 && this.queue[this.queue.length - 1]!.upgrade !== null)
          this.stash(chunk, 0);
        return;
      default:
        return; // closing: lingering, what the client still sends is dropped
    }
  }

  private stash(chunk: Buffer, from: number): void {
    const rest = from === 0 ? chunk : chunk.subarray(from);
    if (rest.length === 0) return;
    this.pending = this.pending === null ? rest : Buffer.concat([this.pending, rest]);
  }

  /** Parse request heads from what is pending plus `chunk`, starting each request as it completes. */
  private readHeads(chunk: Buffer | null): void {
    let buf: Buffer;
    if (this.pending === null) {
      if (chunk === null) return;
      buf = chunk;
    } else {
      buf = chunk === null ? this.pending : Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let i = 0;
    while (this.state === 'head' && i < buf.length) {
      if (this.queue.length >= MAX_PIPELINED) {
        // Far enough ahead: the rest waits (TCP pushes back on the client).
        this.stash(buf, i);
        this.pause();
        return;
      }
      if (!this.headStarted) this.headBegins();
      const p = this.parser ?? this.takeParser();
      const r = p.execute(buf, i, buf.length);
      if (r === PARSE.MORE) {
        // The parser resumes on the same bytes plus what comes next (its offsets are from byte i).
        this.pending = i === 0 ? buf : buf.subarray(i);
        return;
      }
      if (r === PARSE.TOO_LARGE) return this.refuse('FULCRUM_ERR_HEADERS_TOO_LARGE');
      if (r === PARSE.URI_TOO_LONG) return this.refuse('FULCRUM_ERR_URI_TOO_LONG');
      if (r !== PARSE.DONE) return this.refuse('FULCRUM_ERR_BAD_REQUEST');
      const m = requestMessage(p.method, p.target, p.minor, p.fields(buf, i));
      const used = p.headLength;
      this.headerDeadline = NONE;
      this.headStarted = false;
      this.releaseParser();
      if (m === 'bad') return this.refuse('FULCRUM_ERR_BAD_REQUEST');
      i += used;
      i = this.startRequest(m, buf, i);
    }
    if (i < buf.length) this.dispatchData(buf.subarray(i));
  }

  private takeParser(): HeadParser {
    const l = this.host.node().limits;
    let p = spareParsers.pop();
    if (p === undefined || !p.fits(l.maxHeaderBytes, l.maxHeaders + 1, l.maxUriBytes))
      p = new HeadParser('request', {
        maxHeadBytes: l.maxHeaderBytes,
        maxFields: l.maxHeaders + 1,
        maxTargetBytes: l.maxUriBytes,
      });
    this.parser = p;
    return p;
  }

  private releaseParser(): void {
    const p = this.parser;
    if (p === null) return;
    this.parser = null;
    p.reset();
    if (spareParsers.length < SPARE_PARSERS) spareParsers.push(p);
  }

  private headBegins(): void {
    this.headStarted = true;
    const t = this.host.node().timeouts;
    this.idleDeadline = NONE;
    // The first request's head is timed from the connection's start (nginx, Node); a later one's
    // from its first byte.
    if (this.served > 0) this.headerDeadline = this.now() + t.clientHeaderMs;
    if (t.clientRequestMs > 0) this.requestDeadline = this.now() + t.clientRequestMs;
    this.schedule();
  }

  /** Start the request whose head ended at `buf[i]`; returns where its body (if any) ended. */
  private startRequest(m: RequestMessage, buf: Buffer, i: number): number {
    const node = this.host.node();
    let body: BodyChannel | null = null;
    const f = m.framing;
    const ws = m.upgrade === 'websocket' && m.method === 'GET';
    // A chunked body is passed on as it came to an HTTP/1.1 target (validated as it streams).
    if (f.kind === 'length' && !ws) body = new BodyChannel(f.length, false, 0, 0);
    else if (f.kind === 'chunked' && !ws) body = new BodyChannel(-1, true, 0, 0);
    const req = new H1Request(this, m, body, ws);
    this.served++;
    this.queue.push(req);
    if (this.queue.length === 1) req.activate();
    // No request after one that closes the connection, or upgrades it, is ever read.
    const last = !m.keepAlive || m.upgrade !== null;
    const ex = new Exchange(this.runtime, this.runtime.current, req);
    if (body !== null) {
      body.onResume = this.resumer ??= () => this.resumeBody();
      const length = f.kind === 'length' ? f.length : -1;
      this.reading = new H1BodyReader(req, body, length, node.limits.maxHeaderBytes);
      this.state = 'body';
    } else {
      this.requestDeadline = NONE;
      if (last) this.state = 'stopped';
    }
    if (ws) {
      req.upgradeHead = i < buf.length ? Buffer.from(buf.subarray(i)) : NO_BYTES;
      i = buf.length;
    } else if (body !== null && i < buf.length) {
      const end = this.readBody(buf, i);
      i = end;
    }
    if (last && this.state === 'head') this.state = 'stopped';
    if (!req.done) ex.start();
    return this.state === 'body' ? buf.length : i;
  }

  /** Body bytes `buf[i..]` of the request being read; returns where its body ended in `buf`. */
  private readBody(buf: Buffer, i: number): number {
    const r = this.reading!;
    const end = r.read(buf, i);
    const outcome = r.outcome;
    if (outcome === BODY_DONE) this.bodyDone(r.trailers);
    else if (outcome === BODY_BAD) this.bodyFailed('FULCRUM_ERR_BAD_REQUEST');
    else if (outcome === BODY_FULL) this.pause();
    return end;
  }

  private bodyDone(trailers: Fields | null): void {
    const req = this.reading!.req;
    this.reading = null;
    this.requestDeadline = NONE;
    this.state = req.keepAliveRequested ? 'head' : 'stopped';
    req.body!.end(trailers);
  }

  private bodyFailed(code: ErrorCode): void {
    const req = this.reading?.req ?? null;
    this.reading = null;
    this.requestDeadline = NONE;
    // The framing can no longer be trusted: answer (if the exchange still can) and close.
    this.state = 'stopped';
    this.pause();
    if (req !== null) {
      req.closeAfter = true;
      req.body?.fail(code);
    }
  }

  private resumeBody(): void {
    if (this.state !== 'body') return;
    const p = this.pending;
    this.pending = null;
    this.resume();
    if (p !== null) this.afterBody(p, this.readBody(p, 0));
  }

  /** What followed a body in `buf` (from `end`): the next request, or bytes to keep or drop. */
  private afterBody(buf: Buffer, end: number): void {
    if (end >= buf.length) return;
    if (this.state === 'body') {
      // The body stopped taking bytes (backpressure): the rest waits.
      this.stash(buf, end);
      return;
    }
    this.dispatchData(buf.subarray(end));
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  // ---- writing: responses in order ----

  /** A request's response was handed over whole (or cut): the next one writes, or the connection ends. */
  finished(req: H1Request): void {
    const q = this.queue;
    if (q[0] !== req) return; // it waits, buffered, for those before it
    while (q.length > 0 && q[0]!.ended) {
      const done = q.shift()!;
      if (done.body !== null && !done.body.complete) {
        // Answered before its body was read (an error, an early answer): the rest of it cannot be
        // told from a next request.
        if (this.reading?.req === done) this.reading = null;
        done.body.fail('FULCRUM_ERR_CLIENT_ABORTED');
        return this.closeGracefully();
      }
      if (!done.keepAlive()) return this.closeGracefully();
      const next = q[0];
      if (next !== undefined) next.activate();
    }
    if (q.length > 0) return;
    if (this.refusal !== null) return this.writeRefusal(this.refusal);
    if (this.state === 'stopped') return this.closeGracefully();
    // Idle between requests, or reading the next head.
    this.resume();
    if (!this.headStarted && this.state === 'head') {
      const t = this.host.node().timeouts;
      const now = this.now();
      this.idleDeadline = t.keepaliveMs > 0 ? now + t.keepaliveMs : NONE;
      this.coolDeadline = now + COOL_MS;
      this.schedule();
    }
    if (this.pending !== null && this.state === 'head') this.readHeads(null);
  }

  /** A head refused: stop reading; the error goes out after the responses before it, then close. */
  private refuse(code: ErrorCode): void {
    this.releaseParser();
    this.pending = null;
    this.state = 'stopped';
    this.headerDeadline = this.requestDeadline = NONE;
    this.runtime.metrics.errors.labels({ code }).inc();
    this.runtime.logs.app.debug({ code, client: this.clientIp }, 'client error');
    if (this.queue.length > 0) {
      this.refusal = code;
      return;
    }
    this.writeRefusal(code);
  }

  private writeRefusal(code: ErrorCode): void {
    const e = ERRORS[code];
    const body = errorBody(code, undefined);
    this.held.flush();
    this.socket.write(
      `HTTP/1.1 ${e.status} ${reasonPhrase(e.status)}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    this.closeGracefully();
  }

  /** End the connection after what was written: FIN, then linger reading until the client closes. */
  closeGracefully(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.pending = null;
    this.headerDeadline = this.requestDeadline = this.idleDeadline = NONE;
    this.lingerDeadline = this.now() + LINGER_MS;
    this.schedule();
    this.resume();
    this.held.flush();
    this.socket.end();
    // Requests after the one that closed the connection will never be answered.
    for (const r of this.queue.splice(0)) r.gone();
  }

  /** Drop the connection now. */
  destroy(): void {
    this.held.drop();
    this.socket.destroy();
  }

  /** During a drain: close the connection if it is between requests. */
  closeIfIdle(): boolean {
    if (this.state === 'head' && !this.headStarted && this.queue.length === 0) {
      this.closeGracefully();
      return true;
    }
    return false;
  }

  /** Give the socket up (a WebSocket tunnel): no more reading, timers or bookkeeping here. Returns bytes read ahead. */
  detach(): Buffer | null {
    const s = this.socket;
    this.held.flush();
    s.off('data', onSocketData);
    s.off('drain', onSocketDrain);
    s.off('end', onSocketEnd);
    s.off('close', onSocketClose);
    this.clearTimer();
    this.releaseParser();
    this.state = 'closed';
    this.queue.length = 0;
    this.reading = null;
    if (this.paused) {
      this.paused = false;
      s.resume();
    }
    s.once('close', () => this.host.closed(this));
    const p = this.pending;
    this.pending = null;
    return p;
  }

  // ---- socket events ----

  /** @internal (socket event) */
  onDrain(): void {
    this.queue[0]?.drained();
  }

  /** @internal (socket event) */
  onEnd(): void {
    // The client closed its side: as nginx (without proxy_ignore_client_abort), the requests in
    // flight are given up (499) and the connection closed.
    this.socket.destroy();
  }

  /** @internal (socket event) */
  onClose(): void {
    this.state = 'closed';
    this.held.drop();
    this.clearTimer();
    this.releaseParser();
    const reading = this.reading;
    this.reading = null;
    reading?.body.fail('FULCRUM_ERR_CLIENT_ABORTED');
    for (const r of this.queue.splice(0)) r.gone();
    this.host.closed(this);
  }

  // ---- timers ----

  /** Arm the wheel for the earliest deadline, unless it is armed for one earlier still (lazy). */
  private schedule(): void {
    let at = earlier(this.headerDeadline, this.requestDeadline);
    at = earlier(at, earlier(this.idleDeadline, this.lingerDeadline));
    at = earlier(at, this.coolDeadline);
    if (at === NONE) return;
    if (this.wheelAt !== -1 && this.wheelAt <= at) return;
    this.runtime.connectionTimers.arm(this, at);
  }

  private clearTimer(): void {
    this.runtime.connectionTimers.disarm(this);
  }

  /**
   * Idle a while: drop the forwarding fields kept for the next request and the queue's spare
   * room, so that a connection idle for long holds little more than its socket (bench/memory).
   */
  private cool(): void {
    const c = this.forwardCache;
    c.block = null;
    c.host = c.clientHost = '';
    c.settings = null;
    if (this.queue.length === 0) this.queue = [];
  }

  /** @internal (the wheel) */
  onDeadline(): void {
    try {
      this.tick();
    } catch (err) {
      this.runtime.logs.app.error(
        { err, client: this.clientIp },
        'internal error on a client connection: closed',
      );
      this.socket.destroy();
    }
  }

  private tick(): void {
    if (this.state === 'closed') return;
    const now = this.now();
    if (this.lingerDeadline !== NONE && now >= this.lingerDeadline) {
      this.socket.destroy();
      return;
    }
    if (this.coolDeadline !== NONE && now >= this.coolDeadline) {
      this.coolDeadline = NONE;
      this.cool();
    }
    if (this.idleDeadline !== NONE && now >= this.idleDeadline) {
      this.idleDeadline = NONE;
      if (this.state === 'head' && !this.headStarted && this.queue.length === 0) {
        this.socket.destroy();
        return;
      }
    }
    if (this.headerDeadline !== NONE && now >= this.headerDeadline) {
      this.headerDeadline = NONE;
      // No byte of a request: close quietly (nginx does too); part of a head: 408 (slowloris).
      if (this.state === 'head') {
        if (this.headStarted) this.refuse('FULCRUM_ERR_REQUEST_TIMEOUT');
        else if (this.queue.length === 0) this.socket.destroy();
        return;
      }
    }
    if (this.requestDeadline !== NONE && now >= this.requestDeadline) {
      this.requestDeadline = NONE;
      if (this.state === 'body') return this.bodyFailed('FULCRUM_ERR_REQUEST_TIMEOUT');
      if (this.state === 'head' && this.headStarted) return this.refuse('FULCRUM_ERR_REQUEST_TIMEOUT');
    }
    this.schedule();
  }
}

const kConn = Symbol('fulcrum.h1Connection');
type ConnSocket = Socket & { [kConn]: H1Connection };
function onSocketData(this: ConnSocket, chunk: Buffer): void {
  this[kConn].onData(chunk);
}
function onSocketDrain(this: ConnSocket): void {
  this[kConn].onDrain();
}
function onSocketEnd(this: ConnSocket): void {
  this[kConn].onEnd();
}
function onSocketClose(this: ConnSocket): void {
  this[kConn].onClose();
}

/** The earlier of two deadlines, NONE being none. */
function earlier(a: number, b: number): number {
  return a === NONE || (b !== NONE && b < a) ? b : a;
}

function noop(): void {}
