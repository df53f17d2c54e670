/**
 * An HTTP/1.1 listener on Node's http server (llhttp, strict mode: a request with both
 * Content-Length and Transfer-Encoding, differing Content-Lengths, a bad chunk size or a CR/LF/NUL
 * in a header is a parse error, answered 400 and closed, never forwarded).
 *
 * llhttp lets a few things through that a proxy must not forward; `requestFramingError` refuses
 * them before routing: an HTTP/0.9 request line, a Transfer-Encoding other than exactly `chunked`
 * (`gzip, chunked` would be re-framed with the coding silently dropped), Transfer-Encoding on
 * HTTP/1.0 (RFC 9112 §6.1), and a missing or repeated Host (RFC 9112 §3.2; Node's own check
 * answers without our JSON body), and a Host that is not `host[:port]` (nginx answers 400 too).
 * A request pipelined behind a response that closes the
 * connection is never forwarded: it would never be answered.
 */
import { createServer, type IncomingMessage, type Server, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { ListenerSpec, NodeSpec } from '../config/types.ts';
import type { ErrorCode } from '../core/errors.ts';
import { ERRORS, errorBody } from '../core/errors.ts';
import { inCidrList, isValidHostHeader, unmapIPv4 } from '../core/net.ts';
import { Exchange } from '../proxy/exchange.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { preread } from './preread.ts';
import { TlsTermination } from './tls-termination.ts';

/** A socket whose client address came from a PROXY protocol header. */
export type ProxiedSocket = Socket & { fulcrumClientIp?: string };

/** A client socket; `fulcrumLast` is the response to the latest request parsed on it. */
type ClientSocket = Socket & {
  _httpMessage?: ServerResponse | null;
  fulcrumLast: ServerResponse | null;
};

/** Whether a response ends its connection (we set shouldKeepAlive; a `connection: close` sets _last). */
function closesConnection(res: ServerResponse): boolean {
  return !res.shouldKeepAlive || (res as ServerResponse & { _last?: boolean })._last === true;
}

/** Run `fn` once every byte of `res` has been handed to the socket. */
function afterResponse(res: ServerResponse, fn: () => void): void {
  if (res.writableFinished) fn();
  else res.once('finish', fn);
}

/** A reason to refuse a request head llhttp accepted, or null (see the file comment). */
export function requestFramingError(req: IncomingMessage): ErrorCode | null {
  if (req.httpVersionMajor !== 1) return 'FULCRUM_ERR_BAD_REQUEST';
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && (req.httpVersionMinor === 0 || te.toLowerCase() !== 'chunked'))
    return 'FULCRUM_ERR_BAD_REQUEST';
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') hosts++;
  }
  if (hosts > 1 || (hosts === 0 && req.httpVersionMinor === 1)) return 'FULCRUM_ERR_BAD_REQUEST';
  const host = req.headers.host;
  if (host !== undefined && !isValidHostHeader(host)) return 'FULCRUM_ERR_BAD_REQUEST';
  return null;
}

function clientErrorCode(err: NodeJS.ErrnoException): ErrorCode | null {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'FULCRUM_ERR_HEADERS_TOO_LARGE';
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADERS_TIMEOUT':
      return 'FULCRUM_ERR_REQUEST_TIMEOUT';
    case 'ECONNRESET':
    case 'EPIPE':
      return null;
    default:
      return 'FULCRUM_ERR_BAD_REQUEST';
  }
}

export class Http1Listener {
  readonly spec: ListenerSpec;
  private readonly server: Server;
  private readonly runtime: Runtime;
  private readonly sockets = new Set<Socket>();
  /** TLS termination on https listeners, else null. */
  private readonly tls: TlsTermination | null;
  /** Whether connection tracking was started for sockets handed over by accept(). */
  private tracking = false;
  /** The plain TCP server that reads PROXY protocol headers (proxy_protocol listeners), else null. */
  private front: NetServer | null = null;

