/**
 * One proxied HTTP request, on the client's side: route it, run its plugins, build the request the
 * targets get, and relay the winning try's response back. The tries themselves (picking, retries,
 * timeouts, hedging, circuit breakers) are the base class's (tries.ts); each try is its own undici
 * dispatch handler (attempt.ts, undici's onConnect/onHeaders/onData/onComplete/onError interface,
 * used directly: the controller-style API wraps it in two more objects and parses headers into an
 * object we would flatten again). Backpressure: attemptData returns false when the client socket
 * is full and `resume` is called on 'drain', so a slow client never makes the proxy buffer a whole
 * response.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { ERRORS, type ErrorCode, FulcrumError } from '../core/errors.ts';
import { noteRelayed } from '../core/memory.ts';
import { inCidrList, unmapIPv4 } from '../core/net.ts';
import { PluginRun } from '../plugins/chain.ts';
import { sendLocalReply } from '../plugins/reply.ts';
import { isWait, type LocalReply, type Wait } from '../plugins/types.ts';
import { joinPath, parseRequestTarget } from '../routing/path.ts';
import type { RouteMatch } from '../routing/router.ts';
import type { Generation, RouteRuntime } from '../runtime/generation.ts';
import type { Attempt, AttemptOwner } from './attempt.ts';
import { BodyMeter } from './body.ts';
import { bufferedBodyStream } from './buffered-body.ts';
import { type ClientCertIdentity, clientCertOf, withClientCertHeaders } from './client-cert.ts';
import type { ProxyCore } from './core.ts';
import { classifyUpstreamError, retryKind } from './errors.ts';
import { grpcTimeoutMs, isGrpcRequest, sendGrpcError, trailerObject, writeHeadH2 } from './grpc.ts';
import { hashKeyOf } from './hash-key.ts';
import {
  downstreamResponseHeaders,
  hasContentLength,
  relayInformational,
  switchingProtocolsHead,
  trailerPairs,
  upstreamHost,
  upstreamRequestHeaders,
} from './headers.ts';
import { reportLoad } from './load-report.ts';
import { sendError, sendHttpsUpgrade } from './reply.ts';
import { isIdempotent } from './retry.ts';
import { Tries } from './tries.ts';
import { openH2Tunnel, openTunnel, type TunnelEnd } from './tunnel.ts';

/** A retryable status's body longer than this is not read through before the retry (the connection is dropped). */
const MAX_DISCARD_BYTES = 65536;
/** RFC 9113 §7 INTERNAL_ERROR. */
const H2_INTERNAL_ERROR = 0x2;

export class Exchange extends Tries implements AttemptOwner {
  private readonly startMs: number;
  private resumeUpstream: (() => void) | null = null;
  private requestId = '';
  /** A Set-Cookie value for `hash_on: cookie` when the request had no such cookie. */
  private hashCookie: string | null = null;
  private dispatchMs = 0;
  private upstreamMs = -1;
  private bytesOut = 0;
  private status = 0;
  private errorCode: ErrorCode | null = null;
  /** The route's plugins for this request (null when the route has none: one check per phase). */
  private plugins: PluginRun | null = null;
  /** A plugin's body encoder (compression) the response is written through, or null. */
  private encoder: Duplex | null = null;
  /** The client socket, watched while this response is queued behind another (see the constructor). */
  private queuedOn: Socket | null = null;
  /** An HTTP/2 stream (Http2ServerRequest/Response, docs/http2.md), not an HTTP/1.1 request. */
  private readonly h2: boolean;
  /** A gRPC call over HTTP/2: the proxy's failures are answered as gRPC statuses. */
  private readonly grpc: boolean;

