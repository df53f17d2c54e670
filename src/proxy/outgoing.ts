/**
 * What the tries of one request send (exchange.ts's TriesHost.upstreamRequest): the HTTP/1.1 head
 * (pre-encoded, built once and reused by every try) or the HTTP/2 field list, with the forwarding
 * fields (X-Forwarded-*, Via, X-Request-Id), the plugins' edits, a client certificate's fields and
 * the trace context, and how the body is framed to the target. Built once the request is routed
 * and through the access phase, from what the exchange decided then.
 */
import { Buffer } from 'node:buffer';
import type { HeadersSpec } from '../config/types.ts';
import type { Fields } from '../http1/fields.ts';
import { headWriter } from '../http1/head-writer.ts';
import type { RequestTrace } from '../observability/trace-hooks.ts';
import type { PluginRun } from '../plugins/chain.ts';
import type { ServiceRuntime } from '../runtime/generation.ts';
import type { TargetState } from '../upstreams/target.ts';
import type { UpstreamRequest } from '../upstreams/upstream-call.ts';
import { upstreamServername } from '../upstreams/upstream-tls.ts';
import type { BodyChannel } from './body-channel.ts';
import { clientCertFields } from './client-cert.ts';
import type { Downstream } from './downstream.ts';
import {
  addForwarding,
  copyClientFields,
  FlatSink,
  type ForwardFacts,
  forwardingCacheable,
  forwardRequestFields,
  HeadSink,
} from './headers.ts';

/** The end of a request line, and the framing line of a body coded in chunks. */
const HTTP11_EOL = Buffer.from(' HTTP/1.1\r\n', 'latin1');
const CHUNKED_LINE = Buffer.from('transfer-encoding: chunked\r\n', 'latin1');

/** What the exchange decided that the tries' requests depend on. */
export interface OutgoingParts {
  readonly down: Downstream;
  readonly service: ServiceRuntime;
  readonly facts: ForwardFacts;
  /** The Host sent on is the client's (the route's `preserve_host`). */
  readonly hostPreserved: boolean;
  readonly plugins: PluginRun | null;
  readonly trace: RequestTrace | null;
  readonly method: string;
  /** The path (with query) each try sends. */
  readonly path: string;
  /** The body the tries send: the client's channel, or a plugin's replacement. */
  readonly body: BodyChannel | null;
  /** The node's header settings (the forwarding cache is valid for one value of them). */
  readonly settings: HeadersSpec;
}

export class Outgoing {
  private readonly p: OutgoingParts;
  /** The request each try sends, built once (HTTP/1.1 head, or HTTP/2 field list). */
  private h1Head: Buffer | null = null;
  private h2Fields: string[] | null = null;

  constructor(p: OutgoingParts) {
    this.p = p;
  }

  /**
   * What a try to `t` sends (TriesHost): built once per request, the body decided per try; per
   * try for a target with a Host of its own (an SRV record's name under `use_srv_name`).
   */
  request(t: TargetState, body: BodyChannel | Buffer | null): UpstreamRequest {
    const service = this.p.service;
    const s = service.spec;
    const upgrade = this.isUpgrade();
    if (this.p.trace !== null) this.h1Head = this.h2Fields = null; // each try sends its own traceparent
    const own = this.targetFacts(t);
    if (s.http2) {
      let fields: string[];
      if (own !== null) fields = this.requestFields(own);
      else {
        this.h2Fields ??= this.requestFields(this.p.facts);
        fields = this.h2Fields;
      }
      return {
        method: this.p.method,
        head: null,
        path: this.p.path,
        fields,
        body,
        encodeChunks: false,
        upgrade,
        headOnly: this.p.method === 'HEAD',
        servername: '',
        readTimeoutMs: s.readTimeoutMs,
        writeTimeoutMs: s.writeTimeoutMs,
      };
    }
    const facts = own ?? this.p.facts;
    let head: Buffer;
    if (own !== null) head = this.requestHead(body, own);
    else {
      this.h1Head ??= this.requestHead(body, facts);
      head = this.h1Head;
    }
    return {
      method: this.p.method,
      head,
      path: this.p.path,
      fields: null,
      body,
      encodeChunks: this.bodyLength() === -2,
      upgrade,
      headOnly: this.p.method === 'HEAD',
      servername: upstreamServername(s, facts.host, t.host),
      readTimeoutMs: s.readTimeoutMs,
      writeTimeoutMs: s.writeTimeoutMs,
    };
  }

