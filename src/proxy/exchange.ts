/**
 * One proxied HTTP request: the state machine that owns it from its parsed head to its access-log
 * line (ARCHITECTURE.md, the life of a request). Read top to bottom:
 *
 *   start()          route (routed.ts), plugins' access phase (which may wait: afterAccess resumes)
 *   afterAccess()    the service switch, the hash key, the body, what the targets get (outgoing.ts)
 *   tries            its Tries (tries.ts): picks, retries, timeouts, hedging, breakers
 *   relayHead/Data/End  the winning try's response, through the plugins, to the client
 *   fail / cut       the proxy's own answer, or a response cut short
 *   clientGone       the client left first
 *   record()         counters released, metrics, plugins' log phase, the access-log line
 *
 * It speaks to the client through a Downstream (HTTP/1.1 connection or HTTP/2 stream, the same
 * state machine for both) and to targets through pools (h1-pool.ts, h2-pool.ts).
 */
import type { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { ERRORS, type ErrorCode } from '../core/errors.ts';
import { inCidrList } from '../core/net.ts';
import { nextRequestId } from '../core/request-id.ts';
import type { Fields } from '../http1/fields.ts';
import { H } from '../http1/syntax.ts';
import type { RequestTrace } from '../observability/trace-hooks.ts';
import { PluginRun } from '../plugins/chain.ts';
import { sendLocalReply } from '../plugins/reply.ts';
import { isWait, type LocalReply, type Wait } from '../plugins/types.ts';
import { joinPath } from '../routing/path.ts';
import type { Generation, RouteRuntime, ServiceRuntime } from '../runtime/generation.ts';
import type { TargetState } from '../upstreams/target.ts';
import type { UpstreamHead, UpstreamRequest } from '../upstreams/upstream-call.ts';
import { BodyChannel } from './body-channel.ts';
import { type ClientCertIdentity, clientCertOf } from './client-cert.ts';
import type { ProxyCore } from './core.ts';
import {
  BODY_CHUNKED_RAW,
  BODY_NONE,
  BODY_STREAM,
  type BodyMode,
  type Downstream,
  type DownstreamEvents,
  type OutHead,
} from './downstream.ts';
import { grpcTimeoutMs, sendGrpcError } from './grpc.ts';
import { hashKeyOf } from './hash-key.ts';
import {
  dropContentLength,
  earlyHintLinks,
  type ForwardFacts,
  mergedVia,
  responseFieldList,
} from './headers.ts';
import { Outgoing } from './outgoing.ts';
import { sendError, sendHttpsUpgrade } from './reply.ts';
import { HttpsOnly, type Routed, routeRequest, Unrouted } from './routed.ts';
import { Tries, type TriesHost } from './tries.ts';
import type { Try } from './try.ts';
import { openTunnel, type TunnelEnd } from './tunnel.ts';

export class Exchange implements TriesHost, DownstreamEvents {
  readonly core: ProxyCore;
  readonly gen: Generation;
  readonly down: Downstream;
  readonly clientIp: string;
  readonly method: string;
  /** PickContext: the hashing algorithms' key, set before the first pick when the upstream hashes. */
  hashKey: string | null = null;
  /** A Set-Cookie pinning the target (sticky cookie mode), written by the upstream's StickyRuntime. */
  stickyCookie: string | null = null;
  private readonly startMs: number;
  private requestId = '';
  private route: RouteRuntime | null = null;
  private service: ServiceRuntime | null = null;
  /** The path (with query) each try sends. */
  private path = '';
  /** The route's plugins for this request (null when the route has none: one check per phase). */
  private plugins: PluginRun | null = null;
  private tries: Tries | null = null;
  /** The body the tries send: the client's channel, or a plugin's replacement. */
  private body: BodyChannel | null;
  /** A Set-Cookie value for `hash_on: cookie` when the request had no such cookie. */
  private hashCookie: string | null = null;
  private grpc = false;
  /** What each try sends, once the request is routed and through the access phase. */
  private outgoing: Outgoing | null = null;
  /** A plugin's body encoder (compression) the response is written through, or null. */
  private encoder: Duplex | null = null;
  private encoderWaiting = false;
  private upstreamWaiting: Try | null = null;
  private status = 0;
  private bytesOut = 0;
  private errorCode: ErrorCode | null = null;
  /** The response is over, or the client gone: late events only clean up. */
  ended = false;
  private recorded = false;
  /** The request's trace (server span, the context its tries send), null when tracing is off. */
  trace: RequestTrace | null = null;

  constructor(core: ProxyCore, gen: Generation, down: Downstream) {
    this.core = core;
    this.gen = gen;
    this.down = down;
    this.clientIp = down.clientIp;
    this.method = down.method;
    this.body = down.body;
    this.startMs = core.clock.monoMs();
    down.events = this;
    gen.inflight++;
  }

  get responding(): boolean {
    return this.down.headersSent;
  }

  get retryNonIdempotent(): boolean {
    return this.route!.spec.retryNonIdempotent;
  }

  /** The path (with query) each try sends (the trace's client spans). */
  get upstreamPath(): string {
    return this.path;
  }

  get cookieHeader(): string | undefined {
    return this.down.fields.get('cookie');
  }

  /** The client certificate on an mTLS listener (docs/tls.md), for routing and plugins; else null. */
  get clientCert(): ClientCertIdentity | null {
    return clientCertOf(this.down.socket);
  }

  // ---- the request ----

  /** Route the request and send it to a target. */
  start(): void {
    const down = this.down;
    const tracing = this.core.tracing;
    if (tracing !== null) this.trace = tracing.begin(this, this.startMs);
    const node = this.gen.snapshot.node;
    const ridHeader = node.headers.requestId;
    if (ridHeader !== '') {
      const given = down.fields.get(ridHeader);
      this.requestId =
        given !== undefined && given.length > 0 && given.length <= 200 ? given : nextRequestId();
    }
    if (this.core.draining) down.closeAfter = true;
    const r = routeRequest(this.gen, down, this.method);
    this.route = r.route;
    if (r instanceof HttpsOnly) return this.upgradeToHttps(r.status, r.host, r.url);
    this.grpc = r.grpc;
    if (r instanceof Unrouted) return this.fail(r.code, r.close);
    const route = r.route;
    this.service = r.service;
    this.path = r.upstreamPath;
    const body = this.body;
    if (body !== null) {
      body.limit = node.limits.maxBodyBytes;
      if (down.expectContinue) body.onDemand = () => down.sendContinue();
    }
    if (route.chain !== null) {
      // rewrite and access phases: after routing, before the hash key, the body and the first pick.
      const run = new PluginRun(route.chain, this, r.path, r.query, route.spec, r.service.spec);
      this.plugins = run;
      const out = run.access();
      if (out !== null) {
        if (isWait(out)) return this.awaitAccess(out, r);
        return this.localReply(out);
      }
    }
    this.afterAccess(r);
  }

  /** A hook waits (the body, a key fetch): run the access phase again once it settles, then go on. */
  private awaitAccess(w: Wait, r: Routed): void {
    const resume = () => {
      if (this.ended || this.down.headersSent) return;
      const out = this.plugins!.access();
      if (out === null) return this.afterAccess(r);
      if (isWait(out)) return this.awaitAccess(out, r);
      this.localReply(out);
    };
    w.wait.then(resume, resume);
  }

  /** After the access phase: the service switch, the hash key, the body, and the first try. */
  private afterAccess(r: Routed): void {
    const down = this.down;
    const node = this.gen.snapshot.node;
    const spec = r.route.spec;
    const { path, query, hostHeader } = r;
    let service = r.service;
    const run = this.plugins;
    if (run !== null) {
      const other = run.serviceOverride === null ? undefined : this.gen.services.get(run.serviceOverride);
      if (other?.spec.enabled) {
        service = other;
        this.service = other;
      }
      if (run.query !== query || other !== undefined)
        this.path = joinPath(service.spec.path, path, r.stripped, spec.pathHandling) + run.query;
    }
    if (service.upstream.hashing) {
      const k = hashKeyOf(service.upstream.spec, {
        clientIp: this.clientIp,
        headers: down.fields,
        path,
        query,
        captures: r.match.captures,
        consumer: run === null ? null : (run.consumer?.id ?? null),
      });
      this.hashKey = k.key;
      this.hashCookie = k.setCookie;
    }
    // The body the targets get: the client's stream, or what a plugin buffered and maybe replaced.
    const body = this.body;
    if (body !== null) {
      // request-size-limiting lowers the body limit for this request (counted as the body streams).
      const bl = run?.bodyLimit ?? 0;
      if (bl > 0 && (body.limit === 0 || bl < body.limit)) body.limit = bl;
      if (body.failed !== null) return this.fail(body.failed, true);
      if (body.limit > 0 && body.length > body.limit) return this.fail('FULCRUM_ERR_PAYLOAD_TOO_LARGE', true);
      body.keepAtLeast(service.spec.retryPolicy.bufferBodyBytes);
    }
    const replaced = run?.replacedBody ?? null;
    if (replaced !== null) this.body = BodyChannel.of(replaced);
    if (this.body !== null) this.body.onFailure = (code) => this.onBodyFailed(code);
    const trusted = this.gen.trusted !== null && inCidrList(this.gen.trusted, this.clientIp);
    const tls = (down.socket as TLSSocket).encrypted === true;
    const hostPreserved = spec.preserveHost && hostHeader !== '';
    const facts: ForwardFacts = {
      host: hostPreserved ? hostHeader : service.host,
      clientIp: this.clientIp,
      trusted,
      proto: tls ? 'https' : 'http',
      listenerPort: down.localPort,
      clientHost: hostHeader,
      requestIdHeader: node.headers.requestId,
      requestId: this.requestId,
      via: node.headers.via,
      forwarded: node.headers.forwarded,
    };
    this.outgoing = new Outgoing({
      down,
      service,
      facts,
      hostPreserved,
      plugins: run,
      trace: this.trace,
      method: this.method,
      path: this.path,
      body: this.body,
      settings: node.headers,
    });
    if (down.expectContinue && this.body === null) down.sendContinue();
    const s = service.spec;
    const tries = new Tries(this, service, this.body);
    this.tries = tries;
    // A gRPC deadline (`grpc-timeout`) bounds the wait for the response head like request_timeout.
    const grpcMs = this.grpc ? grpcTimeoutMs(down.fields.get('grpc-timeout')) : -1;
    const timeoutMs =
      grpcMs > 0 && (s.requestTimeoutMs <= 0 || grpcMs < s.requestTimeoutMs) ? grpcMs : s.requestTimeoutMs;
    if (timeoutMs > 0) {
      // request_timeout runs from the end of the request (Envoy's route timeout does the same): a
      // long upload is bounded by write_timeout between writes, not cut off by the deadline. A
      // gRPC deadline is the caller's and runs from the start.
      const b = this.body;
      if (b === null || grpcMs > 0 || b.complete) tries.armDeadline(timeoutMs);
      else b.onComplete = () => tries.armDeadline(timeoutMs);
    }
    tries.begin();
  }

  /** What a try to `t` sends (TriesHost): see outgoing.ts. */
  upstreamRequest(t: TargetState, body: BodyChannel | Buffer | null): UpstreamRequest {
    return this.outgoing!.request(t, body);
  }

  /** The client's body failed (aborted, too large, framing broken): stop, and answer if we still can. */
  private onBodyFailed(code: ErrorCode): void {
    this.tries?.cancelTries(null, null);
    if (!this.down.headersSent && !this.ended) this.fail(code, true);
  }

  // ---- the response (TriesHost) ----

  relayInformational(status: number, fields: Fields): void {
    if (status !== 103 || this.down.headersSent) return;
    const links = earlyHintLinks(fields);
    if (links.length > 0) this.down.sendInformational(103, links);
  }

  relayHead(t: Try, head: UpstreamHead): boolean {
    const down = this.down;
    this.status = head.status;
    const via = this.gen.snapshot.node.headers.via;
    const extra: string[] = [];
    // Our Via joins the target's in one field (clients that keep repeated fields apart see one list).
    const dropVia = via && head.fields.indexOfId(H.VIA) >= 0;
    if (dropVia) extra.push('via', mergedVia(head.fields));
    if (this.hashCookie !== null) extra.push('set-cookie', this.hashCookie);
    if (t.stickyCookie !== null) extra.push('set-cookie', t.stickyCookie);
    if (this.core.draining) down.closeAfter = true;
    const run = this.plugins;
    let mode = this.bodyMode(head, run === null || !run.filtersBody);
    let out: OutHead;
    if (run === null || !run.filtersHead) {
      // No header_filter hook: the target's fields go as they came, the hooks' additions after.
      const add = run === null ? null : run.responseHeaders;
      if (add !== null) for (let i = 0; i < add.length; i++) extra.push(add[i]!);
      out = {
        status: head.status,
        reason: head.reason,
        copy: head.fields,
        named: head.named,
        keepTrailer: mode.kind === 'stream' || mode.kind === 'chunked-raw',
        dropVia,
        via: via && !dropVia,
        extra,
        body: mode,
        // A gRPC trailers-only answer (grpc-status in the head) must leave as one HEADERS frame
        // with END_STREAM: a gRPC client reads the status only from such a frame or trailers.
        endStream: down.h2 && mode.kind === 'none' && head.fields.indexOf('grpc-status') >= 0,
      };
    } else {
      // header_filter sees the head as a list (a plugin may edit it); compression may re-encode.
      const keepTrailer = mode.kind !== 'length' && mode.kind !== 'none';
      const list = responseFieldList(head.fields, head.named, keepTrailer, true, dropVia);
      if (via && !dropVia) list.push('via', '1.1 fulcrum');
      for (let i = 0; i < extra.length; i++) list.push(extra[i]!);
      run.headerFilter(head.status, list, false);
      this.encoder = run.encoder;
      if (this.encoder !== null) {
        mode = BODY_STREAM;
        dropContentLength(list);
      }
      const reason = head.reason;
      out = { status: head.status, reason, copy: null, named: null, keepTrailer, extra: list, body: mode };
    }
    try {
      down.writeHead(out);
    } catch {
      return this.badTargetHead(t);
    }
    if (this.encoder !== null) this.pipeEncoder(this.encoder);
    else if (mode === BODY_CHUNKED_RAW) {
      t.call!.passRaw();
      this.rawFrom = t;
    }
    return true;
  }

  /** The try whose chunked body goes on coded (bytes_out then counts its data, not its coding). */
  private rawFrom: Try | null = null;

  /** How the target's body goes on to the client. `raw`: no plugin reads the body bytes. */
  private bodyMode(head: UpstreamHead, raw: boolean): BodyMode {
    const f = head.framing;
    if (f.kind === 'none') return BODY_NONE;
    if (f.kind === 'length') return { kind: 'length', length: f.length };
    // A chunked body goes on as it came to an HTTP/1.1 client (validated, not re-framed).
    if (f.kind === 'chunked' && raw && !this.down.h2 && this.down.minor === 1) return BODY_CHUNKED_RAW;
    return BODY_STREAM;
  }

  /** The target's head holds what cannot be forwarded (an invalid value): a bad response. */
  private badTargetHead(t: Try): boolean {
    t.retire();
    this.tries?.cancelTries(null, 'tcp');
    this.fail('FULCRUM_ERR_UPSTREAM_BAD_RESPONSE', this.body !== null);
    return false;
  }

  relayData(chunk: Buffer): boolean {
    if (this.rawFrom === null) this.bytesOut += chunk.length;
    const run = this.plugins;
    if (run !== null) {
      run.bodyFilter(chunk);
      const enc = this.encoder;
      if (enc !== null) {
        if (enc.write(chunk)) return true;
        this.encoderWaiting = true;
        return false;
      }
    }
    if (this.down.write(chunk)) return true;
    this.upstreamWaiting = this.tries!.winner;
    return false;
  }

  relayFlush(): void {
    this.down.flush();
  }

  relayEnd(trailers: Fields | null): void {
    const run = this.plugins;
    if (run !== null) {
      run.bodyFilter(null);
      // The encoder flushes its tail and the response ends with it (pipeEncoder).
      if (this.encoder !== null) return void this.encoder.end();
    }
    this.down.end(trailers);
    this.complete();
  }

  relayUpgrade(_t: Try, head: UpstreamHead, socket: Duplex, rest: Buffer): void {
    const down = this.down;
    this.status = down.h2 ? 200 : head.status;
    const idleMs = this.service!.spec.readTimeoutMs;
    const via = this.gen.snapshot.node.headers.via;
    const done = (end: TunnelEnd) => {
      this.bytesOut = end.bytesOut;
      this.tunnelBytesIn = end.bytesIn;
      this.complete();
    };
    openTunnel(down, head, socket, rest, via, idleMs, done);
  }

  private tunnelBytesIn = -1;

  /** Relay an encoder's output (compression) to the client, with backpressure both ways. */
  private pipeEncoder(enc: Duplex): void {
    enc.on('data', (c: Buffer) => {
      const more = this.down.write(c);
      this.down.flush();
      if (!more) enc.pause();
    });
    enc.on('drain', () => {
      if (!this.encoderWaiting) return;
      this.encoderWaiting = false;
      this.tries?.winner?.call?.resume();
    });
    enc.once('end', () => {
      if (this.ended) return;
      this.down.end(null);
      this.complete();
    });
    enc.on('error', () => this.cut('FULCRUM_ERR_INTERNAL'));
  }

  // ---- the client's side (DownstreamEvents) ----

  clientDrained(): void {
    if (this.encoder !== null) {
      this.encoder.resume();
      return;
    }
    const t = this.upstreamWaiting;
    if (t === null) return;
    this.upstreamWaiting = null;
    t.call?.resume();
  }

  /** The client went away before the response was finished. */
  clientGone(): void {
    if (this.ended) return;
    this.errorCode ??= 'FULCRUM_ERR_CLIENT_ABORTED';
    this.encoder?.destroy();
    this.body?.fail('FULCRUM_ERR_CLIENT_ABORTED');
    // A response the proxy cut short (target failed mid-body) keeps the status it sent; 499 is for
    // a client that went away.
    const sent = this.down.headersSent && this.errorCode !== 'FULCRUM_ERR_CLIENT_ABORTED';
    if (!sent) this.status = 499;
    this.complete();
  }

  // ---- the proxy's own answers ----

  /** Answer locally with a stable error code. `close`: the request framing cannot be trusted. */
  fail(code: ErrorCode, close: boolean): void {
    this.errorCode = code;
    const down = this.down;
    if (down.headersSent || this.ended) return;
    this.status = ERRORS[code].status;
    // The unread rest of the body would be taken for the next request: the connection must close.
    if (close || (this.body !== null && !this.body.complete)) down.closeAfter = true;
    const h = this.gen.snapshot.node.headers;
    if (this.grpc) {
      this.status = 200;
      sendGrpcError(down, code, h.requestId, this.requestId);
    } else
      this.bytesOut = sendError(down, code, {
        serverTokens: h.serverTokens,
        requestIdHeader: h.requestId,
        requestId: this.requestId,
        head: this.method === 'HEAD',
      });
    this.complete();
  }

  /** Answer a request whose framing the listener refused, without routing it; the connection closes. */
  refuse(code: ErrorCode): void {
    this.fail(code, true);
  }

  /** The winning try failed after its head was relayed: the client learns it by the cut. */
  cut(code: ErrorCode): void {
    if (this.ended) return;
    this.errorCode = code;
    this.encoder?.destroy();
    this.down.abort();
    this.complete();
  }

  /** Kong's answer to plain HTTP on an https-only route (reply.ts). */
  private upgradeToHttps(status: number, host: string, url: string): void {
    this.status = status;
    this.bytesOut = sendHttpsUpgrade(this.down, status, host, url);
    this.complete();
  }

  /** A plugin answered in the access phase: write its reply (nothing was forwarded). */
  private localReply(reply: LocalReply): void {
    this.status = reply.status;
    const h = this.gen.snapshot.node.headers;
    if (this.body !== null && !this.body.complete) this.down.closeAfter = true;
    this.bytesOut = sendLocalReply(this.down, reply, this.plugins!, {
      serverTokens: h.serverTokens,
      requestIdHeader: h.requestId,
      requestId: this.requestId,
      head: this.method === 'HEAD',
    });
    this.complete();
  }

  // ---- the end ----

  /** The exchange is over: release what it holds, count it, write its access-log line. */
  private complete(): void {
    if (this.recorded) return;
    this.recorded = true;
    this.ended = true;
    const tries = this.tries;
    tries?.end();
    const body = this.body;
    if (body !== null && !body.complete) body.fail('FULCRUM_ERR_CLIENT_ABORTED');
    this.gen.inflight--;
    if (this.rawFrom !== null) this.bytesOut = this.rawFrom.call?.bodyBytes ?? 0;
    const now = this.core.clock.monoMs();
    const route = this.route;
    const status = this.status;
    const bytesIn = this.tunnelBytesIn >= 0 ? this.tunnelBytesIn : (body?.bytes ?? 0);
    if (route !== null) {
      route.byClass[status >= 100 && status < 600 ? (status / 100) | 0 : 0]!.inc();
      route.duration.observe((now - this.startMs) / 1000);
      if (bytesIn > 0) route.bytesIn.inc(bytesIn);
      if (this.bytesOut > 0) route.bytesOut.inc(this.bytesOut);
    }
    if (this.errorCode !== null) this.core.metrics.errors.labels({ code: this.errorCode }).inc();
    if (this.plugins !== null) this.plugins.log(status);
    // The entry costs a few thousand instructions (the User-Agent made a string, the durations):
    // made only for the access log or the request's trace.
    if (this.core.accessLogging || this.trace !== null) this.logEntry(status, now, bytesIn);
    this.core.onExchangeEnd(this.gen);
  }

  /** The access log's entry (and the trace's last attributes). */
  private logEntry(status: number, now: number, bytesIn: number): void {
    const route = this.route;
    const tries = this.tries;
    const upstreamMs = tries === null ? -1 : tries.upstreamMs;
    const entry = {
      request_id: this.requestId,
      client_ip: this.clientIp,
      method: this.method,
      path: this.down.target,
      status,
      route: route?.label ?? null,
      service: this.service?.spec.name || route?.serviceLabel || null,
      target: tries?.target?.target ?? null,
      tries: tries?.count ?? 0,
      upstream_ms: upstreamMs < 0 ? null : Math.round(upstreamMs * 1000) / 1000,
      total_ms: Math.round((now - this.startMs) * 1000) / 1000,
      bytes_in: bytesIn,
      bytes_out: this.bytesOut,
      error: this.errorCode,
      host: this.down.host || null,
      user_agent: this.down.fields.get('user-agent') ?? null,
      consumer: this.plugins?.consumerName() ?? null,
      reason: this.plugins?.rejection ?? null,
    };
    this.core.accessLog(entry);
    if (this.trace !== null) this.trace.end(entry);
  }
}

export type { Socket };
