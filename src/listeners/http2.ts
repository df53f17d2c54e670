/**
 * An HTTP/2 listener: cleartext with prior knowledge (`h2c`), or over TLS with ALPN when given TLS
 * options (the `secure` variant, which the https listener builds on). Every stream is handed to its
 * own Exchange, exactly as an HTTP/1.1 request is, so each stream is routed and balanced on its own:
 * many streams multiplexed on one client connection spread across targets (what an L4 balancer,
 * which pins the whole connection to one target, cannot do).
 *
 * One front server owns the port and decides per connection which codec gets the socket, as
 * Envoy's `codec_type: AUTO` does: over TLS by the ALPN the client chose (`h2`, else HTTP/1.1); in
 * cleartext by sniffing the first bytes for the HTTP/2 connection preface (`PRI * HTTP/2.0`). A
 * cleartext HTTP/1.1 client is therefore served by the HTTP/1.1 codec (Http1Listener, with all its
 * framing checks), not refused. Node's own `allowHTTP1` exists only on secure servers and would
 * bypass those checks, hence the front server.
 *
 * Defences (docs/http2.md): SETTINGS limits (concurrent streams, header list size, HPACK table),
 * Node/nghttp2's own flood limits, and the per-connection counters of h2-guard.ts (rapid reset,
 * SETTINGS/PING floods), which close only the offending connection.
 */

import { Buffer } from 'node:buffer';
import {
  createServer as createH2Server,
  type Http2Server,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import { DEFAULT_HTTP2_CODEC } from '../config/normalize-node.ts';
import type { Http2Settings, ListenerSpec, NodeSpec } from '../config/types.ts';
import type { TimerHandle } from '../core/clock.ts';
import { isValidHostHeader } from '../core/net.ts';
import { type AbuseReason, H2Connection } from '../http2/connection.ts';
import { E_INTERNAL } from '../http2/frames.ts';
import type { H2ServerStream } from '../http2/stream.ts';
import { Exchange } from '../proxy/exchange.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { CLEARTEXT, ListeningSockets } from './accept-group.ts';
import { guardSession } from './h2-guard.ts';
import { H2Stream } from './h2-stream.ts';
import { Http1Listener } from './http1.ts';
import { TlsTermination } from './tls-termination.ts';

/** The client connection preface starts with these bytes (RFC 9113 §3.4); no HTTP/1 method is `PRI`. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Bytes enough to tell the preface from an HTTP/1 request line (`PRI` vs `PROPFIND`, `POST`, ...). */
const SNIFF_BYTES = 4;

export const DEFAULT_HTTP2: Http2Settings = {
  codec: DEFAULT_HTTP2_CODEC,
  maxConcurrentStreams: 128,
  maxHeaderListBytes: 65536,
  headerTableBytes: 4096,
  initialWindowBytes: 65535,
  maxResets: 200,
  resetWindowMs: 10000,
  maxControlFrames: 200,
  controlWindowMs: 10000,
};

/** Whether the first bytes of a cleartext connection are the HTTP/2 preface (so far as they go). */
export function looksLikePreface(b: Buffer): boolean {
  const n = Math.min(b.length, PREFACE.length);
  return b.subarray(0, n).equals(PREFACE.subarray(0, n));
}

/**
 * A header list's size as SETTINGS_MAX_HEADER_LIST_SIZE counts it (RFC 9113 §6.5.2: name, value
 * and 32 octets per field). nghttp2 only advertises the setting; the listener enforces it.
 */
export function headerListBytes(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) n += raw[i]!.length + raw[i + 1]!.length + 32;
  return n;
}

export class Http2Listener {
  readonly spec: ListenerSpec;
  private readonly runtime: Runtime;
  private readonly front: NetServer;
  /** The sockets bound on the listener's port (accept-group.ts). */
  private readonly listening: ListeningSockets;
  /** node:http2's server, when the listener's codec is `node`. */
  private readonly h2: Http2Server | null;
  /** Connections of Fulcrum's own codec (src/http2/), when the codec is `fulcrum`. */
  private readonly conns = new Set<H2Connection>();
  private readonly settings: Http2Settings;
  private readonly node: NodeSpec;
  /** The HTTP/1.1 codec for clients that did not choose HTTP/2 (never bound itself). */
  private readonly http1: Http1Listener;
  private readonly sessions = new Set<ServerHttp2Session>();
  private readonly sniffing = new Set<Socket>();
  private readonly sniffTimeoutMs: number;
  private readonly maxHeaderListBytes: number;

  /** The certificates by SNI of an https listener with HTTP/2 (kept for live rotation), or null. */
  private readonly termination: TlsTermination | null;

