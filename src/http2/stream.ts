/**
 * One HTTP/2 stream of Fulcrum's own server codec (src/http2/connection.ts), as the Exchange's
 * Downstream: the request from the stream's validated header list, its body into a BodyChannel
 * (flow control, flow-control.ts: the stream's and the connection's windows are given back as the
 * channel takes the data, withheld while it asks the codec to wait), the response as HEADERS, DATA within the flow-control windows, and trailers.
 * A response cut short is reset with INTERNAL_ERROR, never ended with END_STREAM. An RFC 8441
 * WebSocket stream is handed over as a Duplex (tunnel.ts).
 *
 * Hand-written with the rest of src/http2/: one object per stream, no Node streams on the hot path.
 */
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { unmapIPv4 } from '../core/net.ts';
import { type Fields, StringFields } from '../http1/fields.ts';
import { BodyChannel } from '../proxy/body-channel.ts';
import type { Downstream, DownstreamEvents, OutHead } from '../proxy/downstream.ts';
import { E_CANCEL, E_INTERNAL, E_PROTOCOL } from './frames.ts';
import { type RequestHead, responseFields } from './messages.ts';
import { StreamTunnel, type TunnelEnds } from './tunnel.ts';

/** What a stream needs of its connection (connection.ts), kept as an interface against import cycles. */
export interface StreamOwner {
  readonly socket: Socket;
  readonly localPort: number;
  readonly clientIp: string;
  /** The peer's SETTINGS_INITIAL_WINDOW_SIZE, and ours. */
  readonly peerInitialWindow: number;
  readonly initialWindow: number;
  /** The socket's output is over its bound. */
  readonly congested: boolean;
  schedule(st: H2ServerStream): void;
  sendHeaders(st: H2ServerStream, status: number, fields: readonly string[], endStream: boolean): void;
  consumed(st: H2ServerStream, n: number): void;
  released(n: number): void;
  remoteEnded(st: H2ServerStream): void;
  localEnded(st: H2ServerStream): void;
  resetStream(st: H2ServerStream, code: number): void;
  streamError(st: H2ServerStream, code: number): void;
}

/** Response bytes a stream may queue (waiting for flow-control windows) before write() says wait. */
const STREAM_HIGH_WATER_BYTES = 64 * 1024;

export class H2ServerStream implements Downstream, TunnelEnds {
  readonly h2 = true;
  readonly id: number;
  readonly conn: StreamOwner;
  readonly socket: Socket;
  readonly localPort: number;
  readonly clientIp: string;
  readonly method: string;
  readonly target: string;
  readonly minor = 1;
  readonly fields: Fields;
  readonly host: string;
  readonly expectContinue: boolean;
  readonly body: BodyChannel | null;
  readonly connectionNamed = null;
  readonly forwardCache = null;
  readonly upgrade: string | null;
  /** A plain CONNECT (answered 400: no tunnel is opened). */
  readonly plainConnect: boolean;
  /** The header list's size as SETTINGS_MAX_HEADER_LIST_SIZE counts it. */
  readonly listBytes: number;
  closeAfter = false;
  headersSent = false;
  finished = false;
  events: DownstreamEvents | null = null;
  readonly openedMs: number;

  // ---- protocol state, kept by the connection ----
  /** END_STREAM received. */
  remoteClosed: boolean;
  /** END_STREAM sent (or queued to go with the last DATA). */
  localClosed = false;
  /** Gone from the connection (closed or reset either way). */
  closed = false;
  /** Bytes we may send on this stream (the peer's window for it). */
  sendWindow: number;
  /** Bytes the peer may still send before we give window back. */
  recvWindow: number;
  /** Bytes taken by the consumer, not yet given back in a WINDOW_UPDATE. */
  unacked = 0;
  /** Bytes received while the consumer asked to wait: given back when it resumes (or the stream closes). */
  held = 0;
  /** Response data waiting for windows. */
  queue: Buffer[] = [];
  queued = 0;
  /** The response is complete: END_STREAM goes after the queue (with trailers, if any). */
  endPending = false;
  trailers: string[] | null = null;
  /** Queued for the next flush. */
  dirty = false;
  /** write() returned false: clientDrained() is owed. */
  waitingDrain = false;
  private readonly contentLength: number;
  private received = 0;
  /** The Exchange's side is over (ended, aborted or tunnelled): its writes are ignored. */
  private done = false;
  private tunnelDuplex: StreamTunnel | null = null;
  /** DATA of a WebSocket stream that arrived before the tunnel opened. */
  private early: Buffer[] | null = null;
  private tunnelDrain: (() => void) | null = null;

