/**
 * One request on an HTTP/1.1 client connection, as the Exchange's Downstream (src/proxy/
 * downstream.ts): the response head written from the target's bytes (kept fields copied in runs)
 * or from strings, the body framed by Content-Length, chunked (the target's chunks as they came,
 * or ours) or by closing, and held until the responses before it on the connection are finished
 * (h1-connection.ts serves a connection's requests in order).
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TurnEndWriter } from '../core/turn-end.ts';
import { CRLF, chunkHead, LAST_CHUNK } from '../http1/chunked.ts';
import type { Fields } from '../http1/fields.ts';
import { headWriter } from '../http1/head-writer.ts';
import type { RequestMessage } from '../http1/message.ts';
import { H } from '../http1/syntax.ts';
import type { BodyChannel } from '../proxy/body-channel.ts';
import type { BodyMode, Downstream, DownstreamEvents, ForwardCache, OutHead } from '../proxy/downstream.ts';
import { keepResponseField } from '../proxy/headers.ts';
import { httpDateLine } from './http-date.ts';

/** What a request needs from its connection (H1Connection). */
export interface H1Owner {
  readonly socket: Socket;
  readonly clientIp: string;
  readonly localPort: number;
  readonly forwardCache: ForwardCache;
  nowMs(): number;
  /** The request's response is handed over whole: the next request may go on. */
  finished(req: H1Request): void;
  destroy(): void;
  /** The socket, taken over by a tunnel; what was read past the head. */
  detach(): Buffer | null;
  /** Finished responses' bytes held for the end of the event-loop turn (turn-end.ts). */
  readonly held: TurnEndWriter;
}

/** Standard reason phrases for the statuses a proxy sends most. */
const REASONS: Record<number, string> = {
  100: 'Continue',
  101: 'Switching Protocols',
  103: 'Early Hints',
  200: 'OK',
  201: 'Created',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  302: 'Found',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  414: 'URI Too Long',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Unknown';
}

/** Shared by every request that has no bytes after its head (a Buffer costs an object each). */
export const NO_BYTES = Buffer.alloc(0);
const VIA_LINE = Buffer.from('via: 1.1 fulcrum\r\n', 'latin1');
const CLOSE_LINE = Buffer.from('connection: close\r\n', 'latin1');
const KEEP_ALIVE_LINE = Buffer.from('connection: keep-alive\r\n', 'latin1');
const CHUNKED_LINE = Buffer.from('transfer-encoding: chunked\r\n', 'latin1');
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** `HTTP/1.1 <status> <reason>\r\n` of the statuses above, made once. */
const STATUS_LINES: Record<number, Buffer> = {};
for (const [code, reason] of Object.entries(REASONS))
  STATUS_LINES[Number(code)] = Buffer.from(`HTTP/1.1 ${code} ${reason}\r\n`, 'latin1');

/** Bytes a response waiting behind earlier ones may hold before its writer is asked to wait. */
const QUEUED_HIGH_WATER_BYTES = 64 * 1024;
/** Pieces of a response up to this size leave as one copied buffer rather than a writev. */
const JOIN_MAX_BYTES = 8 * 1024;
/** What frame() chose: no framing field, Content-Length, or chunked Transfer-Encoding. */
const FRAMED_BY_NOTHING = 0;
const FRAMED_BY_LENGTH = 1;
const FRAMED_BY_CHUNKS = 2;

/**
 * One request on an HTTP/1.1 connection, as the Exchange's Downstream. Its response goes to the
 * socket only once the responses before it are finished; until then it is held here (with
 * backpressure past QUEUED_HIGH_WATER_BYTES).
 */
export class H1Request implements Downstream {
  readonly h2 = false;
  private readonly conn: H1Owner;
  readonly socket: Socket;
  readonly clientIp: string;
  readonly localPort: number;
  readonly method: string;
  readonly target: string;
  readonly minor: number;
  readonly fields: Fields;
  readonly host: string;
  readonly expectContinue: boolean;
  readonly body: BodyChannel | null;
  readonly connectionNamed: readonly string[] | null;
  readonly upgrade: string | null;
  readonly forwardCache: ForwardCache;
  /** The client asked to keep the connection (its version and Connection field). */
  readonly keepAliveRequested: boolean;
  /** The bytes the client sent after a WebSocket request's head. */
  upgradeHead: Buffer = NO_BYTES;
  closeAfter: boolean;
  headersSent = false;
  finished = false;
  events: DownstreamEvents | null = null;
  /** Nothing more is written for this response (ended, cut, or the client left). */
  done = false;
  /** The response has been handed over whole (possibly still held, waiting its turn). */
  ended = false;
  private continued = false;
  /** How the response body is framed on the wire. */
  private framing: 'none' | 'length' | 'chunked' | 'raw' | 'close' = 'none';
  private remaining = 0;
  private waitingDrain = false;
  /**
   * Bytes of this response not yet handed to the socket: a head waiting for its first body bytes
   * (they leave together, in one writev, when the read that brought them is done: flush()), or a
   * whole response waiting behind earlier ones on the connection (`active` false).
   */
  private out: Buffer[] = [];
  private outBytes = 0;
  private active = false;
  /** The socket refused more (write returned false): the writer is told to wait. */
  private blocked = false;

