/**
 * Fulcrum's HTTP/1.1 parser driven as the proxy drives it, without sockets: requests as the client
 * connection reads them (src/listeners/h1-connection.ts: HeadParser + requestMessage +
 * ChunkedDecoder, pipelined heads, the pending buffer re-parsed from the head's first byte), and
 * responses as the upstream connection reads them (src/upstreams/h1-pool.ts: 1xx heads, then
 * responseMessage's framing). What each reads is a `Reading`, the same shape llhttp's readings
 * take (llhttp-oracle.ts), so that the two can be compared (http1-compare.ts) and so that a
 * reading can be checked not to depend on how the bytes were split.
 */
import { ChunkedDecoder } from '../../src/http1/chunked.ts';
import type { RawFields } from '../../src/http1/fields.ts';
import { type HeadLimits, HeadParser, PARSE, type ParseResult } from '../../src/http1/head-parser.ts';
import {
  type Framing,
  type RequestMessage,
  requestMessage,
  responseMessage,
} from '../../src/http1/message.ts';
import { UPSTREAM_MAX_HEADER_BYTES } from '../../src/upstreams/h1-pool.ts';

/** One message as read: its head, its body's data bytes and trailers, whether it was read whole. */
export interface ReadMessage {
  /** Requests: the method; responses: ''. */
  method: string;
  /** Requests: the target as sent; responses: ''. */
  target: string;
  /** Responses: the status (0 for requests). */
  status: number;
  /** Responses: the reason phrase. */
  reason: string;
  /** `1.0` or `1.1`. */
  version: string;
  /** [name, value, ...], names as sent, values without surrounding whitespace. */
  headers: string[];
  /** The body's data bytes (chunked coding removed), latin1. */
  body: string;
  trailers: string[];
  /** The whole message was read (the head and all of its body). */
  complete: boolean;
}

export interface Reading {
  messages: ReadMessage[];
  /** Why reading stopped on an error ('head-400', 'chunked', an llhttp code...), else null. */
  refused: string | null;
  /** Reading stopped after the last message by choice: it ended its connection (or was a response). */
  closed: boolean;
}

/** The listener's limits when nothing is configured (src/config/normalize.ts defaults). */
export const LISTENER_DEFAULT_LIMITS: HeadLimits = {
  maxHeadBytes: 32768,
  // max_headers (100) + 1, as the connection builds its parser.
  maxFields: 101,
  maxTargetBytes: 8192,
};

/** The upstream connection's response limits (src/upstreams/h1-pool.ts RESPONSE_LIMITS). */
export const UPSTREAM_RESPONSE_LIMITS: HeadLimits = {
  maxHeadBytes: UPSTREAM_MAX_HEADER_BYTES,
  maxFields: 500,
  maxTargetBytes: 0,
};

function headRefusal(r: ParseResult): string {
  if (r === PARSE.TOO_LARGE) return 'head-431';
  if (r === PARSE.URI_TOO_LONG) return 'head-414';
  return 'head-400';
}

/**
 * Work allowed per input byte (loop turns of a reader, each of which must consume a byte or end a
 * head): more than this is a parser that stopped making progress, reported as a hang.
 */
const MAX_TURNS_PER_BYTE = 4;

export class NoProgressError extends Error {}

/** A message whose head was read: its start line's parts, version and fields. */
function headRead(
  start: Pick<ReadMessage, 'method' | 'target' | 'status' | 'reason'>,
  minor: number,
  f: RawFields,
): ReadMessage {
  return { ...start, version: `1.${minor}`, headers: f.toFlat(), body: '', trailers: [], complete: false };
}

function flat(f: RawFields | null): string[] {
  return f === null ? [] : f.toFlat();
}

/** Requests from one client connection, as h1-connection.ts reads them. */
export class RequestReader {
  private readonly parser: HeadParser;
  private readonly maxTrailerBytes: number;
  private pending: Buffer | null = null;
  private state: 'head' | 'body' | 'stopped' = 'head';
  private decoder: ChunkedDecoder | null = null;
  private remaining = 0;
  private cur: ReadMessage | null = null;
  /** The message being read ends the connection. */
  private last = false;
  private turns = 0;
  private budget = 64;
  private readonly reading: Reading = { messages: [], refused: null, closed: false };

  constructor(limits: HeadLimits = LISTENER_DEFAULT_LIMITS) {
    this.parser = new HeadParser('request', limits);
    this.maxTrailerBytes = limits.maxHeadBytes;
  }