  constructor(
    conn: StreamOwner,
    id: number,
    head: RequestHead,
    endStream: boolean,
    listBytes: number,
    nowMs: number,
  ) {
    this.conn = conn;
    this.id = id;
    this.socket = conn.socket;
    this.localPort = conn.localPort;
    this.clientIp = conn.clientIp;
    this.listBytes = listBytes;
    this.openedMs = nowMs;
    this.remoteClosed = endStream;
    this.sendWindow = conn.peerInitialWindow;
    this.recvWindow = conn.initialWindow;
    this.contentLength = head.contentLength;
    let method = head.method;
    const flat = head.fields;
    const ws = method === 'CONNECT' && head.protocol === 'websocket';
    this.plainConnect = method === 'CONNECT' && head.protocol === '';
    if (ws) {
      // The HTTP/1.1 handshake a target expects: GET with a fresh key and version 13.
      method = 'GET';
      flat.push('sec-websocket-key', randomBytes(16).toString('base64'));
      if (!hasName(flat, 'sec-websocket-version')) flat.push('sec-websocket-version', '13');
    }
    const fields = new StringFields(flat);
    this.fields = fields;
    this.method = method;
    this.target = head.path;
    // HTTP/2 carries the host in :authority (RFC 9113 §8.3.1); a request with both uses :authority.
    this.host = head.authority !== '' ? head.authority : (fields.get('host') ?? '');
    const expect = fields.get('expect');
    this.expectContinue = expect !== undefined && expect.toLowerCase() === '100-continue';
    this.upgrade = ws ? 'websocket' : null;
    if (ws) this.early = [];
    if (!ws && !endStream) {
      const body = new BodyChannel(head.contentLength, false, 0, 0);
      body.onResume = () => this.resumed();
      this.body = body;
    } else this.body = null;
  }

  // ---- from the client (called by the connection) ----

  /** A DATA frame's data (padding already given back). */
  onData(chunk: Buffer, endStream: boolean): void {
    const n = chunk.length;
    this.received += n;
    if (this.contentLength >= 0 && this.received > this.contentLength) {
      this.conn.released(n);
      this.conn.streamError(this, E_PROTOCOL);
      return;
    }
    if (n > 0) this.deliver(chunk);
    if (endStream) this.onEnd(null);
  }

  private deliver(chunk: Buffer): void {
    const n = chunk.length;
    const body = this.body;
    if (body !== null && !body.complete && body.failed === null) {
      if (body.push(chunk)) this.conn.consumed(this, n);
      else this.held += n;
      return;
    }
    if (this.tunnelDuplex !== null) {
      if (this.tunnelDuplex.push(chunk)) this.conn.consumed(this, n);
      else this.held += n;
      return;
    }
    if (this.early !== null) {
      this.early.push(chunk);
      this.held += n;
      return;
    }
    // Nobody reads it (the body failed or was answered): discarded, its window given back.
    this.conn.consumed(this, n);
  }

  /** END_STREAM from the client, with the trailers when they ended it. */
  onEnd(trailers: string[] | null): void {
    this.remoteClosed = true;
    if (this.contentLength >= 0 && this.received !== this.contentLength) {
      this.conn.streamError(this, E_PROTOCOL);
      return;
    }
    if (this.body !== null)
      this.body.end(trailers === null || trailers.length === 0 ? null : new StringFields(trailers));
    if (this.tunnelDuplex !== null) this.tunnelDuplex.push(null);
    this.conn.remoteEnded(this);
  }

  /** The consumer wants data again: the window withheld meanwhile goes back to the client. */
  resumed(): void {
    const n = this.held;
    this.held = 0;
    if (n > 0) this.conn.consumed(this, n);
  }

  /** The stream is gone (reset either way, or the connection closed); `complete`: it ended normally. */
  onClosed(complete: boolean): void {
    this.closed = true;
    this.done = true;
    this.queue = [];
    this.queued = 0;
    if (this.body !== null && !this.body.complete) this.body.fail('FULCRUM_ERR_CLIENT_ABORTED');
    if (this.tunnelDuplex !== null && !this.tunnelDuplex.destroyed) this.tunnelDuplex.destroy();
    if (!complete && !this.finished) this.events?.clientGone();
  }