  constructor(conn: H1Owner, m: RequestMessage, body: BodyChannel | null, ws: boolean) {
    this.conn = conn;
    this.socket = conn.socket;
    this.localPort = conn.localPort;
    this.clientIp = conn.clientIp;
    this.forwardCache = conn.forwardCache;
    this.method = m.method;
    this.target = m.target;
    this.minor = m.minor;
    this.fields = m.fields;
    this.host = m.host;
    this.expectContinue = m.expectContinue;
    this.body = body;
    this.connectionNamed = m.named;
    this.upgrade = ws ? 'websocket' : null;
    // A request asking to upgrade ends its connection, tunnelled or not (as Node's server did):
    // what the client sends next may be in the new protocol.
    this.keepAliveRequested = m.keepAlive && m.upgrade === null;
    this.closeAfter = !this.keepAliveRequested;
  }

  keepAlive(): boolean {
    return !this.closeAfter && this.framing !== 'close';
  }

  /** This response's turn to write: what it holds goes out now. */
  activate(): void {
    if (this.active) return;
    this.active = true;
    this.flush();
    if (this.ended) {
      this.conn.finished(this);
      return;
    }
    if (this.waitingDrain && !this.blocked) {
      this.waitingDrain = false;
      this.events?.clientDrained();
    }
  }

  /** Bytes of this response, kept until flush(). False: the writer should wait for clientDrained. */
  private emit(b: Buffer | string): boolean {
    const buf = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
    this.out.push(buf);
    this.outBytes += buf.length;
    return this.active
      ? !this.blocked && this.outBytes < QUEUED_HIGH_WATER_BYTES
      : this.outBytes < QUEUED_HIGH_WATER_BYTES;
  }

  /**
   * Hand what this response holds to the socket: one buffer as is, small pieces (a head and a short
   * body) copied into one (a plain write costs less than cork, writev and their write wraps), big
   * ones in one writev. A whole short response is held by the connection until the end of the
   * event-loop turn (`held`); anything else first writes what the connection holds.
   */
  flush(): void {
    if (!this.active || this.out.length === 0 || (this.done && !this.ended)) return;
    const out = this.out;
    const bytes = this.outBytes;
    this.out = [];
    this.outBytes = 0;
    if (this.ended && bytes <= JOIN_MAX_BYTES) {
      // A whole short response: written with the turn's other writes (see turn-end.ts). Nothing
      // more of it follows, so no backpressure to report.
      this.conn.held.hold(out.length === 1 ? out[0]! : Buffer.concat(out, bytes));
      return;
    }
    this.conn.held.flush();
    const s = this.socket;
    let ok: boolean;
    if (out.length === 1) ok = s.write(out[0]!);
    else if (bytes <= JOIN_MAX_BYTES) ok = s.write(Buffer.concat(out, bytes));
    else {
      s.cork();
      ok = true;
      for (const b of out) ok = s.write(b);
      s.uncork();
    }
    if (!ok) {
      this.blocked = true;
      this.waitingDrain = true;
    } else if (this.waitingDrain && !this.done) {
      // The writer was told to wait because too much was held here: the socket took it all.
      this.waitingDrain = false;
      this.events?.clientDrained();
    }
  }

  sendContinue(): void {
    if (!this.expectContinue || this.continued || this.headersSent || this.done) return;
    this.continued = true;
    this.emit(CONTINUE);
    this.flush();
  }

  sendInformational(status: number, fields: readonly string[]): void {
    if (this.headersSent || this.done || this.minor === 0) return;
    const w = headWriter.reset().text(`HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n`);
    for (let i = 0; i < fields.length; i += 2) w.field(fields[i]!, fields[i + 1]!);
    this.emit(w.text('\r\n').finish());
    this.flush();
  }