  /**
   * The forwarding facts of a try to `t` when its Host differs from the request's: a target found
   * through an SRV record under `use_srv_name` gets the record's name (with `:port` off the
   * scheme's default, as Kong), unless the Host is the client's (`preserve_host`) or the
   * upstream's `host_header`. Null: the request's facts.
   */
  private targetFacts(t: TargetState): ForwardFacts | null {
    if (t.srvHost === '') return null;
    const service = this.p.service;
    const s = service.spec;
    if (this.p.hostPreserved || service.upstream.spec.hostHeader) return null;
    const host = t.port === (s.protocol === 'https' ? 443 : 80) ? t.srvHost : `${t.srvHost}:${t.port}`;
    return { ...this.p.facts, host };
  }

  /** The HTTP/1.1 head every try sends (a replayed body has the same framing as the stream). */
  private requestHead(first: BodyChannel | Buffer | null, facts: ForwardFacts): Buffer {
    const w = headWriter.reset();
    w.text(this.p.method).text(' ').text(this.p.path).raw(HTTP11_EOL);
    this.writeFields(new HeadSink(w), facts);
    if (this.isUpgrade()) w.text('connection: upgrade\r\nupgrade: websocket\r\n');
    const n = this.bodyLength();
    if (n >= 0) w.contentLength(n);
    else if (n < -1) w.raw(CHUNKED_LINE);
    else if (Buffer.isBuffer(first)) w.contentLength(first.length);
    return w.text('\r\n').finish();
  }

  /**
   * How the body is framed to the target (the same for every try): its length; -1 none; -2 chunked
   * by the pool (a body of unknown length, from HTTP/2); -3 chunked as the client coded it. A body
   * that arrived whole before the first try (small bodies, or one a plugin buffered) is sent with a
   * Content-Length whatever its framing from the client.
   */
  private bodyLength(): number {
    if (this.framedLength !== -4) return this.framedLength;
    const ch = this.p.body;
    let n = -2;
    if (ch === null) n = -1;
    else if (ch.raw) n = -3;
    else if (ch.length >= 0) n = ch.length;
    else if (ch.complete && !ch.started) n = ch.bytes;
    this.framedLength = n;
    return n;
  }

  /** bodyLength(), once decided (-4: not yet). */
  private framedLength = -4;

  /** The field list every try to an HTTP/2 target sends. */
  private requestFields(facts: ForwardFacts): string[] {
    const sink = new FlatSink();
    this.writeFields(sink, facts);
    const n = this.bodyLength();
    if (n >= 0) sink.add('content-length', String(n), true);
    return sink.out;
  }

  private writeFields(sink: HeadSink | FlatSink, facts: ForwardFacts): void {
    const down = this.p.down;
    const run = this.p.plugins;
    const edits = run?.edits ?? null;
    const certs = clientCertFields(down.socket);
    const trace = this.p.trace;
    const drop =
      edits === null && certs === null && trace === null
        ? null
        : (f: Fields, i: number) => {
            if (run?.edited(f, i) || trace?.replaces(f, i)) return true;
            return certs !== null && f.name(i).startsWith('x-client-cert-');
          };
    const cache = down.forwardCache;
    if (cache === null || !(sink instanceof HeadSink) || !forwardingCacheable(down.fields, facts)) {
      forwardRequestFields(sink, down.fields, facts, down.h2 ? null : this.connectionNamed(), drop);
    } else {
      // The same fields as forwardRequestFields, the forwarding ones from the connection's cache.
      // Host: the client's (validated by the codec) or the configuration's (validated at load).
      sink.add('host', facts.host, true);
      const te = copyClientFields(sink, down.fields, facts.requestIdHeader, this.connectionNamed(), drop);
      if (te) sink.add('te', 'trailers', true);
      const w = sink.w;
      const settings = this.p.settings;
      if (
        cache.block !== null &&
        cache.host === facts.host &&
        cache.clientHost === facts.clientHost &&
        cache.settings === settings
      )
        w.text(cache.block);
      else {
        const from = w.length;
        addForwarding(sink, down.fields, facts);
        cache.block = w.textOut(from, w.length);
        cache.host = facts.host;
        cache.clientHost = facts.clientHost;
        cache.settings = settings;
      }
      if (facts.requestIdHeader !== '') sink.add(facts.requestIdHeader, facts.requestId, true);
    }
    if (certs !== null) for (let i = 0; i < certs.length; i += 2) sink.add(certs[i]!, certs[i + 1]!, false);
    if (edits !== null)
      for (let i = 0; i < edits.length; i += 2) {
        const value = edits[i + 1]!;
        if (value !== null) sink.add(edits[i]!, value, false);
      }
    if (trace !== null) trace.writeFields(sink);
  }

  private connectionNamed(): readonly string[] | null {
    return this.p.down.connectionNamed;
  }

  /** A WebSocket handshake (HTTP/1.1 Upgrade, or RFC 8441 extended CONNECT already mapped to it). */
  private isUpgrade(): boolean {
    return this.p.down.upgrade === 'websocket';
  }
}
