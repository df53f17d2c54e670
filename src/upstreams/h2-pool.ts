/**
 * HTTP/2 to one target over one node:http2 client session (h2c with prior knowledge in cleartext,
 * ALPN `h2` over TLS), behind the same contract as the HTTP/1.1 pool (upstream-call.ts), so a try
 * cannot tell the two apart.
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
import { Buffer } from 'node:buffer';
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
import type { Clock, TimerHandle } from '../core/clock.ts';
import { type Fields, StringFields } from '../http1/fields.ts';
import { NO_BODY, UNTIL_CLOSE } from '../http1/message.ts';
import type { BodyChannel, BodyConsumer } from '../proxy/body-channel.ts';
import {
  type TargetPool,
  type UpstreamCall,
  UpstreamError,
  type UpstreamFailure,
  type UpstreamHandler,
  type UpstreamRequest,
} from './upstream-call.ts';

export interface H2PoolOptions {
  readonly secure: boolean;
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly rejectUnauthorized: boolean;
  readonly servername: string;
  readonly keepAliveMs: number;
  readonly clock: Clock;
}

/** Connection-level fields HTTP/2 forbids (RFC 9113 §8.2.2), should any reach here. */
const FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** Node's header object to a flat [name, value, ...] list without pseudo-headers. */
function fieldsOf(h: IncomingHttpHeaders): StringFields {
  const out: string[] = [];
  for (const name in h) {
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const v = h[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) out.push(name, item);
    else out.push(name, String(v));
  }
  return new StringFields(out);
}

export class H2Pool implements TargetPool {
  private readonly o: H2PoolOptions;
  get clock(): Clock {
    return this.o.clock;
  }
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
    const timer = o.clock.setTimer(o.connectTimeoutMs, connectTimedOut, session);
    session.once('connect', () => {
      o.clock.clearTimer(timer);
      connectedSessions.add(session);
    });
    session.once('close', () => {
      o.clock.clearTimer(timer);
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

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): UpstreamCall {
    if (this.closed) return failedCall(handler, new UpstreamError('closed', 'the pool is closed'));
    const session = this.open();
    const headers: OutgoingHttpHeaders = {
      [constants.HTTP2_HEADER_METHOD]: req.method,
      [constants.HTTP2_HEADER_PATH]: req.path,
      [constants.HTTP2_HEADER_SCHEME]: this.o.secure ? 'https' : 'http',
    };
    const h = req.fields!;
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
    const body = req.body;
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: body === null });
    } catch (err) {
      return failedCall(handler, new UpstreamError('reset', (err as Error).message));
    }
    return new H2Request(this, stream, handler, body, req);
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

/** A call that failed before it started. */
function failedCall(handler: UpstreamHandler, err: Error): UpstreamCall {
  handler.onError(err);
  return { resume() {}, abort() {}, passRaw() {}, bodyBytes: 0 };
}

function connectTimedOut(session: ClientHttp2Session): void {
  const e = new UpstreamError('connect-timeout', 'connect timeout');
  session.destroy(e);
}

/** One request on a stream: the handler's events in order, each at most once. */
class H2Request implements UpstreamCall, BodyConsumer {
  private readonly pool: H2Pool;
  private readonly stream: ClientHttp2Stream;
  private readonly handler: UpstreamHandler;
  private readonly body: BodyChannel | Buffer | null;
  private readonly readTimeoutMs: number;
  private readonly clock: Clock;
  private done = false;
  private responded = false;
  bodyBytes = 0;
  private trailers: Fields | null = null;
  private timer: TimerHandle | null = null;
  private lastRead = 0;
  private reading = true;

  constructor(
    pool: H2Pool,
    stream: ClientHttp2Stream,
    handler: UpstreamHandler,
    body: BodyChannel | Buffer | null,
    req: UpstreamRequest,
  ) {
    this.pool = pool;
    this.stream = stream;
    this.handler = handler;
    this.body = body;
    this.readTimeoutMs = req.readTimeoutMs;
    this.clock = pool.clock;
    pool.track(1);
    stream.on('error', (err: Error) => this.fail(this.streamError(err)));
    stream.on('close', () => this.onClose());
    stream.on('headers', () => {}); // 1xx heads: not relayed over HTTP/2 upstreams
    stream.once('response', (h: IncomingHttpHeaders, flags: number) => this.onResponse(h, flags));
    stream.on('trailers', (t: IncomingHttpHeaders) => {
      this.trailers = fieldsOf(t);
    });
    stream.on('end', () => this.onEnd());
    stream.on('drain', () => {
      if (this.body !== null && !Buffer.isBuffer(this.body)) this.body.resume();
    });
    this.touch();
    handler.onConnected();
    if (this.done) return;
    if (body === null) return;
    if (Buffer.isBuffer(body)) stream.end(body);
    else body.attach(this);
  }

  // ---- UpstreamCall ----

  resume(): void {
    if (this.done || this.reading) return;
    this.reading = true;
    this.touch();
    this.stream.resume();
  }

