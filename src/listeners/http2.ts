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

import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  createServer as createH2Server,
  type Http2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  type ServerHttp2Session,
} from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type TlsOptions } from 'node:tls';
import type { Http2Settings, ListenerSpec, NodeSpec } from '../config/types.ts';
import { isValidHostHeader } from '../core/net.ts';
import { Exchange } from '../proxy/exchange.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { guardSession } from './h2-guard.ts';
import { Http1Listener } from './http1.ts';
import { TlsTermination } from './tls-termination.ts';

/** The client connection preface starts with these bytes (RFC 9113 §3.4); no HTTP/1 method is `PRI`. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Bytes enough to tell the preface from an HTTP/1 request line (`PRI` vs `PROPFIND`, `POST`, ...). */
const SNIFF_BYTES = 4;

export const DEFAULT_HTTP2: Http2Settings = {
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
  private readonly h2: Http2Server;
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
    this.sniffTimeoutMs = node.timeouts.clientHeaderMs;
    this.maxHeaderListBytes = s.maxHeaderListBytes;
    // The HTTP/1.1 codec gets sockets already decrypted: it must not add TLS of its own.
    this.http1 = new Http1Listener({ ...spec, tls: null }, node, runtime);
    this.termination = tls instanceof TlsTermination ? tls : null;
    this.h2 = createH2Server({
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
    this.h2.on('session', (session: ServerHttp2Session) => this.onSession(session, s, node));
    this.h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) =>
      this.handle(req, res, false),
    );
    this.h2.on('checkContinue', (req: Http2ServerRequest, res: Http2ServerResponse) =>
      this.handle(req, res, true),
    );
    this.h2.on('connect', (req: Http2ServerRequest, res: Http2ServerResponse) =>
      this.handleConnect(req, res),
    );
    if (tls === null) {
      this.front = createNetServer({ noDelay: true }, (socket) => this.sniff(socket));
    } else {
      const options = tls instanceof TlsTermination ? tls.serverOptions() : tls;
      const server = createTlsServer({ ...options, ALPNProtocols: ['h2', 'http/1.1'] });
      if (tls instanceof TlsTermination)
        tls.attach(server as unknown as HttpsServer, runtime.logs.app, spec.name);
      server.on('secureConnection', (socket: TLSSocket) => {
        if (socket.alpnProtocol === 'h2') this.h2.emit('connection', socket);
        else this.http1.accept(socket);
      });
      server.on('tlsClientError', (_err: Error, socket: TLSSocket) => socket.destroy());
      this.front = server;
    }
  }

  /** Cleartext: read until the bytes say HTTP/2 preface or not, then hand the socket to that codec. */
  private sniff(socket: Socket): void {
    this.sniffing.add(socket);
    let seen: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), this.sniffTimeoutMs);
    timer.unref();
    const done = () => {
      clearTimeout(timer);
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
      socket.pause();
      socket.unshift(seen);
      if (looksLikePreface(seen)) this.h2.emit('connection', socket);
      else {
        // Node's HTTP/1 parser reads the socket's handle directly; the bytes already read reach
        // it as 'data' once the socket flows again.
        this.http1.accept(socket);
        socket.resume();
      }
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
      (reason) => {
        this.runtime.metrics.http2Abuse.labels({ listener: this.spec.name, reason }).inc();
        this.runtime.logs.app.warn({ listener: this.spec.name, reason }, 'http2 connection closed: abuse');
      },
    );
    // An idle connection (no frames either way) is closed gracefully after the keep-alive timeout.
    session.setTimeout(node.timeouts.keepaliveMs, () => session.close());
  }

  private handle(req: Http2ServerRequest, res: Http2ServerResponse, expectContinue: boolean): void {
    // HTTP/2 carries the host in :authority (RFC 9113 §8.3.1); the router and the header rules read
    // `host`. A request with both must agree with :authority, which wins.
    const authority = req.headers[':authority'];
    if (typeof authority === 'string') req.headers.host = authority;
    const gen = this.runtime.current;
    gen.inflight++;
    // Http2ServerRequest/Response present the same surface the Exchange uses (see docs/http2.md).
    const exchange = new Exchange(
      this.runtime,
      gen,
      req as unknown as import('node:http').IncomingMessage,
      res as unknown as ServerResponse,
    );
    const host = req.headers.host;
    if (req.method === 'CONNECT' || (typeof host === 'string' && !isValidHostHeader(host)))
      exchange.refuse('FULCRUM_ERR_BAD_REQUEST');
    else if (headerListBytes(req.rawHeaders) > this.maxHeaderListBytes)
      exchange.refuse('FULCRUM_ERR_HEADERS_TOO_LARGE');
    else exchange.start(expectContinue);
  }

  /**
   * Extended CONNECT (RFC 8441). `:protocol: websocket` becomes the HTTP/1.1 upgrade request a
   * target expects (GET, a fresh Sec-WebSocket-Key, version 13), routed and balanced like any
   * request; the Exchange answers 200 once the target switched protocols and tunnels the stream.
   * Plain CONNECT and other protocols are refused (400).
   */
  private handleConnect(req: Http2ServerRequest, res: Http2ServerResponse): void {
    const h = req.headers;
    const authority = h[':authority'];
    if (typeof authority === 'string') h.host = authority;
    const gen = this.runtime.current;
    gen.inflight++;
    const ws = h[':protocol'] === 'websocket';
    if (ws) {
      h[':method'] = 'GET';
      h['sec-websocket-key'] = randomBytes(16).toString('base64');
      h['sec-websocket-version'] ??= '13';
    }
    const exchange = new Exchange(
      this.runtime,
      gen,
      req as unknown as import('node:http').IncomingMessage,
      res as unknown as ServerResponse,
      ws ? Buffer.alloc(0) : null,
    );
    if (ws) return exchange.start(false);
    // A CONNECT stream stays open for a tunnel until the client ends it: close it with the answer.
    res.once('finish', () => res.stream.close());
    exchange.refuse('FULCRUM_ERR_BAD_REQUEST');
  }

  /** A reload kept this listener: new handshakes use the new certificates and TLS settings. */
  reconfigure(spec: ListenerSpec): void {
    if (this.termination !== null && spec.tls !== null) this.termination.update(spec.tls);
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.front.once('error', reject);
      this.front.listen({ host: this.spec.address, port: this.spec.port, backlog: 4096 }, () => {
        this.front.off('error', reject);
        resolve(this.front.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo | null {
    return this.front.address() as AddressInfo | null;
  }

  /** Stop accepting; every HTTP/2 connection gets a GOAWAY and closes once its streams end. */
  async stopAccepting(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.front.close(() => resolve()));
    for (const s of this.sniffing) s.destroy();
    for (const s of this.sessions) s.close();
    await Promise.all([closed, this.http1.stopAccepting()]);
  }

  closeIdle(): void {
    for (const s of this.sessions) s.close();
    this.http1.closeIdle();
  }

  destroyAll(): void {
    for (const s of this.sessions) s.destroy();
    for (const s of this.sniffing) s.destroy();
    this.http1.destroyAll();
  }

  get openConnections(): number {
    return this.sessions.size + this.sniffing.size + this.http1.openConnections;
  }
}