  constructor(
    core: ProxyCore,
    gen: Generation,
    req: IncomingMessage,
    res: ServerResponse,
    upgradeHead: Buffer | null = null,
  ) {
    // A PROXY protocol header (http listeners with proxy_protocol) gave the real client address.
    const proxied = (req.socket as Socket & { fulcrumClientIp?: string }).fulcrumClientIp;
    super(core, gen, req, res, proxied ?? unmapIPv4(req.socket.remoteAddress ?? ''), upgradeHead);
    this.startMs = core.clock.monoMs();
    this.onClose = this.onClose.bind(this);
    this.onDrain = this.onDrain.bind(this);
    res.on('close', this.onClose);
    this.h2 = req.httpVersionMajor === 2;
    this.grpc = this.h2 && isGrpcRequest(req.headers);
    // A response queued behind another on a pipelined connection gets no 'close' when the socket
    // closes before its turn (Node watches the socket only for the response being written): watch
    // the socket too, or the exchange never ends and its in-flight counts leak.
    const socket = req.socket as Socket & { _httpMessage?: unknown };
    if (!this.h2 && socket._httpMessage !== res) {
      this.queuedOn = socket;
      socket.setMaxListeners(socket.getMaxListeners() + 1);
      socket.once('close', this.onClose);
    }
  }

  /** The client certificate on an mTLS listener (docs/tls.md), for routing and plugins; else null. */
  get clientCert(): ClientCertIdentity | null {
    return clientCertOf(this.req.socket);
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
    const rt = parseRequestTarget(url);
    if (rt === null) return this.fail('FULCRUM_ERR_BAD_REQUEST', true);
    if (rt.authority !== null) req.headers.host = rt.authority;
    const { path, query } = rt;
    const host = (req.headers.host ?? '').toLowerCase();
    const m = this.gen.router.match({ method: req.method ?? 'GET', host, path, headers: req.headers });
    if (m === null) return this.fail('FULCRUM_ERR_NO_ROUTE', false);
    const route = m.route;
    this.route = route;
    if (route.disabled !== null || route.service === null)
      return this.fail('FULCRUM_ERR_ROUTE_DISABLED', false);
    // Kong: plain HTTP on a route that accepts only https is told to upgrade (426) or redirected.
    const protocols = route.spec.protocols;
    if (
      !this.grpc &&
      !protocols.includes('http') &&
      protocols.includes('https') &&
      (req.socket as TLSSocket).encrypted !== true
    )
      return this.upgradeToHttps(route.spec.httpsRedirectStatus, host, url);
    const service = route.service;
    this.service = service;
    const spec = route.spec;
    const stripped = spec.stripPath ? m.matchedLength : 0;
    this.path = joinPath(service.spec.path, path, stripped, spec.pathHandling) + query;
    if (route.chain !== null) {
      // rewrite and access phases: after routing, before the hash key, the body and the first pick.
      const run = new PluginRun(route.chain, req, this.clientIp, path, query, spec, service.spec);
      this.plugins = run;
      if (expectContinue)
        run.onBodyWanted = () => {
          expectContinue = false;
          this.res.writeContinue();
        };
      const out = run.access();
      if (out !== null) {
        if (isWait(out)) return this.awaitAccess(out, m, path, query, stripped, expectContinue);
        return this.localReply(out);
      }
    }
    this.afterAccess(m, path, query, stripped, expectContinue);
  }

  /** A hook waits (the body, a key fetch): run the access phase again once it settles, then go on. */
  private awaitAccess(
    w: Wait,
    m: RouteMatch<RouteRuntime>,
    path: string,
    query: string,
    stripped: number,
    expectContinue: boolean,
  ): void {
    const resume = () => {
      if (this.ended || this.res.headersSent) return;
      const run = this.plugins!;
      // The body was read from the client: Expect: 100-continue has been answered.
      const cont = expectContinue && run.onBodyWanted !== null;
      const out = run.access();
      if (out === null) return this.afterAccess(m, path, query, stripped, cont);
      if (isWait(out)) return this.awaitAccess(out, m, path, query, stripped, cont);
      this.localReply(out);
    };
    w.wait.then(resume, resume);
  }