  writeHead(head: OutHead): void {
    if (this.headersSent || this.done) return;
    const status = head.status;
    const mode = head.body;
    const w = headWriter.reset();
    const line = head.reason === '' || head.reason === REASONS[status] ? STATUS_LINES[status] : undefined;
    if (line !== undefined) w.raw(line);
    else
      w.text('HTTP/1.1 ')
        .text(String(status))
        .text(' ')
        .text(head.reason !== '' && isPhrase(head.reason) ? head.reason : reasonPhrase(status))
        .text('\r\n');
    let date = false;
    const bodiless = mode.kind === 'none';
    const copy = head.copy;
    if (copy !== null) {
      // Kept fields go in runs: consecutive kept lines are one copy of the target's bytes.
      const ids = copy.ids;
      let run = -1;
      for (let i = 0; i < ids.length; i++) {
        if (keepResponseField(copy, i, head.named, head.keepTrailer, bodiless, head.dropVia)) {
          if (ids[i] === H.DATE) date = true;
          if (run < 0) run = i;
        } else if (run >= 0) {
          copy.writeLines(w, run, i);
          run = -1;
        }
      }
      if (run >= 0) copy.writeLines(w, run, ids.length);
    }
    const extra = head.extra;
    for (let i = 0; i < extra.length; i += 2) {
      const name = extra[i]!;
      // A 101's Connection and Upgrade are the handshake itself; elsewhere the framing is ours.
      const id = status === 101 ? 0 : framingField(name);
      if (id === 1 && !bodiless) continue;
      if (id === 2) continue;
      if (id === 3) date = true;
      w.field(name, extra[i + 1]!);
    }
    if (head.via === true) w.raw(VIA_LINE);
    if (!date) {
      w.raw(httpDateLine(this.conn.nowMs()));
    }
    const framing = this.frame(mode, status);
    // A 101's own Connection and Upgrade were in `extra`.
    if (status !== 101) {
      if (this.closeAfter || this.framing === 'close') w.raw(CLOSE_LINE);
      else if (this.minor === 0) w.raw(KEEP_ALIVE_LINE);
    }
    if (framing === FRAMED_BY_LENGTH) w.contentLength(this.remaining);
    else if (framing === FRAMED_BY_CHUNKS) w.raw(CHUNKED_LINE);
    this.headersSent = true;
    this.emit(w.text('\r\n').finish());
  }

  /** Choose the body's framing; returns which field line says it (FRAMED_*). */
  private frame(mode: BodyMode, status: number): number {
    const bodiless = this.method === 'HEAD' || status < 200 || status === 204 || status === 304;
    switch (mode.kind) {
      case 'none':
        this.framing = 'none';
        return FRAMED_BY_NOTHING;
      case 'length':
        this.framing = bodiless ? 'none' : 'length';
        this.remaining = mode.length;
        return FRAMED_BY_LENGTH;
      case 'chunked-raw':
        this.framing = bodiless ? 'none' : 'raw';
        return FRAMED_BY_CHUNKS;
      default:
        if (bodiless) {
          this.framing = 'none';
          return FRAMED_BY_NOTHING;
        }
        if (this.minor === 1) {
          this.framing = 'chunked';
          return FRAMED_BY_CHUNKS;
        }
        // HTTP/1.0 knows no chunked coding: the body ends with the connection.
        this.framing = 'close';
        this.closeAfter = true;
        return FRAMED_BY_NOTHING;
    }
  }

  write(chunk: Buffer): boolean {
    if (this.done || chunk.length === 0) return true;
    let ok: boolean;
    switch (this.framing) {
      case 'none':
        return true;
      case 'chunked':
        this.emit(Buffer.from(chunkHead(chunk.length), 'latin1'));
        this.emit(chunk);
        ok = this.emit(CRLF);
        break;
      case 'length':
        if (chunk.length > this.remaining) chunk = chunk.subarray(0, this.remaining);
        this.remaining -= chunk.length;
        ok = this.emit(chunk);
        break;
      default:
        ok = this.emit(chunk);
    }
    if (!ok) this.waitingDrain = true;
    return ok;
  }

  /** The socket took what it had: writers may go on. */
  drained(): void {
    this.blocked = false;
    if (!this.waitingDrain || this.done) return;
    this.waitingDrain = false;
    this.events?.clientDrained();
  }

  end(trailers: Fields | null): void {
    if (this.done || !this.headersSent) return;
    if (this.framing === 'chunked') {
      if (trailers === null || trailers.count === 0) this.emit(LAST_CHUNK);
      else {
        const w = headWriter.reset().text('0\r\n');
        for (let i = 0; i < trailers.count; i++) trailers.writeLine(w, i);
        this.emit(w.text('\r\n').finish());
      }
    } else if (this.framing === 'length' && this.remaining > 0) {
      // Shorter than announced: the client can only learn it from the connection closing.
      this.closeAfter = true;
    }
    this.done = true;
    this.finished = true;
    this.ended = true;
    if (this.active) {
      this.flush();
      this.conn.finished(this);
    }
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    this.conn.destroy();
  }

  tunnel(): { readonly duplex: Duplex; readonly head: Buffer } {
    this.flush();
    this.done = true;
    const ahead = this.conn.detach();
    return {
      duplex: this.socket,
      head: ahead === null ? this.upgradeHead : Buffer.concat([this.upgradeHead, ahead]),
    };
  }

  /** The connection closed (or ended) before this response was finished. */
  gone(): void {
    if (this.ended) return;
    this.done = true;
    this.events?.clientGone();
  }
}

/** 1: Content-Length, 2: Transfer-Encoding or Connection (the framing is ours), 3: Date, 0: other. */
function framingField(name: string): number {
  switch (name.length) {
    case 4:
      return name.toLowerCase() === 'date' ? 3 : 0;
    case 10:
      return name.toLowerCase() === 'connection' ? 2 : 0;
    case 14:
      return name.toLowerCase() === 'content-length' ? 1 : 0;
    case 17:
      return name.toLowerCase() === 'transfer-encoding' ? 2 : 0;
    default:
      return 0;
  }
}

/** A reason phrase a target sent may hold HTAB, SP and visible characters only. */
function isPhrase(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}