  abort(err?: Error): void {
    this.fail(err ?? new UpstreamError('aborted', 'request aborted'));
  }

  passRaw(): void {}

  // ---- BodyConsumer (the request body) ----

  data(chunk: Buffer): boolean {
    if (this.done) return false;
    return this.stream.write(chunk);
  }

  end(trailers: Fields | null): void {
    if (this.done) return;
    if (trailers !== null && trailers.count > 0) {
      const t: OutgoingHttpHeaders = {};
      for (let i = 0; i < trailers.count; i++) t[trailers.name(i)] = trailers.value(i);
      this.stream.once('wantTrailers', () => this.stream.sendTrailers(t));
    }
    this.stream.end();
  }

  error(): void {
    this.fail(new UpstreamError('aborted', 'the request body failed'));
  }

  // ---- the read timeout: one timer, re-armed lazily ----

  private touch(): void {
    this.lastRead = this.clock.monoMs();
    if (this.timer === null && this.readTimeoutMs > 0)
      this.timer = this.clock.setTimer(this.readTimeoutMs, h2ReadTimer, this);
  }

  tick(): void {
    this.timer = null;
    if (this.done || !this.reading) return;
    const idle = this.clock.monoMs() - this.lastRead;
    if (idle < this.readTimeoutMs) {
      this.timer = this.clock.setTimer(this.readTimeoutMs - idle, h2ReadTimer, this);
      return;
    }
    this.fail(
      new UpstreamError('timeout', this.responded ? 'body timeout' : 'headers timeout', '', this.responded),
    );
  }

  private streamError(err: Error): UpstreamError {
    if (err instanceof UpstreamError) return err;
    // A session that failed (ECONNREFUSED, a connect timeout) cancels its pending streams with
    // ERR_HTTP2_STREAM_CANCEL, the session's error as the cause: classify by the cause.
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof UpstreamError) return cause;
    const code =
      (cause instanceof Error ? (cause as { code?: string }).code : undefined) ??
      (err as { code?: string }).code ??
      '';
    const session = this.stream.session;
    const connected = session != null && connectedSessions.has(session);
    const failure: UpstreamFailure = !connected && !this.responded ? 'connect' : 'reset';
    return new UpstreamError(failure, err.message, code, this.responded);
  }

  private onResponse(h: IncomingHttpHeaders, flags: number): void {
    if (this.done) return;
    this.responded = true;
    this.touch();
    const status = Number(h[constants.HTTP2_HEADER_STATUS]);
    const fields = fieldsOf(h);
    // END_STREAM on the response's HEADERS: no body (a gRPC trailers-only answer).
    const ended = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    // The body is DATA frames until END_STREAM: no coding an HTTP/1.1 client could take as it came.
    const head = {
      status,
      reason: '',
      fields,
      framing: ended ? NO_BODY : UNTIL_CLOSE,
      minor: 1,
      named: null,
    };
    if (!this.handler.onHead(head)) this.pause();
    if (this.done) return;
    this.handler.onReadEnd();
    this.stream.on('data', (chunk: Buffer) => {
      if (this.done) return;
      this.lastRead = this.clock.monoMs();
      this.bodyBytes += chunk.length;
      if (!this.handler.onData(chunk)) this.pause();
      this.handler.onReadEnd();
    });
  }

  /** Backpressure: stop reading; the read timeout does not run while the client is the slow one. */
  private pause(): void {
    this.reading = false;
    this.stream.pause();
  }

  private onEnd(): void {
    if (this.done) return;
    if (!this.responded) {
      this.fail(new UpstreamError('reset', 'the target ended the stream without a response'));
      return;
    }
    this.finish();
    this.handler.onEnd(this.trailers);
  }

  private onClose(): void {
    if (this.done) return;
    // The session failed before connecting and the stream closed ahead of its error event: nothing
    // reached the target, a connect failure (retried as one), not a reset.
    const session = this.stream.session;
    if (!this.responded && session != null && !connectedSessions.has(session)) {
      this.fail(new UpstreamError('connect', 'could not connect to the target', 'ECONNREFUSED'));
      return;
    }
    const rst = this.stream.rstCode;
    const refused = rst === constants.NGHTTP2_REFUSED_STREAM;
    this.fail(
      new UpstreamError(
        'reset',
        `the target closed the stream (${refused ? 'REFUSED_STREAM' : `code ${rst}`})`,
        '',
        this.responded,
      ),
    );
  }

  private fail(err: UpstreamError | Error): void {
    if (this.done) return;
    this.finish();
    if (!this.stream.destroyed) this.stream.close(constants.NGHTTP2_CANCEL);
    if (this.body !== null && !Buffer.isBuffer(this.body)) this.body.detach(this);
    this.handler.onError(err);
  }

  private finish(): void {
    this.done = true;
    if (this.timer !== null) {
      this.clock.clearTimer(this.timer);
      this.timer = null;
    }
    this.pool.track(-1);
  }
}

function h2ReadTimer(r: H2Request): void {
  r.tick();
}