  /** The connection's output drained below its limits: owed drains are paid. */
  drained(): void {
    if (!this.waitingDrain || this.queued >= STREAM_HIGH_WATER_BYTES || this.conn.congested) return;
    this.waitingDrain = false;
    const t = this.tunnelDrain;
    if (t !== null) {
      this.tunnelDrain = null;
      t();
      return;
    }
    if (!this.done || this.finished) this.events?.clientDrained();
  }

  // ---- Downstream ----

  /** Frames go out once per turn of the event loop (the connection's flush). */
  flush(): void {}

  sendContinue(): void {
    if (!this.expectContinue || this.headersSent || this.done) return;
    this.conn.sendHeaders(this, 100, [], false);
  }

  sendInformational(status: number, fields: readonly string[]): void {
    if (this.headersSent || this.done) return;
    const flat: string[] = [];
    for (let i = 0; i < fields.length; i += 2) flat.push(fields[i]!.toLowerCase(), fields[i + 1]!);
    this.conn.sendHeaders(this, status, flat, false);
  }

  writeHead(head: OutHead): void {
    if (this.headersSent || this.done) return;
    // First, as it may throw (a field HTTP/2 cannot carry: the exchange answers 502 instead).
    const fields = responseFields(head);
    this.headersSent = true;
    // A head with no body (or a gRPC trailers-only answer) ends the stream in the same frame.
    const end = head.endStream === true || head.body.kind === 'none';
    this.conn.sendHeaders(this, head.status, fields, end);
    if (end) {
      this.done = true;
      this.localClosed = true;
      this.conn.localEnded(this);
    }
  }

  write(chunk: Buffer): boolean {
    if (this.done) return true;
    return this.send(chunk);
  }

  private send(chunk: Buffer): boolean {
    if (this.closed || this.endPending) return true;
    if (chunk.length > 0) {
      this.queue.push(chunk);
      this.queued += chunk.length;
      this.conn.schedule(this);
    }
    if (this.queued < STREAM_HIGH_WATER_BYTES && !this.conn.congested) return true;
    this.waitingDrain = true;
    return false;
  }

  end(trailers: Fields | null): void {
    if (this.finished) return;
    this.finished = true;
    if (this.done) return;
    this.done = true;
    if (trailers !== null && trailers.count > 0) {
      const t: string[] = [];
      for (let i = 0; i < trailers.count; i++) t.push(trailers.name(i).toLowerCase(), trailers.value(i));
      this.trailers = t;
    }
    this.finish();
  }

  private finish(): void {
    if (this.closed || this.endPending) return;
    this.endPending = true;
    this.conn.schedule(this);
  }

  abort(): void {
    if (this.done && this.tunnelDuplex === null) return;
    this.done = true;
    if (!this.closed) this.conn.resetStream(this, E_INTERNAL);
  }

  tunnel(): { readonly duplex: Duplex; readonly head: Buffer } {
    this.done = true;
    const t = new StreamTunnel(this);
    this.tunnelDuplex = t;
    const early = this.early ?? [];
    this.early = null;
    for (const c of early) t.push(c);
    if (this.remoteClosed) t.push(null);
    if (this.closed) t.destroy();
    return { duplex: t, head: Buffer.alloc(0) };
  }

  // ---- for the tunnel ----

  tunnelWrite(chunk: Buffer, cb: () => void): void {
    if (this.send(chunk)) cb();
    else this.tunnelDrain = cb;
  }

  tunnelEnd(): void {
    this.finish();
  }

  tunnelRead(): void {
    this.resumed();
  }

  tunnelDestroyed(): void {
    if (!this.closed) this.conn.resetStream(this, E_CANCEL);
  }
}

function hasName(flat: readonly string[], name: string): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) return true;
  return false;
}

/** The client's address on a connection (after a PROXY protocol header, if any). */
export function clientIpOf(socket: Socket): string {
  const proxied = (socket as Socket & { fulcrumClientIp?: string }).fulcrumClientIp;
  return proxied ?? unmapIPv4(socket.remoteAddress ?? '');
}
