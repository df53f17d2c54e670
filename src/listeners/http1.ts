/**
 * An HTTP/1.1 listener on Node's http server (llhttp, strict mode: a request with both
 * Content-Length and Transfer-Encoding, differing Content-Lengths, a bad chunk size or a CR/LF/NUL
 * in a header is a parse error, answered 400 and closed, never forwarded).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ListenerSpec, NodeSpec } from '../config/types.ts';
import type { ErrorCode } from '../core/errors.ts';
import { ERRORS, errorBody } from '../core/errors.ts';
import { Exchange } from '../proxy/exchange.ts';
import type { Runtime } from '../runtime/runtime.ts';

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

  constructor(spec: ListenerSpec, node: NodeSpec, runtime: Runtime) {
    this.spec = spec;
    this.runtime = runtime;
    const t = node.timeouts;
    this.server = createServer({
      maxHeaderSize: node.limits.maxHeaderBytes,
      headersTimeout: t.clientHeaderMs,
      requestTimeout: t.clientRequestMs,
      keepAliveTimeout: t.keepaliveMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(t.clientHeaderMs / 4))),
      requireHostHeader: true,
      insecureHTTPParser: false,
      noDelay: true,
    });
    this.server.on('request', (req: IncomingMessage, res: ServerResponse) => this.handle(req, res, false));
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) =>
      this.handle(req, res, true),
    );
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) =>
      this.onClientError(err, socket),
    );
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      runtime.connections++;
      s.once('close', () => {
        this.sockets.delete(s);
        runtime.connections--;
      });
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse, expectContinue: boolean): void {
    const gen = this.runtime.current;
    gen.inflight++;
    new Exchange(this.runtime, gen, req, res).start(expectContinue);
  }

  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const code = clientErrorCode(err);
    this.runtime.logs.app.debug(
      { err: err.message, code: err.code, listener: this.spec.name },
      'client error',
    );
    if (
      code === null ||
      !socket.writable ||
      (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent
    ) {
      socket.destroy();
      return;
    }
    this.runtime.metrics.errors.labels({ code }).inc();
    const e = ERRORS[code];
    const body = errorBody(code, undefined);
    socket.end(
      `HTTP/1.1 ${e.status} ${e.message}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
    socket.destroySoon();
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.spec.address, port: this.spec.port, backlog: 4096 }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  /** Stop accepting; idle keep-alive connections close now, busy ones after their response. */
  stopAccepting(): Promise<void> {
    return new Promise((resolve) => {
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