  /**
   * `tls`: serve HTTPS, choosing the codec by ALPN (h2, http/1.1): an https listener's own TLS
   * (certificates by SNI, live rotation, mTLS), or plain TLS options (tests); null: cleartext h2c.
   */
  constructor(
    spec: ListenerSpec,
    node: NodeSpec,
    runtime: Runtime,
    tls: TlsOptions | TlsTermination | null = null,
  ) {
    this.spec = spec;
    this.runtime = runtime;
    const s = spec.http2 ?? DEFAULT_HTTP2;
    this.settings = s;
    this.node = node;
    this.sniffTimeoutMs = node.timeouts.clientHeaderMs;
    this.maxHeaderListBytes = s.maxHeaderListBytes;
    // The HTTP/1.1 codec gets sockets already decrypted: it must not add TLS of its own.
    this.http1 = new Http1Listener({ ...spec, tls: null }, node, runtime);
    this.termination = tls instanceof TlsTermination ? tls : null;
    this.h2 = s.codec === 'fulcrum' ? null : this.nodeServer(s, node);
    if (tls === null) {
      this.front = createNetServer(CLEARTEXT, (socket) => this.sniff(socket));
      this.listening = new ListeningSockets(this.front, CLEARTEXT);
    } else {
      const options = tls instanceof TlsTermination ? tls.serverOptions() : tls;
      const server = createTlsServer({ ...options, ALPNProtocols: ['h2', 'http/1.1'], allowHalfOpen: true });
      if (tls instanceof TlsTermination) tls.attach(server, runtime.logs.app, spec.name);
      server.on('secureConnection', (socket: TLSSocket) => {
        if (socket.alpnProtocol === 'h2') this.acceptH2(socket, null);
        else this.http1.accept(socket, null);
      });
      server.on('tlsClientError', (_err: Error, socket: TLSSocket) => socket.destroy());
      this.front = server;
      this.listening = new ListeningSockets(server, { allowHalfOpen: true });
    }
  }

  /** node:http2's server (codec `node`): it is handed sockets, it never binds. */
  private nodeServer(s: Http2Settings, node: NodeSpec): Http2Server {
    const h2 = createH2Server({
      settings: {
        maxConcurrentStreams: s.maxConcurrentStreams,
        maxHeaderListSize: s.maxHeaderListBytes,
        headerTableSize: s.headerTableBytes,
        initialWindowSize: s.initialWindowBytes,
        enablePush: false,
        // RFC 8441: clients may open WebSockets with extended CONNECT (`:protocol: websocket`).
        enableConnectProtocol: true,
      },
      // Header fields per request (pseudo-headers included): the Exchange answers 431 past the
      // node's max_headers; past this Node resets the stream.
      maxHeaderListPairs: node.limits.maxHeaders + 8,
      // The HPACK table the peer may make us keep for its headers.
      maxDeflateDynamicTableSize: s.headerTableBytes,
      // Settings entries accepted in one SETTINGS frame (Node's default, stated).
      maxSettings: 32,
    });
    h2.on('session', (session: ServerHttp2Session) => this.onSession(session, s, node));
    // The stream API (no 'request' listener: Node then builds no compatibility objects).
    h2.on('stream', (stream: ServerHttp2Stream, _h: unknown, _f: number, raw: string[]) =>
      this.onStream(stream, raw),
    );
    return h2;
  }

  /** A connection that speaks HTTP/2 (`head`: what the sniff already read of it). */
  private acceptH2(socket: Socket, head: Buffer | null): void {
    if (this.h2 !== null) {
      if (head !== null) {
        socket.pause();
        socket.unshift(head);
      }
      this.h2.emit('connection', socket);
      return;
    }
    const conn = new H2Connection(
      socket,
      {
        settings: this.settings,
        maxHeaderPairs: this.node.limits.maxHeaders + 8,
        keepaliveMs: this.node.timeouts.keepaliveMs,
        clock: this.runtime.ioClock,
        onStream: (st) => this.onOwnStream(st),
        onAbuse: (reason) => this.reportAbuse(reason),
        onClose: (c) => {
          if (this.conns.delete(c)) this.runtime.connections--;
        },
      },
      head,
    );
    if (conn.dead && socket.destroyed) return;
    this.conns.add(conn);
    this.runtime.connections++;
  }

  private reportAbuse(reason: AbuseReason): void {
    this.runtime.metrics.http2Abuse.labels({ listener: this.spec.name, reason }).inc();
    this.runtime.logs.app.warn({ listener: this.spec.name, reason }, 'http2 connection closed: abuse');
  }

  /** One stream of the own codec: to an Exchange, like a node:http2 stream (serveStream). */
  private onOwnStream(st: H2ServerStream): void {
    try {
      const ex = new Exchange(this.runtime, this.runtime.current, st);
      if (st.plainConnect) return ex.refuse('FULCRUM_ERR_BAD_REQUEST');
      if (st.host !== '' && !isValidHostHeader(st.host)) return ex.refuse('FULCRUM_ERR_BAD_REQUEST');
      if (st.listBytes > this.maxHeaderListBytes) return ex.refuse('FULCRUM_ERR_HEADERS_TOO_LARGE');
      ex.start();
    } catch (err) {
      // A bug must cost this stream, never the process.
      this.runtime.logs.app.error(
        { err, listener: this.spec.name },
        'internal error on an HTTP/2 stream: reset',
      );
      st.conn.resetStream(st, E_INTERNAL);
    }
  }