  /** After the access phase: the service switch, the hash key, the body, and the first try. */
  private afterAccess(
    m: RouteMatch<RouteRuntime>,
    path: string,
    query: string,
    stripped: number,
    expectContinue: boolean,
  ): void {
    const req = this.req;
    const node = this.gen.snapshot.node;
    const ridHeader = node.headers.requestId;
    const spec = this.route!.spec;
    let service = this.service!;
    const run = this.plugins;
    if (run !== null) {
      const other = run.serviceOverride === null ? undefined : this.gen.services.get(run.serviceOverride);
      if (other?.spec.enabled) {
        service = other;
        this.service = other;
      }
      if (run.query !== query || other !== undefined)
        this.path = joinPath(service.spec.path, path, stripped, spec.pathHandling) + run.query;
    }
    if (service.upstream.hashing) {
      const k = hashKeyOf(service.upstream.spec, {
        clientIp: this.clientIp,
        headers: req.headers,
        path,
        query,
        captures: m.captures,
        consumer: this.plugins === null ? null : (this.plugins.consumer?.id ?? null),
      });
      this.hashKey = k.key;
      this.hashCookie = k.setCookie;
    }

    let limit = node.limits.maxBodyBytes;
    // request-size-limiting lowers the body limit for this request (counted as the body streams).
    if (
      this.plugins !== null &&
      this.plugins.bodyLimit > 0 &&
      (limit === 0 || this.plugins.bodyLimit < limit)
    )
      limit = this.plugins.bodyLimit;
    const cl = req.headers['content-length'];
    // HTTP/2 frames a body without Content-Length: one follows unless the HEADERS ended the stream.
    const chunked =
      req.headers['transfer-encoding'] !== undefined ||
      (this.h2 &&
        (req as unknown as { stream: { endAfterHeaders: boolean } }).stream.endAfterHeaders === false);
    if (limit > 0 && cl !== undefined && Number(cl) > limit)
      return this.fail('FULCRUM_ERR_PAYLOAD_TOO_LARGE', true);
    const buffered = run?.bufferedBody ?? null;
    if (buffered !== null) {
      if (buffered.state === 'failed') return this.fail('FULCRUM_ERR_CLIENT_ABORTED', true);
      this.body = bufferedBodyStream(req, buffered, limit, service.spec.retryPolicy.bufferBodyBytes);
      this.body.on('error', (err) => this.onBodyError(err));
    } else if (this.upgradeHead === null && (chunked || (cl !== undefined && cl !== '0'))) {
      const body = new BodyMeter(limit, service.spec.retryPolicy.bufferBodyBytes);
      body.on('error', (err) => this.onBodyError(err));
      req.pipe(body);
      this.body = body;
    }

    const trusted = this.gen.trusted !== null && inCidrList(this.gen.trusted, this.clientIp);
    this.headers = upstreamRequestHeaders(req.headers, {
      host: upstreamHost(spec, service.spec, service.upstream.spec, req.headers.host),
      clientIp: this.clientIp,
      trusted,
      proto: (req.socket as TLSSocket).encrypted === true ? 'https' : 'http',
      listenerPort: req.socket.localPort ?? 0,
      requestIdHeader: ridHeader,
      requestId: this.requestId,
      via: node.headers.via,
      forwarded: node.headers.forwarded,
    });
    this.headers = withClientCertHeaders(this.headers, req.socket);
    if (expectContinue) this.res.writeContinue();
    const s = service.spec;
    // A gRPC deadline (`grpc-timeout`) bounds the wait for the response head like request_timeout.
    const grpcMs = this.grpc ? grpcTimeoutMs(req.headers['grpc-timeout']) : -1;
    const timeoutMs =
      grpcMs > 0 && (s.requestTimeoutMs <= 0 || grpcMs < s.requestTimeoutMs) ? grpcMs : s.requestTimeoutMs;
    if (timeoutMs > 0) {
      // request_timeout runs from the end of the request (Envoy's route timeout does the same): a
      // long upload is bounded by write_timeout between writes, not cut off by the deadline. A
      // gRPC deadline is the caller's and runs from the start.
      if (this.body === null || grpcMs > 0 || req.complete) this.armDeadline(timeoutMs);
      else req.once('end', () => this.armDeadline(timeoutMs));
    }
    const hedge = s.retryPolicy.hedgeDelayMs;
    if (hedge > 0 && this.body === null && this.upgradeHead === null && isIdempotent(req.method ?? 'GET')) {
      this.hedgeTimer = setTimeout(() => this.onHedge(), hedge);
      this.hedgeTimer.unref();
    }
    this.dispatch(false);
  }