  push(chunk: Buffer): void {
    this.budget += MAX_TURNS_PER_BYTE * chunk.length;
    this.dispatch(chunk);
  }

  /** The input ended: what was read. */
  finish(): Reading {
    return this.reading;
  }

  private turn(): void {
    if (++this.turns > this.budget) throw new NoProgressError('request reader made no progress');
  }

  private dispatch(chunk: Buffer): void {
    this.turn();
    if (this.state === 'head') this.readHeads(chunk);
    else if (this.state === 'body') {
      const end = this.readBody(chunk, 0);
      if (end < chunk.length) this.dispatch(chunk.subarray(end));
    }
    // 'stopped': what follows a closing request, a refusal or a tunnel's start is not HTTP.
  }

  private readHeads(chunk: Buffer): void {
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let i = 0;
    while (this.state === 'head' && i < buf.length) {
      this.turn();
      const p = this.parser;
      const r = p.execute(buf, i, buf.length);
      if (r === PARSE.MORE) {
        this.pending = i === 0 ? buf : buf.subarray(i);
        return;
      }
      if (r !== PARSE.DONE) return this.refuse(headRefusal(r));
      const m = requestMessage(p.method, p.target, p.minor, p.fields(buf, i));
      const used = p.headLength;
      p.reset();
      if (m === 'bad') return this.refuse('message');
      if (used <= 0) throw new NoProgressError('a head of no bytes');
      i = this.start(m, buf, i + used);
    }
    if (i < buf.length) this.dispatch(buf.subarray(i));
  }

  /** The request whose head ended at `buf[i]`; returns where its body (if any) ended. */
  private start(m: RequestMessage, buf: Buffer, i: number): number {
    const msg = headRead({ method: m.method, target: m.target, status: 0, reason: '' }, m.minor, m.fields);
    this.reading.messages.push(msg);
    this.cur = msg;
    this.last = !m.keepAlive || m.upgrade !== null;
    const ws = m.upgrade === 'websocket' && m.method === 'GET';
    const f: Framing = m.framing;
    if (ws || f.kind === 'none' || f.kind === 'close') {
      // A WebSocket's tunnel starts after its head: the rest is not HTTP.
      this.done(null);
      return ws ? buf.length : i;
    }
    this.state = 'body';
    if (f.kind === 'length') this.remaining = f.length;
    else this.decoder = new ChunkedDecoder(this.maxTrailerBytes);
    if (i < buf.length) return this.readBody(buf, i);
    return i;
  }

  private readonly sink = (buf: Buffer, s: number, e: number): void => {
    this.cur!.body += buf.toString('latin1', s, e);
  };

  /** Body bytes `buf[i..]`; returns where the body ended in `buf`. */
  private readBody(buf: Buffer, i: number): number {
    const d = this.decoder;
    if (d === null) {
      const n = Math.min(this.remaining, buf.length - i);
      this.remaining -= n;
      this.cur!.body += buf.toString('latin1', i, i + n);
      if (this.remaining === 0) this.done(null);
      return i + n;
    }
    const end = d.push(buf, i, buf.length, this.sink);
    if (end < 0) {
      this.refuse('chunked');
      return buf.length;
    }
    if (end < i || end > buf.length) throw new NoProgressError('chunked decoder returned an index outside');
    if (d.done) {
      this.decoder = null;
      this.done(d.trailers);
    }
    return end;
  }

  private done(trailers: RawFields | null): void {
    const msg = this.cur!;
    msg.trailers = flat(trailers);
    msg.complete = true;
    this.cur = null;
    if (this.last) {
      this.state = 'stopped';
      this.reading.closed = true;
    } else this.state = 'head';
  }

  private refuse(why: string): void {
    this.reading.refused = why;
    this.state = 'stopped';
    this.pending = null;
  }
}

/** One response (after any 1xx) from a target, as h1-pool.ts reads it. */
export class ResponseReader {
  private readonly parser: HeadParser;
  /** The request was HEAD. */
  private readonly headOnly: boolean;
  private headBuf: Buffer | null = null;
  private framing: Framing | null = null;
  private remaining = 0;
  private decoder: ChunkedDecoder | null = null;
  private cur: ReadMessage | null = null;
  private over = false;
  private turns = 0;
  private budget = 64;
  private readonly reading: Reading = { messages: [], refused: null, closed: false };

  constructor(headOnly: boolean, limits: HeadLimits = UPSTREAM_RESPONSE_LIMITS) {
    this.parser = new HeadParser('response', limits);
    this.headOnly = headOnly;
  }

