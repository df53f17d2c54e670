/**
 * HTTP/2 to one target over one node:http2 client session (h2c with prior knowledge in cleartext,
 * ALPN `h2` over TLS), driving the same legacy dispatch-handler calls undici's Pool makes
 * (onConnect, onHeaders, onData, onComplete, onError), so an Attempt cannot tell the two apart.
 *
 * Why not undici's Pool with `allowH2`/`useH2c` (undici 7.30 has both): its HTTP/2 path completes
 * a request on the stream's 'trailers' event after dropping the 'data' listeners, so response bytes
 * still buffered in a stream paused for backpressure (a slow client of a gRPC stream) are lost; it
 * hands trailers over as an object rather than the raw list the handler contract promises; and it
 * does not send request trailers. Here completion waits for 'end', after every byte was delivered.
 *
 * One session per target carries every stream (streams beyond the target's
 * SETTINGS_MAX_CONCURRENT_STREAMS wait in nghttp2's queue). A session that fails, is refused, gets
 * GOAWAY or idles past the keep-alive timeout is dropped and the next request opens another.
 */
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type Http2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

/** The subset of undici's DispatchOptions the Exchange sends. */
export interface H2DispatchOptions {
  readonly path: string;
  readonly method: string;
  readonly headers: readonly string[];
  readonly body: Readable | Buffer | null;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
}

export interface H2PoolOptions {
  readonly secure: boolean;
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly rejectUnauthorized: boolean;
  readonly servername: string;
  readonly keepAliveMs: number;
}

/** An error carrying an undici-style or errno code, so proxy/errors.ts classifies it. */
function codeError(message: string, code: string): Error {
  const e = new Error(message) as Error & { code: string };
  e.code = code;
  return e;
}

/** Connection-level fields HTTP/2 forbids (RFC 9113 §8.2.2), should any reach here. */
const FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** Node's header object to the raw [name, value, ...] list undici hands a handler. */
function rawList(h: IncomingHttpHeaders): Buffer[] {
  const out: Buffer[] = [];
  for (const name in h) {
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const v = h[name];
    if (v === undefined) continue;
    const key = Buffer.from(name, 'latin1');
    if (Array.isArray(v)) for (const item of v) out.push(key, Buffer.from(item, 'latin1'));
    else out.push(key, Buffer.from(String(v), 'latin1'));
  }
  return out;
}

export class H2Pool {
  private readonly o: H2PoolOptions;
  private readonly origin: string;
  private session: ClientHttp2Session | null = null;
  private active = 0;
  private closed = false;

  constructor(o: H2PoolOptions) {
    this.o = o;
    const host = o.host.includes(':') ? `[${o.host}]` : o.host;
    this.origin = `${o.secure ? 'https' : 'http'}://${host}:${o.port}`;
  }

  /** The open session, or a new one. */
  private open(): ClientHttp2Session {
    const s = this.session;
    if (s !== null && !s.closed && !s.destroyed) return s;
    const o = this.o;
    const session = connect(this.origin, {
      ...(o.secure
        ? {
            // SNI carries names only (RFC 6066 §3); an IP target is verified against its IP SANs.
            ...(isIP(o.servername) === 0 ? { servername: o.servername } : {}),
            rejectUnauthorized: o.rejectUnauthorized,
            ALPNProtocols: ['h2'],
          }
        : {}),
      settings: { enablePush: false },
    });
    this.session = session;
    const timer = setTimeout(() => {
      session.destroy(codeError(`connect timeout after ${o.connectTimeoutMs} ms`, 'UND_ERR_CONNECT_TIMEOUT'));
    }, o.connectTimeoutMs);
    timer.unref();
    session.once('connect', () => {
      clearTimeout(timer);
      connectedSessions.add(session);
    });
    session.once('close', () => {
      clearTimeout(timer);
      if (this.session === session) this.session = null;
    });
    session.on('error', () => {});
    session.once('goaway', () => {
      if (this.session === session) this.session = null;
    });
    session.setTimeout(o.keepAliveMs, () => {
      if (this.active === 0 && this.session === session) {
        this.session = null;
        session.close();
      }
    });
    session.unref();
    return session;
  }

  dispatch(o: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const opts = o as unknown as H2DispatchOptions;
    if (this.closed) {
      handler.onError?.(codeError('the pool is closed', 'UND_ERR_CLOSED'));
      return false;
    }
    const session = this.open();
    const headers: OutgoingHttpHeaders = {
      [constants.HTTP2_HEADER_METHOD]: opts.method,
      [constants.HTTP2_HEADER_PATH]: opts.path,
      [constants.HTTP2_HEADER_SCHEME]: this.o.secure ? 'https' : 'http',
    };
    const h = opts.headers;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i]!.toLowerCase();
      const value = h[i + 1]!;
      if (name === 'host') headers[constants.HTTP2_HEADER_AUTHORITY] = value;
      else if (FORBIDDEN.has(name) || (name === 'te' && value !== 'trailers')) continue;
      else {
        const prev = headers[name];
        if (prev === undefined) headers[name] = value;
        else if (name === 'cookie') headers[name] = `${prev}; ${value}`;
        else headers[name] = Array.isArray(prev) ? [...prev, value] : [String(prev), value];
      }
    }
    const body = opts.body;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: body === null });
    } catch (err) {
      handler.onError?.(err as Error);
      return false;
    }
    new H2Request(this, stream, handler, body, opts);
    return true;
  }

  /** Called by each request as it starts and ends (the idle timer closes a session with none). */
  track(delta: 1 | -1): void {
    this.active += delta;
    const s = this.session;
    if (s === null) return;
    if (this.active === 0) s.unref();
    else if (delta === 1 && this.active === 1) s.ref();
  }

  close(): Promise<void> {
    this.closed = true;
    const s = this.session;
    this.session = null;
    if (s === null || s.closed) return Promise.resolve();
    return new Promise((resolve) => s.close(() => resolve()));
  }

  destroy(): Promise<void> {
    this.closed = true;
    const s = this.session;
    this.session = null;
    s?.destroy();
    return Promise.resolve();
  }
}