  /** Answer a request whose framing the listener refused, without routing it; the connection closes. */
  refuse(code: ErrorCode): void {
    this.fail(code, true);
  }

  // ---- attempt events (attempt.ts forwards undici's handler calls here) ----

  attemptConnect(a: Attempt): void {
    if (a.usesStream) this.body!.watchWrites(this.service!.spec.writeTimeoutMs);
    if (this.ended) a.retire();
  }

  attemptHeaders(
    a: Attempt,
    statusCode: number,
    rawHeaders: Buffer[],
    resume: () => void,
    text: string,
  ): boolean {
    if (a.retired || this.ended) return false;
    const res = this.res;
    if (statusCode < 200) {
      if (this.hedged === null) relayInformational(res, statusCode, rawHeaders);
      return true;
    }
    a.clearTimer();
    const now = this.core.clock.monoMs();
    const latency = now - a.dispatchMs;
    this.service!.upstream.headerLatency.observe(latency / 1000);
    a.target.observeLatency(latency, now);
    const loadHeader = this.service!.upstream.loadHeader;
    if (loadHeader !== null) reportLoad(rawHeaders, loadHeader, a.target, now);
    a.status = statusCode;
    if (this.service!.spec.retryPolicy.statuses.has(statusCode)) {
      // Read a refused answer to its end (keeping the connection), then retry; unless no retry is
      // allowed, in which case the client gets this answer. A hedged try still running makes it moot.
      if (this.otherLive(a)) {
        a.discarding = true;
        return true;
      }
      if (this.retryable('http-status') && this.reserveRetry('http-status')) {
        a.discarding = true;
        a.isRetryReserved = true;
        return true;
      }
    }
    this.winner = a;
    this.upstreamMs = latency;
    this.settle(a);
    this.resumeUpstream = resume;
    this.status = statusCode;
    const { headers } = downstreamResponseHeaders(
      rawHeaders,
      this.gen.snapshot.node.headers.via,
      !hasContentLength(rawHeaders),
    );
    if (this.hashCookie !== null) headers.push('set-cookie', this.hashCookie);
    if (a.stickyCookie !== null) headers.push('set-cookie', a.stickyCookie);
    if (this.plugins !== null) {
      this.plugins.headerFilter(statusCode, headers, false);
      this.encoder = this.plugins.encoder;
    }
    if (this.core.draining) res.shouldKeepAlive = false;
    try {
      if (this.h2) writeHeadH2(res, statusCode, headers);
      else res.writeHead(statusCode, text || undefined, headers);
    } catch {
      // The target sent a header Node refuses to forward (an invalid value): that is a bad response.
      this.core.reportOutcome(a.target, 'tcp');
      a.retire();
      a.finish(false);
      this.fail('FULCRUM_ERR_UPSTREAM_BAD_RESPONSE', this.body !== null);
      return false;
    }
    const enc = this.encoder;
    if (enc !== null) {
      // Backpressure from the client reaches the encoder through pipe, and the target through 'drain'.
      enc.on('error', () => this.abortResponse());
      enc.pipe(res);
    }
    return true;
  }

  /** The target accepted a WebSocket upgrade (101): answer the client and tunnel the bytes. */
  attemptUpgrade(a: Attempt, statusCode: number, rawHeaders: Buffer[], upstream: Duplex): void {
    if (a.retired || this.ended || this.res.headersSent) {
      upstream.destroy();
      a.finish(true);
      return;
    }
    this.winner = a;
    this.settle(a);
    a.clearTimer();
    this.upstreamMs = this.core.clock.monoMs() - a.dispatchMs;
    this.status = statusCode;
    const done = (end: TunnelEnd) => {
      a.finish(true);
      this.bytesOut = end.bytesOut;
      this.record(this.status, end.bytesIn);
    };
    const idleMs = this.service!.spec.readTimeoutMs;
    if (this.h2) {
      // RFC 8441: a WebSocket opened over HTTP/2 gets 200, then the stream is the tunnel.
      this.status = 200;
      this.ended = true;
      return openH2Tunnel(this.req, this.res, rawHeaders, upstream, this.upgradeHead!, idleMs, done);
    }
    // From here the socket is the tunnel's: the response object must not write or end it.
    const client = this.req.socket;
    this.res.detachSocket(client);
    this.ended = true;
    // The try stays in flight (least-connections counts open tunnels) until the tunnel closes.
    openTunnel(
      client,
      upstream,
      switchingProtocolsHead(statusCode, rawHeaders, this.gen.snapshot.node.headers.via),
      this.upgradeHead!,
      idleMs,
      done,
    );
  }