  /** Cleartext: read until the bytes say HTTP/2 preface or not, then hand the socket to that codec. */
  private sniff(socket: Socket): void {
    this.sniffing.add(socket);
    let seen: Buffer = Buffer.alloc(0);
    const clock = this.runtime.ioClock;
    const timer: TimerHandle = clock.setTimer(this.sniffTimeoutMs, destroySocket, socket);
    const done = () => {
      clock.clearTimer(timer);
      this.sniffing.delete(socket);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    const onError = () => socket.destroy();
    const onClose = () => done();
    const onData = (chunk: Buffer) => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      if (seen.length < SNIFF_BYTES && looksLikePreface(seen)) return;
      done();
      if (looksLikePreface(seen)) this.acceptH2(socket, seen);
      else this.http1.accept(socket, seen);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  }

  private onSession(session: ServerHttp2Session, s: Http2Settings, node: NodeSpec): void {
    this.sessions.add(session);
    this.runtime.connections++;
    session.once('close', () => {
      this.sessions.delete(session);
      this.runtime.connections--;
    });
    session.on('error', () => {});
    guardSession(
      session,
      s,
      () => this.runtime.clock.monoMs(),
      (reason) => this.reportAbuse(reason),
    );
    // An idle connection (no frames either way) is closed gracefully after the keep-alive timeout,
    // and destroyed when it is idle for as long again: a stream that holds the graceful close open
    // while nothing moves (a response waiting for a window a gone client will never open) would
    // keep the connection and its descriptor for ever (found by fuzz-http2).
    const idle = () => {
      if (session.closed) return session.destroy();
      session.close();
      session.setTimeout(node.timeouts.keepaliveMs, idle);
    };
    session.setTimeout(node.timeouts.keepaliveMs, idle);
  }

  /** One stream: its request goes to an Exchange, like an HTTP/1.1 request; each is balanced on its own. */
  private onStream(stream: ServerHttp2Stream, raw: string[]): void {
    // Before anything that could throw: Node announces a stream one tick after nghttp2 opened it,
    // and nghttp2 may have reset it meanwhile (a flow-control error, h2spec 6.9.1/2): the stream
    // then arrives destroyed with its error still to be emitted, which unhandled ends the process.
    stream.on('error', ignoreError);
    if (stream.destroyed) return;
    try {
      this.serveStream(stream, raw);
    } catch (err) {
      // A bug must cost this stream, never the process.
      this.runtime.logs.app.error(
        { err, listener: this.spec.name },
        'internal error on an HTTP/2 stream: reset',
      );
      if (!stream.destroyed) stream.close(0x2);
    }
  }

  private serveStream(stream: ServerHttp2Stream, raw: string[]): void {
    const down = new H2Stream(stream, raw);
    const ex = new Exchange(this.runtime, this.runtime.current, down);
    if (H2Stream.isPlainConnect(raw)) return ex.refuse('FULCRUM_ERR_BAD_REQUEST');
    if (down.host !== '' && !isValidHostHeader(down.host)) return ex.refuse('FULCRUM_ERR_BAD_REQUEST');
    if (headerListBytes(raw) > this.maxHeaderListBytes) return ex.refuse('FULCRUM_ERR_HEADERS_TOO_LARGE');
    ex.start();
  }

  /** A reload kept this listener: new handshakes use the new certificates and TLS settings. */
  reconfigure(spec: ListenerSpec): void {
    if (this.termination !== null && spec.tls !== null) this.termination.update(spec.tls);
  }

  listen(): Promise<AddressInfo> {
    return this.listening.listen(this.spec.address, this.spec.port, this.node.acceptSockets);
  }

  address(): AddressInfo | null {
    return this.listening.address();
  }

  /** Stop accepting; every HTTP/2 connection gets a GOAWAY and closes once its streams end. */
  async stopAccepting(): Promise<void> {
    const closed = this.listening.close();
    for (const s of this.sniffing) s.destroy();
    for (const s of this.sessions) s.close();
    for (const c of this.conns) c.close();
    await Promise.all([closed, this.http1.stopAccepting()]);
  }

  closeIdle(): void {
    for (const s of this.sessions) s.close();
    for (const c of this.conns) c.close();
    this.http1.closeIdle();
  }

  destroyAll(): void {
    for (const s of this.sessions) s.destroy();
    for (const c of [...this.conns]) c.destroy();
    for (const s of this.sniffing) s.destroy();
    this.http1.destroyAll();
  }

  get openConnections(): number {
    return this.sessions.size + this.conns.size + this.sniffing.size + this.http1.openConnections;
  }
}

/** An HTTP/2 stream's errors are its own end (the Exchange learns of it from 'close'). */
function ignoreError(): void {}

function destroySocket(s: Socket): void {
  s.destroy();
}