/** Sessions that completed their connection: a stream closing on one that never did reached nothing. */
const connectedSessions = new WeakSet<Http2Session>();

/** One request on a stream: the handler's calls in undici's order, each at most once where undici's are. */
class H2Request {
  private readonly pool: H2Pool;
  private readonly stream: ClientHttp2Stream;
  private readonly handler: Dispatcher.DispatchHandler;
  private readonly body: Readable | Buffer | null;
  private readonly bodyTimeoutMs: number;
  private done = false;
  private responded = false;
  private trailers: Buffer[] | null = null;

  constructor(
    pool: H2Pool,
    stream: ClientHttp2Stream,
    handler: Dispatcher.DispatchHandler,
    body: Readable | Buffer | null,
    opts: H2DispatchOptions,
  ) {
    this.pool = pool;
    this.stream = stream;
    this.handler = handler;
    this.body = body;
    this.bodyTimeoutMs = opts.bodyTimeout;
    pool.track(1);
    this.abort = this.abort.bind(this);
    stream.on('error', (err: Error) => this.fail(this.streamError(err)));
    stream.on('close', () => this.onClose());
    stream.on('headers', () => {}); // 1xx heads: not relayed over HTTP/2 upstreams
    stream.once('response', (h: IncomingHttpHeaders) => this.onResponse(h));
    stream.on('trailers', (t: IncomingHttpHeaders) => {
      this.trailers = rawList(t);
    });
    stream.on('end', () => this.onEnd());
    stream.setTimeout(opts.headersTimeout, () =>
      this.fail(
        this.responded
          ? codeError('body timeout', 'UND_ERR_BODY_TIMEOUT')
          : codeError('headers timeout', 'UND_ERR_HEADERS_TIMEOUT'),
      ),
    );
    handler.onConnect?.(this.abort);
    if (this.done) return;
    if (body === null) return;
    if (Buffer.isBuffer(body)) stream.end(body);
    else {
      body.on('error', (err: Error) => this.abort(err));
      body.pipe(stream);
    }
  }

  /** The handler gives the request up: reset the stream, report the error once. */
  abort(err?: Error): void {
    this.fail(err ?? codeError('request aborted', 'UND_ERR_ABORTED'));
  }

  private streamError(err: Error): Error {
    const code = (err as { code?: string }).code ?? '';
    // A session that failed (ECONNREFUSED, a connect timeout) cancels its pending streams with
    // ERR_HTTP2_STREAM_CANCEL, the session's error as the cause: classify by the cause.
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof Error && (cause as { code?: string }).code !== undefined) return cause;
    if (code.startsWith('ERR_HTTP2_')) return codeError(err.message, 'UND_ERR_SOCKET');
    return err;
  }

  private onResponse(h: IncomingHttpHeaders): void {
    if (this.done) return;
    this.responded = true;
    this.stream.setTimeout(this.bodyTimeoutMs);
    const status = Number(h[constants.HTTP2_HEADER_STATUS]);
    const resume = () => {
      if (!this.done) {
        this.stream.setTimeout(this.bodyTimeoutMs);
        this.stream.resume();
      }
    };
    if (this.handler.onHeaders?.(status, rawList(h), resume, '') === false) this.pause();
    if (this.done) return;
    this.stream.on('data', (chunk: Buffer) => {
      if (this.done) return;
      if (this.handler.onData?.(chunk) === false) this.pause();
    });
  }

  /** Backpressure: stop reading; the body timeout does not run while the client is the slow one. */
  private pause(): void {
    this.stream.pause();
    this.stream.setTimeout(0);
  }

  private onEnd(): void {
    if (this.done) return;
    if (!this.responded) {
      this.fail(codeError('the target ended the stream without a response', 'UND_ERR_SOCKET'));
      return;
    }
    this.finish();
    this.handler.onComplete?.(this.trailers as unknown as string[] | null);
  }

  private onClose(): void {
    if (this.done) return;
    // The session failed before connecting and the stream closed ahead of its error event: nothing
    // reached the target, a connect failure (retried as one), not a reset.
    const session = this.stream.session;
    if (!this.responded && session != null && !connectedSessions.has(session)) {
      this.fail(codeError('could not connect to the target', 'ECONNREFUSED'));
      return;
    }
    const rst = this.stream.rstCode;
    const refused = rst === constants.NGHTTP2_REFUSED_STREAM;
    this.fail(
      codeError(
        `the target closed the stream (${refused ? 'REFUSED_STREAM' : `code ${rst}`})`,
        'UND_ERR_SOCKET',
      ),
    );
  }

  private fail(err: Error): void {
    if (this.done) return;
    this.finish();
    if (!this.stream.destroyed) this.stream.close(constants.NGHTTP2_CANCEL);
    if (this.body !== null && !Buffer.isBuffer(this.body)) this.body.unpipe(this.stream);
    this.handler.onError?.(err);
  }

  private finish(): void {
    this.done = true;
    this.stream.setTimeout(0);
    this.pool.track(-1);
  }
}
