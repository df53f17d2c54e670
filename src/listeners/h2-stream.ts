/**
 * One HTTP/2 stream as the Exchange's Downstream, on node:http2's stream API (not its
 * compatibility layer): the request from the stream's header list, its body into a BodyChannel
 * with backpressure (DATA frames, flow-controlled by nghttp2), the response as `respond()`, DATA
 * and trailers. A response cut short resets the stream with INTERNAL_ERROR, as HTTP/1.1 closes
 * its connection (RST_STREAM with NO_ERROR would read as a complete response).
 */
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { constants, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { unmapIPv4 } from '../core/net.ts';
import { type Fields, StringFields } from '../http1/fields.ts';
import { H } from '../http1/syntax.ts';
import { CONNECTION_SPECIFIC, responseFields } from '../http2/messages.ts';
import { BodyChannel } from '../proxy/body-channel.ts';
import type { Downstream, DownstreamEvents, OutHead } from '../proxy/downstream.ts';
import type { ProxiedSocket } from './h1-connection.ts';

/** respond() options, shared (node:http2 copies them). */
const END_STREAM = Object.freeze({ endStream: true });
const WAIT_FOR_TRAILERS = Object.freeze({ waitForTrailers: true });

export class H2Stream implements Downstream {
  readonly h2 = true;
  readonly stream: ServerHttp2Stream;
  readonly socket: Socket;
  readonly localPort: number;
  readonly clientIp: string;
  readonly method: string;
  readonly target: string;
  readonly minor = 1;
  readonly fields: Fields;
  readonly host: string;
  readonly expectContinue: boolean;
  readonly body: BodyChannel | null;
  readonly connectionNamed = null;
  readonly forwardCache = null;
  readonly upgrade: string | null;
  closeAfter = false;
  headersSent = false;
  finished = false;
  events: DownstreamEvents | null = null;
  private done = false;
  private trailers: OutgoingHttpHeaders | null = null;
  private waitingDrain = false;

  /**
   * `raw` is the stream's header list as received ([name, value, ...], pseudo-headers included).
   * An RFC 8441 WebSocket (CONNECT with `:protocol: websocket`) becomes the HTTP/1.1 handshake a
   * target expects: GET with a fresh Sec-WebSocket-Key and version 13.
   */
  constructor(stream: ServerHttp2Stream, raw: readonly string[]) {
    this.stream = stream;
    this.socket = stream.session!.socket as Socket;
    this.localPort = this.socket.localPort ?? 0;
    const proxied = (this.socket as ProxiedSocket).fulcrumClientIp;
    this.clientIp = proxied ?? unmapIPv4(this.socket.remoteAddress ?? '');
    let method = 'GET';
    let path = '';
    let authority = '';
    let protocol = '';
    const flat: string[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      if (name.charCodeAt(0) === 58 /* : */) {
        if (name === ':method') method = value;
        else if (name === ':path') path = value;
        else if (name === ':authority') authority = value;
        else if (name === ':protocol') protocol = value;
        continue;
      }
      flat.push(name, value);
    }
    const ws = method === 'CONNECT' && protocol === 'websocket';
    if (ws) {
      method = 'GET';
      flat.push('sec-websocket-key', randomBytes(16).toString('base64'));
      if (!flat.some((n, i) => i % 2 === 0 && n === 'sec-websocket-version'))
        flat.push('sec-websocket-version', '13');
    }
    const fields = new StringFields(flat);
    this.fields = fields;
    this.method = method;
    this.target = path;
    // HTTP/2 carries the host in :authority (RFC 9113 §8.3.1); a request with both uses :authority.
    this.host = authority !== '' ? authority : (fields.get('host') ?? '');
    this.expectContinue = (fields.get('expect') ?? '').toLowerCase() === '100-continue';
    this.upgrade = ws ? 'websocket' : null;
    // HTTP/2 frames a body without Content-Length: one follows unless the HEADERS ended the stream.
    if (!ws && !stream.endAfterHeaders) {
      const cl = fields.indexOfId(H.CONTENT_LENGTH);
      const n = cl < 0 ? -1 : Number(fields.value(cl));
      this.body = new BodyChannel(Number.isSafeInteger(n) && n >= 0 ? n : -1, false, 0, 0);
      this.readBody(this.body);
    } else this.body = null;
    stream.on('close', () => this.onClose());
  }

  /** Whether the request is plain CONNECT (no tunnel is opened: 400). */
  static isPlainConnect(raw: readonly string[]): boolean {
    let connect = false;
    let protocol = false;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i] === ':method' && raw[i + 1] === 'CONNECT') connect = true;
      if (raw[i] === ':protocol') protocol = true;
    }
    return connect && !protocol;
  }

  private readBody(ch: BodyChannel): void {
    const s = this.stream;
    ch.onResume = () => s.resume();
    let trailers: Fields | null = null;
    s.on('trailers', (t: Record<string, string | string[]>) => {
      const flat: string[] = [];
      for (const k in t) {
        const v = t[k];
        if (v === undefined) continue;
        if (Array.isArray(v)) for (const x of v) flat.push(k, x);
        else flat.push(k, String(v));
      }
      trailers = new StringFields(flat);
    });
    s.on('data', (chunk: Buffer) => {
      if (!ch.push(chunk)) s.pause();
    });
    s.on('end', () => ch.end(trailers));
    s.on('aborted', () => ch.fail('FULCRUM_ERR_CLIENT_ABORTED'));
  }

  /** Each write goes to the stream at once (nghttp2 packs frames itself). */
  flush(): void {}

  sendContinue(): void {
    if (!this.expectContinue || this.headersSent || this.done || this.gone()) return;
    try {
      this.stream.additionalHeaders({ ':status': 100 });
    } catch {
      // The stream went away meanwhile.
    }
  }

  sendInformational(status: number, fields: readonly string[]): void {
    if (this.headersSent || this.done || this.gone()) return;
    const h: OutgoingHttpHeaders = { ':status': status };
    addAll(h, fields);
    try {
      this.stream.additionalHeaders(h);
    } catch {
      // Hints are optional: a value nghttp2 refuses drops them.
    }
  }

  writeHead(head: OutHead): void {
    if (this.headersSent || this.done || this.gone()) return;
    const h: OutgoingHttpHeaders = { ':status': head.status };
    const flat = responseFields(head);
    for (let i = 0; i < flat.length; i += 2) addLower(h, flat[i]!, flat[i + 1]!);
    this.headersSent = true;
    const end = head.endStream === true;
    try {
      // Every body waits for trailers, even one that has none: a stream's end is then ours to send,
      // and abort() resets a stream cut short (node:http2's close() ends the writable side first,
      // which would otherwise send END_STREAM before the RST_STREAM and read as a whole response).
      this.stream.respond(h, end ? END_STREAM : WAIT_FOR_TRAILERS);
    } catch (err) {
      // A field nghttp2 refuses (the exchange answers 502), or a stream gone under us.
      if (this.gone()) {
        this.done = true;
        return;
      }
      this.headersSent = false;
      throw err;
    }
    if (end) {
      this.done = true;
      return;
    }
    this.stream.on('wantTrailers', () => this.stream.sendTrailers(this.trailers ?? {}));
  }

  write(chunk: Buffer): boolean {
    if (this.done || this.gone()) return true;
    if (this.stream.write(chunk)) return true;
    // Listened for only when needed: most responses never fill the stream's buffer.
    if (!this.waitingDrain) this.stream.once('drain', () => this.drained());
    this.waitingDrain = true;
    return false;
  }

  private drained(): void {
    if (!this.waitingDrain || this.done) return;
    this.waitingDrain = false;
    this.events?.clientDrained();
  }

  end(trailers: Fields | null): void {
    if (this.finished) return;
    this.finished = true;
    if (this.done || this.gone()) return;
    this.done = true;
    if (trailers !== null && trailers.count > 0) {
      const t: OutgoingHttpHeaders = {};
      for (let i = 0; i < trailers.count; i++) add(t, trailers.name(i), trailers.value(i));
      this.trailers = t;
    }
    this.stream.end();
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    if (!this.gone()) this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }

  tunnel(): { readonly duplex: Duplex; readonly head: Buffer } {
    this.done = true;
    return { duplex: this.stream, head: Buffer.alloc(0) };
  }

  /** The stream can no longer be written (closed or reset, possibly before its 'close' event). */
  private gone(): boolean {
    const st = this.stream;
    return st.destroyed || st.closed;
  }

  private onClose(): void {
    const gone = !this.finished;
    this.done = true;
    if (this.body !== null && !this.body.complete) this.body.fail('FULCRUM_ERR_CLIENT_ABORTED');
    if (gone) this.events?.clientGone();
  }
}

function add(h: OutgoingHttpHeaders, name: string, value: string): void {
  addLower(h, name.toLowerCase(), value);
}

/** add() for a name already in lower case. */
function addLower(h: OutgoingHttpHeaders, n: string, value: string): void {
  if (CONNECTION_SPECIFIC.has(n)) return;
  const prev = h[n];
  if (prev === undefined) h[n] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else h[n] = [String(prev), value];
}

function addAll(h: OutgoingHttpHeaders, flat: readonly string[]): void {
  for (let i = 0; i < flat.length; i += 2) add(h, flat[i]!, flat[i + 1]!);
}
