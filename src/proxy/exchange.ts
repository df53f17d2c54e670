/**
 * One proxied HTTP request: route, pick, dispatch to the target's pool, stream the response back.
 *
 * The Exchange is the undici dispatch handler itself (undici's onConnect/onHeaders/onData/
 * onComplete/onError interface, used directly: the newer controller-style API wraps it in two
 * more objects and parses headers into an object we would flatten again). Backpressure: onData
 * returns false when the client socket is full and `resume` is called on 'drain', so a slow
 * client never makes the proxy buffer a whole response.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Dispatcher } from 'undici';
import { ERRORS, type ErrorCode, errorBody, FulcrumError } from '../core/errors.ts';
import { noteRelayed } from '../core/memory.ts';
import { inCidrList, unmapIPv4 } from '../core/net.ts';
import { VERSION } from '../core/version.ts';
import { joinPath, normalizePath } from '../routing/path.ts';
import type { Generation, RouteRuntime, ServiceRuntime } from '../runtime/generation.ts';
import type { TargetState } from '../upstreams/target.ts';
import { BodyMeter } from './body.ts';
import type { ProxyCore } from './core.ts';
import { classifyUpstreamError, isRetryable } from './errors.ts';
import { hashKeyOf } from './hash-key.ts';
import { downstreamResponseHeaders, trailerPairs, upstreamRequestHeaders } from './headers.ts';
import { reportLoad } from './load-report.ts';

const SERVER = `fulcrum/${VERSION}`;
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export class Exchange implements Dispatcher.DispatchHandler {
  private readonly core: ProxyCore;
  private readonly gen: Generation;
  private readonly req: IncomingMessage;
  private readonly res: ServerResponse;
  private readonly startMs: number;
  private route: RouteRuntime | null = null;
  private service: ServiceRuntime | null = null;
  private target: TargetState | null = null;
  private tried: TargetState[] | null = null;
  private tries = 0;
  private path = '';
  private headers: string[] | null = null;
  private body: BodyMeter | null = null;
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private requestId = '';
  readonly clientIp: string;
  /** The hashing algorithms' key (PickContext), set before the first pick when the upstream hashes. */
  hashKey: string | null = null;
  /** A Set-Cookie value for `hash_on: cookie` when the request had no such cookie. */
  private hashCookie: string | null = null;
  /** A Set-Cookie value pinning the target (sticky cookie mode), written by the upstream's StickyRuntime. */
  stickyCookie: string | null = null;
  private dispatchMs = 0;
  private upstreamMs = -1;
  private bytesOut = 0;
  private status = 0;
  private errorCode: ErrorCode | null = null;
  private ended = false;
  private targetOpen = false;
  /** The client socket, watched while this response is queued behind another (see the constructor). */
  private queuedOn: Socket | null = null;

  constructor(core: ProxyCore, gen: Generation, req: IncomingMessage, res: ServerResponse) {
    this.core = core;
    this.gen = gen;
    this.req = req;
    this.res = res;
    this.startMs = core.clock.monoMs();
    this.clientIp = unmapIPv4(req.socket.remoteAddress ?? '');
    this.onClose = this.onClose.bind(this);
    this.onDrain = this.onDrain.bind(this);
    res.on('close', this.onClose);
    // A response queued behind another on a pipelined connection gets no 'close' when the socket
    // closes before its turn (Node watches the socket only for the response being written): watch
    // the socket too, or the exchange never ends and its in-flight counts leak.
    const socket = req.socket as Socket & { _httpMessage?: unknown };
    if (socket._httpMessage !== res) {
      this.queuedOn = socket;
      socket.setMaxListeners(socket.getMaxListeners() + 1);
      socket.once('close', this.onClose);
    }
  }

  /** Route the request and send it to a target. `expectContinue`: answer 100 once routed. */
  start(expectContinue: boolean): void {
    const req = this.req;
    const node = this.gen.snapshot.node;
    const ridHeader = node.headers.requestId;
    if (ridHeader !== '') {
      const given = req.headers[ridHeader];
      this.requestId =
        typeof given === 'string' && given.length > 0 && given.length <= 200 ? given : randomUUID();
    }
    const url = req.url ?? '/';
    if (url.length > node.limits.maxUriBytes) return this.fail('FULCRUM_ERR_URI_TOO_LONG', true);
    if (req.rawHeaders.length > node.limits.maxHeaders * 2)
      return this.fail('FULCRUM_ERR_HEADERS_TOO_LARGE', true);
    if (this.core.draining) this.res.shouldKeepAlive = false;
    let target = url;
    if (url.charCodeAt(0) !== 47 /* / */) {
      // absolute-form (RFC 9112 §3.2.2) is accepted; its authority replaces Host for routing.
      if (!/^https?:\/\//i.test(url)) return this.fail('FULCRUM_ERR_BAD_REQUEST', true);
      try {
        const u = new URL(url);
        req.headers.host = u.host;
        target = u.pathname + u.search;
      } catch {
        return this.fail('FULCRUM_ERR_BAD_REQUEST', true);
      }
    }
    const q = target.indexOf('?');
    const rawPath = q < 0 ? target : target.slice(0, q);
    const path = normalizePath(rawPath);
    if (path === null) return this.fail('FULCRUM_ERR_BAD_REQUEST', true);
    const host = (req.headers.host ?? '').toLowerCase();
    const m = this.gen.router.match({ method: req.method ?? 'GET', host, path, headers: req.headers });
    if (m === null) return this.fail('FULCRUM_ERR_NO_ROUTE', false);
    const route = m.route;
    this.route = route;
    if (route.disabled !== null || route.service === null)
      return this.fail('FULCRUM_ERR_ROUTE_DISABLED', false);
    const service = route.service;
    this.service = service;
    const spec = route.spec;
    const stripped = spec.stripPath ? m.matchedLength : 0;
    const query = q < 0 ? '' : target.slice(q);
    this.path = joinPath(service.spec.path, path, stripped, spec.pathHandling) + query;
    if (service.upstream.hashing) {
      const k = hashKeyOf(service.upstream.spec, {
        clientIp: this.clientIp,
        headers: req.headers,
        path,
        query,
        consumer: null,
      });
      this.hashKey = k.key;
      this.hashCookie = k.setCookie;
    }

    const limit = node.limits.maxBodyBytes;
    const cl = req.headers['content-length'];
    const chunked = req.headers['transfer-encoding'] !== undefined;
    if (limit > 0 && cl !== undefined && Number(cl) > limit)
      return this.fail('FULCRUM_ERR_PAYLOAD_TOO_LARGE', true);
    if (chunked || (cl !== undefined && cl !== '0')) {
      const body = new BodyMeter(limit);
      body.on('error', (err) => this.onBodyError(err));
      req.pipe(body);
      this.body = body;
    }

    let hostHeader: string;
    if (spec.preserveHost && req.headers.host) hostHeader = req.headers.host;
    else if (service.upstream.spec.hostHeader) hostHeader = service.upstream.spec.hostHeader;
    else {
      const s = service.spec;
      hostHeader =
        service.upstream.spec.implicit && s.port !== (s.protocol === 'https' ? 443 : 80)
          ? `${s.host}:${s.port}`
          : s.host;
    }
    const trusted = this.gen.trusted !== null && inCidrList(this.gen.trusted, this.clientIp);
    this.headers = upstreamRequestHeaders(req.headers, {
      host: hostHeader,
      clientIp: this.clientIp,
      trusted,
      proto: 'http',
      listenerPort: req.socket.localPort ?? 0,
      requestIdHeader: ridHeader,
      requestId: this.requestId,
      via: node.headers.via,
      forwarded: node.headers.forwarded,
    });
    if (expectContinue) this.res.writeContinue();
    this.dispatch();
  }

  /** Answer a request whose framing the listener refused, without routing it; the connection closes. */
  refuse(code: ErrorCode): void {
    this.fail(code, true);
  }

  private dispatch(): void {
    const service = this.service!;
    const u = service.upstream;
    const t =
      u.sticky === null
        ? u.picker.pick(this, this.tried)
        : u.sticky.pick(u.picker, this, this.req.headers.cookie, this.tried);
    if (t === null) return this.fail('FULCRUM_ERR_NO_HEALTHY_TARGET', false);
    const pool = service.pools.get(t)!;
    this.target = t;
    this.targetOpen = true;
    this.tries++;
    t.start();
    this.dispatchMs = this.core.clock.monoMs();
    const timeout = service.spec.readTimeoutMs;
    pool.dispatch(
      {
        path: this.path,
        method: this.req.method as Dispatcher.HttpMethod,
        headers: this.headers!,
        body: this.body,
        headersTimeout: timeout,
        bodyTimeout: timeout,
      },
      this,
    );
  }

  // ---- undici DispatchHandler (legacy interface, see the file comment) ----

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    this.body?.watchWrites(this.service!.spec.writeTimeoutMs);
    if (this.ended) abort();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    const res = this.res;
    if (this.ended) return false;
    if (statusCode < 200) {
      if (statusCode === 103) {
        const links: string[] = [];
        for (let i = 0; i < rawHeaders.length; i += 2)
          if (rawHeaders[i]!.toString('latin1').toLowerCase() === 'link')
            links.push(rawHeaders[i + 1]!.toString('latin1'));
        // Node refuses a Link value that is not `<uri>; params`: hints are optional, drop them.
        if (links.length > 0)
          try {
            res.writeEarlyHints({ link: links });
          } catch {}
      } else if (statusCode === 102) res.writeProcessing();
      return true;
    }
    const now = this.core.clock.monoMs();
    this.upstreamMs = now - this.dispatchMs;
    this.service!.upstream.headerLatency.observe(this.upstreamMs / 1000);
    this.target!.observeLatency(this.upstreamMs, now);
    const loadHeader = this.service!.upstream.loadHeader;
    if (loadHeader !== null) reportLoad(rawHeaders, loadHeader, this.target!, now);
    this.resumeUpstream = resume;
    this.status = statusCode;
    let contentLength = false;
    for (let i = 0; i < rawHeaders.length; i += 2)
      if (
        rawHeaders[i]!.length === 14 &&
        rawHeaders[i]!.toString('latin1').toLowerCase() === 'content-length'
      )
        contentLength = true;
    const { headers } = downstreamResponseHeaders(
      rawHeaders,
      this.gen.snapshot.node.headers.via,
      !contentLength,
    );
    if (this.hashCookie !== null) headers.push('set-cookie', this.hashCookie);
    if (this.stickyCookie !== null) headers.push('set-cookie', this.stickyCookie);
    if (this.core.draining) res.shouldKeepAlive = false;
    try {
      res.writeHead(statusCode, statusText || undefined, headers);
    } catch {
      // The target sent a header Node refuses to forward (an invalid value): that is a bad response.
      this.errorCode = 'FULCRUM_ERR_UPSTREAM_BAD_RESPONSE';
      this.abortUpstream?.(new FulcrumError('FULCRUM_ERR_UPSTREAM_BAD_RESPONSE'));
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.ended) return false;
    this.bytesOut += chunk.length;
    noteRelayed(chunk.length);
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.onDrain);
    return false;
  }

  onComplete(rawTrailers: string[] | Buffer[] | null): void {
    // Passive health checks see the status once the whole response arrived (one cut short is a tcp failure).
    if (this.targetOpen) this.core.reportOutcome(this.target!, this.status);
    this.closeTarget(true);
    if (this.ended) return;
    const t = trailerPairs(rawTrailers as Buffer[] | null);
    if (t !== null && this.res.chunkedEncoding) this.res.addTrailers(t);
    this.res.end();
  }

  onError(err: Error): void {
    const code = err instanceof FulcrumError ? err.code : classifyUpstreamError(err);
    const transport =
      code !== 'FULCRUM_ERR_PAYLOAD_TOO_LARGE' &&
      code !== 'FULCRUM_ERR_CLIENT_ABORTED' &&
      code !== 'FULCRUM_ERR_INTERNAL';
    // Passive health checks count transport failures by kind (Kong's tcp_failures and timeouts).
    if (transport && this.targetOpen)
      this.core.reportOutcome(this.target!, code === 'FULCRUM_ERR_UPSTREAM_TIMEOUT' ? 'timeout' : 'tcp');
    this.closeTarget(!transport);
    // Ended, or already answered locally (a body error such as 413 or a write timeout answers
    // first, then aborts the upstream try that lands here).
    if (this.ended || (this.res.writableEnded && this.errorCode !== null)) return;
    if (this.res.headersSent) {
      // Bytes of the response have reached the client: it can only learn of the failure by the
      // connection closing before the response is complete.
      this.errorCode = code;
      this.res.destroy();
      return;
    }
    if (
      isRetryable(err, code, this.body, this.req.method ?? 'GET', IDEMPOTENT) &&
      this.tries <= this.service!.spec.retries
    ) {
      if (this.tried === null) this.tried = [];
      this.tried.push(this.target!);
      this.core.metrics.errors.labels({ code }).inc();
      this.dispatch();
      return;
    }
    this.fail(code, this.body !== null);
  }

  // ---- helpers ----

  private closeTarget(ok: boolean): void {
    if (this.targetOpen) {
      this.targetOpen = false;
      this.target!.done(ok);
    }
  }

  private onDrain(): void {
    const r = this.resumeUpstream;
    if (r !== null) r();
  }

  private onBodyError(err: Error): void {
    const code = err instanceof FulcrumError ? err.code : 'FULCRUM_ERR_CLIENT_ABORTED';
    this.abortUpstream?.(err);
    if (!this.res.headersSent && !this.ended) this.fail(code, true);
  }

  /** Answer locally with a stable error code. `close`: the request framing cannot be trusted. */
  private fail(code: ErrorCode, close: boolean): void {
    this.errorCode = code;
    const res = this.res;
    if (res.headersSent || this.ended) return;
    const e = ERRORS[code];
    this.status = e.status;
    const body = errorBody(code, this.requestId || undefined);
    const headers: Record<string, string | number> = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    };
    if (this.gen.snapshot.node.headers.serverTokens) headers.server = SERVER;
    const rid = this.gen.snapshot.node.headers.requestId;
    if (rid !== '' && this.requestId) headers[rid] = this.requestId;
    if (close || this.core.draining) {
      headers.connection = 'close';
      res.shouldKeepAlive = false;
    }
    if (this.body !== null) this.req.unpipe(this.body);
    res.writeHead(e.status, headers);
    if (this.req.method !== 'HEAD') this.bytesOut = Buffer.byteLength(body);
    res.end(this.req.method === 'HEAD' ? undefined : body);
  }

  /** res 'close': the response is finished, or the client went away first. */
  private onClose(): void {
    if (this.ended) return;
    this.ended = true;
    const q = this.queuedOn;
    if (q !== null) {
      this.queuedOn = null;
      q.off('close', this.onClose);
      q.setMaxListeners(q.getMaxListeners() - 1);
    }
    const finished = this.res.writableFinished;
    if (!finished) {
      this.errorCode ??= 'FULCRUM_ERR_CLIENT_ABORTED';
      this.abortUpstream?.(new FulcrumError('FULCRUM_ERR_CLIENT_ABORTED'));
      if (this.targetOpen) this.closeTarget(true);
      if (this.body !== null) {
        this.req.unpipe(this.body);
        this.body.destroy();
      }
    }
    this.gen.inflight--;
    const now = this.core.clock.monoMs();
    // A response the proxy cut short (target failed mid-body) keeps the status it sent; 499 is for
    // a client that went away.
    const sent = this.res.headersSent && this.errorCode !== 'FULCRUM_ERR_CLIENT_ABORTED';
    const status = finished || sent ? this.status || this.res.statusCode : 499;
    const route = this.route;
    if (route !== null) {
      route.byClass[status >= 100 && status < 600 ? (status / 100) | 0 : 0]!.inc();
      route.duration.observe((now - this.startMs) / 1000);
    }
    if (this.errorCode !== null) this.core.metrics.errors.labels({ code: this.errorCode }).inc();
    this.core.accessLog({
      request_id: this.requestId,
      client_ip: this.clientIp,
      method: this.req.method ?? '',
      path: this.req.url ?? '',
      status,
      route: route?.label ?? null,
      service: route?.serviceLabel || null,
      target: this.target?.target ?? null,
      tries: this.tries,
      upstream_ms: this.upstreamMs < 0 ? null : Math.round(this.upstreamMs * 1000) / 1000,
      total_ms: Math.round((now - this.startMs) * 1000) / 1000,
      bytes_in: this.body?.bytes ?? 0,
      bytes_out: this.bytesOut,
      error: this.errorCode,
    });
    this.core.onExchangeEnd(this.gen);
  }
}