  attemptData(a: Attempt, chunk: Buffer): boolean {
    if (a.discarding) {
      a.discarded += chunk.length;
      // A long error body is not worth reading through: drop the connection instead.
      if (a.discarded > MAX_DISCARD_BYTES) a.retire();
      return true;
    }
    if (this.ended || a !== this.winner) return false;
    this.bytesOut += chunk.length;
    noteRelayed(chunk.length);
    if (this.plugins !== null) {
      this.plugins.bodyFilter(chunk);
      const enc = this.encoder;
      if (enc !== null) {
        if (enc.write(chunk)) return true;
        enc.once('drain', this.onDrain);
        return false;
      }
    }
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.onDrain);
    return false;
  }

  attemptComplete(a: Attempt, rawTrailers: Buffer[] | null): void {
    // Passive health checks see the status once the whole response arrived (one cut short is a tcp failure).
    if (a.live && (a.discarding || !a.retired)) this.core.reportOutcome(a.target, a.status);
    a.finish(true);
    if (a.discarding) return this.afterDiscard(a);
    if (this.ended || a !== this.winner) return;
    const t = trailerPairs(rawTrailers);
    if (t !== null && this.h2) this.res.addTrailers(trailerObject(t));
    else if (t !== null && this.res.chunkedEncoding) this.res.addTrailers(t);
    if (this.plugins !== null) {
      this.plugins.bodyFilter(null);
      // The encoder flushes its tail and ends the response (it is piped to it).
      if (this.encoder !== null) return void this.encoder.end();
    }
    this.res.end();
  }

  attemptError(a: Attempt, err: Error): void {
    if (a.discarding) {
      if (a.live) this.core.reportOutcome(a.target, a.status);
      a.finish(true);
      return this.afterDiscard(a);
    }
    if (a.retired) {
      // Given up on already (hedge lost, per-try timeout, client gone): its outcome was counted then.
      a.finish(true);
      return;
    }
    const code = err instanceof FulcrumError ? err.code : classifyUpstreamError(err);
    const transport =
      code !== 'FULCRUM_ERR_PAYLOAD_TOO_LARGE' &&
      code !== 'FULCRUM_ERR_CLIENT_ABORTED' &&
      code !== 'FULCRUM_ERR_INTERNAL';
    // Passive health checks count transport failures by kind (Kong's tcp_failures and timeouts).
    if (transport && a.live)
      this.core.reportOutcome(a.target, code === 'FULCRUM_ERR_UPSTREAM_TIMEOUT' ? 'timeout' : 'tcp');
    // A try that never connected left the body stream unread: the next try may take it.
    if (a.usesStream && !a.connected) this.streamSpent = false;
    a.finish(!transport);
    // Ended, or already answered locally (a body error such as 413 or a write timeout answers
    // first, then aborts the upstream try that lands here).
    if (this.ended || (this.res.writableEnded && this.errorCode !== null)) return;
    if (this.res.headersSent) {
      // Bytes of the response have reached the client: it can only learn of the failure by the
      // connection closing before the response is complete.
      this.errorCode = code;
      this.abortResponse();
      return;
    }
    this.retryOrFail(a, retryKind(err, code), code);
  }

  // ---- helpers ----

  /**
   * Cut a response whose head has gone out. HTTP/1.1 signals the truncation by closing the
   * connection; HTTP/2 by resetting the stream with an error code (NO_ERROR, what destroying the
   * compat response sends, reads as a complete response to curl and browsers).
   */
  private abortResponse(): void {
    if (this.h2) {
      const stream = (this.res as unknown as { stream: { close(code: number): void } }).stream;
      stream.close(H2_INTERNAL_ERROR);
    } else this.res.destroy();
  }

  private onDrain(): void {
    const r = this.resumeUpstream;
    if (r !== null) r();
  }

  private onBodyError(err: Error): void {
    const code = err instanceof FulcrumError ? err.code : 'FULCRUM_ERR_CLIENT_ABORTED';
    this.cancelTries(null, err);
    if (!this.res.headersSent && !this.ended) this.fail(code, true);
  }

  /** Answer locally with a stable error code. `close`: the request framing cannot be trusted. */
  protected fail(code: ErrorCode, close: boolean): void {
    this.errorCode = code;
    if (this.res.headersSent || this.ended) return;
    this.status = ERRORS[code].status;
    if (this.body !== null) this.req.unpipe(this.body);
    const h = this.gen.snapshot.node.headers;
    if (this.grpc) {
      this.status = 200;
      return sendGrpcError(this.res, code, h.requestId, this.requestId);
    }
    this.bytesOut = sendError(this.res, code, {
      serverTokens: h.serverTokens,
      requestIdHeader: h.requestId,
      requestId: this.requestId,
      close: close || this.core.draining,
      head: this.req.method === 'HEAD',
    });
  }

  /** Kong's answer to plain HTTP on an https-only route (reply.ts). */
  private upgradeToHttps(status: number, host: string, url: string): void {
    this.status = status;
    this.bytesOut = sendHttpsUpgrade(this.res, status, host, url);
  }

  /** A plugin answered in the access phase: write its reply (nothing was forwarded). */
  private localReply(reply: LocalReply): void {
    this.status = reply.status;
    const h = this.gen.snapshot.node.headers;
    this.bytesOut = sendLocalReply(this.res, reply, this.plugins!, {
      serverTokens: h.serverTokens,
      requestIdHeader: h.requestId,
      requestId: this.requestId,
      close: this.core.draining,
      head: this.req.method === 'HEAD',
    });
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
      this.cancelTries(null, new FulcrumError('FULCRUM_ERR_CLIENT_ABORTED'));
      if (this.body !== null) {
        this.req.unpipe(this.body);
        this.body.destroy();
      }
      if (this.encoder !== null) this.encoder.destroy();
    }
    // A response the proxy cut short (target failed mid-body) keeps the status it sent; 499 is for
    // a client that went away.
    const sent = this.res.headersSent && this.errorCode !== 'FULCRUM_ERR_CLIENT_ABORTED';
    this.record(finished || sent ? this.status || this.res.statusCode : 499, this.body?.bytes ?? 0);
  }

  /** The exchange is over: release its counters, count it, and write its access-log line. */
  private record(status: number, bytesIn: number): void {
    if (this.backoff !== null) this.service!.upstream.guard.retries--;
    this.clearTimers();
    if (this.counted) this.service!.upstream.guard.requests--;
    this.gen.inflight--;
    const now = this.core.clock.monoMs();
    const route = this.route;
    if (route !== null) {
      route.byClass[status >= 100 && status < 600 ? (status / 100) | 0 : 0]!.inc();
      route.duration.observe((now - this.startMs) / 1000);
    }
    if (this.errorCode !== null) this.core.metrics.errors.labels({ code: this.errorCode }).inc();
    if (this.plugins !== null) this.plugins.log(status);
    this.core.accessLog({
      request_id: this.requestId,
      client_ip: this.clientIp,
      method: this.req.method ?? '',
      path: this.req.url ?? '',
      status,
      route: route?.label ?? null,
      service: this.service?.spec.name || route?.serviceLabel || null,
      target: this.target?.target ?? null,
      tries: this.tries,
      upstream_ms: this.upstreamMs < 0 ? null : Math.round(this.upstreamMs * 1000) / 1000,
      total_ms: Math.round((now - this.startMs) * 1000) / 1000,
      bytes_in: bytesIn,
      bytes_out: this.bytesOut,
      error: this.errorCode,
    });
    this.core.onExchangeEnd(this.gen);
  }
}