  private turn(): void {
    if (++this.turns > this.budget) throw new NoProgressError('response reader made no progress');
  }

  push(chunk: Buffer): void {
    this.budget += MAX_TURNS_PER_BYTE * chunk.length;
    // After the response (or an error) the connection is dropped: later bytes mean nothing.
    if (this.over) return;
    let i = 0;
    let buf = chunk;
    if (this.framing === null) {
      for (;;) {
        this.turn();
        if (this.headBuf !== null) {
          buf = Buffer.concat([this.headBuf, buf.subarray(i)]);
          this.headBuf = null;
          i = 0;
        }
        const p = this.parser;
        const r = p.execute(buf, i, buf.length);
        if (r === PARSE.MORE) {
          this.headBuf = Buffer.from(buf.subarray(i));
          return;
        }
        if (r !== PARSE.DONE) return this.refuse(headRefusal(r));
        const m = responseMessage(p.status, p.reason, p.minor, p.fields(buf, i), this.headOnly);
        if (m === 'bad') return this.refuse('message');
        if (p.headLength <= 0) throw new NoProgressError('a head of no bytes');
        i += p.headLength;
        // No request here asked to upgrade: the pool refuses a 101 ('unexpected 101').
        if (m.status === 101) return this.refuse('unexpected-101');
        const msg = headRead(
          { method: '', target: '', status: m.status, reason: m.reason },
          m.minor,
          m.fields,
        );
        this.reading.messages.push(msg);
        if (m.status < 200) {
          msg.complete = true;
          p.reset();
          if (i >= buf.length) return;
          continue;
        }
        this.cur = msg;
        this.framing = m.framing;
        if (m.framing.kind === 'none') return this.done(null);
        if (m.framing.kind === 'length') this.remaining = m.framing.length;
        else if (m.framing.kind === 'chunked') this.decoder = new ChunkedDecoder(UPSTREAM_MAX_HEADER_BYTES);
        break;
      }
    }
    if (i < buf.length) this.body(buf, i);
  }

  /** The target closed the connection. */
  finish(): Reading {
    // A body delimited by the connection's close is complete now; any other is cut short.
    if (!this.over && this.framing !== null && this.framing.kind === 'close') this.done(null);
    return this.reading;
  }

  private readonly sink = (buf: Buffer, s: number, e: number): void => {
    this.cur!.body += buf.toString('latin1', s, e);
  };

  private body(buf: Buffer, i: number): void {
    const f = this.framing!;
    if (f.kind === 'length') {
      const n = Math.min(this.remaining, buf.length - i);
      this.remaining -= n;
      this.cur!.body += buf.toString('latin1', i, i + n);
      if (this.remaining === 0) this.done(null);
      return;
    }
    if (f.kind === 'close') {
      this.cur!.body += buf.toString('latin1', i);
      return;
    }
    const d = this.decoder!;
    const end = d.push(buf, i, buf.length, this.sink);
    if (end < 0) return this.refuse('chunked');
    if (end < i || end > buf.length) throw new NoProgressError('chunked decoder returned an index outside');
    if (d.done) this.done(d.trailers);
  }

  private done(trailers: RawFields | null): void {
    this.cur!.trailers = flat(trailers);
    this.cur!.complete = true;
    this.over = true;
    this.reading.closed = true;
  }

  private refuse(why: string): void {
    this.reading.refused = why;
    this.over = true;
  }
}

/** `bytes` cut at `cuts` (sorted offsets inside it). */
export function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  let from = 0;
  for (const c of cuts) {
    if (c <= from || c >= bytes.length) continue;
    // Copies: a reader may keep a piece while the next one is being read.
    out.push(Buffer.from(bytes.subarray(from, c)));
    from = c;
  }
  out.push(Buffer.from(bytes.subarray(from)));
  return out;
}

/** What Fulcrum reads of `pieces` sent by a client, one after another, then the end of input. */
export function readRequests(pieces: readonly Buffer[], limits?: HeadLimits): Reading {
  const r = new RequestReader(limits);
  for (const p of pieces) r.push(p);
  return r.finish();
}

/** What Fulcrum reads of `pieces` sent by a target in answer to a request (`headOnly`: HEAD). */
export function readResponse(pieces: readonly Buffer[], headOnly: boolean, limits?: HeadLimits): Reading {
  const r = new ResponseReader(headOnly, limits);
  for (const p of pieces) r.push(p);
  return r.finish();
}