  constructor(spec: ListenerSpec, node: NodeSpec, runtime: Runtime) {
    this.spec = spec;
    this.runtime = runtime;
    const t = node.timeouts;
    const options = {
      maxHeaderSize: node.limits.maxHeaderBytes,
      headersTimeout: t.clientHeaderMs,
      requestTimeout: t.clientRequestMs,
      keepAliveTimeout: t.keepaliveMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(t.clientHeaderMs / 4))),
      // Checked in requestFramingError, to answer with our JSON error body.
      requireHostHeader: false,
      insecureHTTPParser: false,
      noDelay: true,
    };
    this.tls = spec.tls === null ? null : new TlsTermination(spec.tls, t.clientHeaderMs);
    // https.Server speaks the same 'request'/'upgrade'/... events as http.Server (typed apart).
    this.server =
      this.tls === null
        ? createServer(options)
        : (createHttpsServer({ ...options, ...this.tls.serverOptions() }) as unknown as Server);
    if (this.tls !== null) {
      const https = this.server as unknown as HttpsServer;
      this.tls.attach(https, runtime.logs.app, spec.name);
      // Requests arrive on the TLS socket, not on the raw one 'connection' saw.
      https.on('secureConnection', (s: Socket) => {
        (s as ClientSocket).fulcrumLast = null;
      });
    }
    // Node silently drops header fields past maxHeadersCount; keep one more than the limit so the
    // over-limit check in the Exchange sees the excess.
    this.server.maxHeadersCount = node.limits.maxHeaders + 1;
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res, false));
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) =>
      this.handle(req, res, true),
    );
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) =>
      this.onClientError(err, socket),
    );
    // CONNECT (an authority-form target) is not tunnelled. Without a listener Node closes the
    // socket without a word; answer it like any target that is neither origin-form nor absolute:
    // 400, connection closed (nginx answers 405). Node has detached its parser and its socket
    // 'error' listener by now, so one is added back.
    this.server.on('connect', (_req: IncomingMessage, socket: Socket) => {
      socket.on('error', () => socket.destroy());
      const err: NodeJS.ErrnoException = new Error('CONNECT is not supported');
      err.code = 'FULCRUM_CONNECT_METHOD';
      this.onClientError(err, socket);
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.handleUpgrade(req, socket, head),
    );
    this.server.on('connection', (s: Socket) => {
      (s as ClientSocket).fulcrumLast = null;
      this.sockets.add(s);
      runtime.connections++;
      s.once('close', () => {
        this.sockets.delete(s);
        runtime.connections--;
      });
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse, expectContinue: boolean): void {
    const socket = req.socket as ClientSocket;
    const prev = socket.fulcrumLast;
    // Pipelined behind a response that closes the connection (or after it closed): its answer
    // would never be written, and its framing may be the tail of a refused request. Drop it.
    if (!socket.writable || (prev !== null && closesConnection(prev))) return;
    socket.fulcrumLast = res;
    const gen = this.runtime.current;
    gen.inflight++;
    const exchange = new Exchange(this.runtime, gen, req, res);
    const refused = requestFramingError(req);
    if (refused === null) exchange.start(expectContinue);
    else exchange.refuse(refused);
  }

  /**
   * A request with `Connection: upgrade` (Node hands the socket over, parser detached). A WebSocket
   * upgrade is routed and balanced like any request and, once the target answers 101, tunnelled
   * (exchange.ts, tunnel.ts). Any other upgrade (h2c, say) is served as a plain request with the
   * Upgrade dropped, as RFC 9110 §7.8 allows. Either way the connection ends with this exchange:
   * the response object is attached to the socket by hand, as Node's server does, marked to close.
   */
  private handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    // Node's server closes a non-keep-alive socket after its response; this one is ours to close
    // (a tunnel detaches the response first, so it never finishes).
    res.once('finish', () => socket.destroySoon());
    const gen = this.runtime.current;
    gen.inflight++;
    const ws = (req.headers.upgrade ?? '').toLowerCase() === 'websocket' && req.method === 'GET';
    const exchange = new Exchange(this.runtime, gen, req, res, ws ? head : null);
    const refused = requestFramingError(req);
    if (refused === null) exchange.start(false);
    else exchange.refuse(refused);
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const code = clientErrorCode(err);
    this.runtime.logs.app.debug(
      { err: err.message, code: err.code, listener: this.spec.name },
      'client error',
    );
    if (code === null || !socket.writable) {
      socket.destroy();
      return;
    }
    // Never write our error ahead of (or into) a response to an earlier request on this socket.
    const last = (socket as ClientSocket).fulcrumLast;
    if (last === null) return this.writeClientError(socket, code);
    const closing = closesConnection(last);
    if (!last.req.complete) {
      // The bad bytes are in the body of the latest request: answer it with the error, unless its
      // response has begun (then the client can only learn of it by the connection closing).
      if (last.headersSent) {
        if (!closing) socket.destroy();
        return;
      }
      const active = (socket as ClientSocket)._httpMessage;
      if (active == null || active === last) return this.writeClientError(socket, code);
      return afterResponse(active, () => this.writeClientError(socket, code));
    }
    // The bad bytes are a later pipelined request: answer it after the latest response, unless
    // that one closes the connection anyway.
    if (!closing) afterResponse(last, () => this.writeClientError(socket, code));
  }

  private writeClientError(socket: Socket, code: ErrorCode): void {
    // Deferred behind a response that ended the socket: it is closing with that response's bytes.
    if (!socket.writable) return;
    this.runtime.metrics.errors.labels({ code }).inc();
    const e = ERRORS[code];
    const body = errorBody(code, undefined);
    socket.end(
      `HTTP/1.1 ${e.status} ${e.message}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    socket.destroySoon();
  }

  /** A reload kept this listener: new handshakes use the new certificates and TLS settings. */
  reconfigure(spec: ListenerSpec): void {
    if (this.tls !== null && spec.tls !== null) this.tls.update(spec.tls);
  }

  /**
   * Serve a connection another listener accepted (an h2c or https listener whose client chose
   * HTTP/1.1); this listener's own server need not be bound.
   */
  accept(socket: Socket): void {
    // Node starts tracking connections (idle close, headers and request timeouts) on 'listening',
    // which a server that never binds does not see.
    if (!this.server.listening && !this.tracking) {
      this.tracking = true;
      this.server.emit('listening');
    }
    this.server.emit('connection', socket);
  }

  listen(): Promise<AddressInfo> {
    // With the PROXY protocol, a plain TCP server takes the connections, reads the header, and
    // hands each socket to the HTTP server (which then never binds itself).
    if (this.spec.proxyProtocol && this.front === null)
      this.front = createNetServer({ noDelay: true }, (s) => this.acceptProxied(s));
    const bound: NetServer = this.front ?? this.server;
    return new Promise((resolve, reject) => {
      bound.once('error', reject);
      bound.listen({ host: this.spec.address, port: this.spec.port, backlog: 4096 }, () => {
        bound.off('error', reject);
        resolve(bound.address() as AddressInfo);
      });
    });
  }

  /**
   * `proxy_protocol: true` (HAProxy's `accept-proxy`): only peers in `trusted_ips` may connect;
   * each connection starts with a PROXY v1 or v2 header whose source address becomes the client's
   * address (logs, X-Forwarded-For, hashing, ip-restriction), then carries HTTP as usual.
   */
  private acceptProxied(s: Socket): void {
    const peer = unmapIPv4(s.remoteAddress ?? '');
    const trusted = this.runtime.current.trusted;
    if (trusted === null || !inCidrList(trusted, peer)) {
      this.runtime.logs.app.warn(
        { listener: this.spec.name, peer },
        'PROXY protocol connection from a peer not in trusted_ips: closed',
      );
      s.destroy();
      return;
    }
    s.on('error', () => s.destroy());
    preread(
      s,
      { proxy: true, hello: false, timeoutMs: this.runtime.current.snapshot.node.timeouts.clientHeaderMs },
      (err, r) => {
        if (err !== null || r === null) {
          this.runtime.logs.app.info(
            { listener: this.spec.name, peer, err },
            'PROXY protocol header refused',
          );
          s.destroy();
          return;
        }
        const p = r.proxy;
        if (p !== null && p.command === 'proxy' && p.family !== 'unknown')
          (s as ProxiedSocket).fulcrumClientIp = unmapIPv4(p.sourceIp);
        s.pause();
        if (r.head.length > 0) s.unshift(r.head);
        this.accept(s);
        s.resume();
      },
    );
  }

  address(): AddressInfo | null {
    return (this.front ?? this.server).address() as AddressInfo | null;
  }

  /** Stop accepting; idle keep-alive connections close now, busy ones after their response. */
  stopAccepting(): Promise<void> {
    const front = this.front;
    return new Promise((resolve) => {
      if (front !== null) {
        front.close();
        // Never bound itself: close() would fail; its connections still drain as they finish.
        this.server.closeIdleConnections();
        const check = setInterval(() => {
          if (this.sockets.size === 0) {
            clearInterval(check);
            resolve();
          }
        }, 50);
        check.unref();
        return;
      }
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  closeIdle(): void {
    this.server.closeIdleConnections();
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  get openConnections(): number {
    return this.sockets.size;
  }
}
