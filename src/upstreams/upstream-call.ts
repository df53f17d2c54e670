/**
 * The contract between a try (src/proxy/try.ts) and the pool that carries it to one target, for
 * HTTP/1.1 (h1-pool.ts) and HTTP/2 (h2-pool.ts) alike: the request as the pool needs it, the
 * events of the response, and the handle the try keeps to resume, abort or ask for the raw coding.
 */
import type { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { Fields } from '../http1/fields.ts';
import type { Framing } from '../http1/message.ts';
import type { BodyChannel } from '../proxy/body-channel.ts';

export interface UpstreamRequest {
  readonly method: string;
  /** HTTP/1.1 targets: the whole head, start line to blank line, framing fields included. */
  readonly head: Buffer | null;
  /** HTTP/2 targets: the path, and the fields as [name, value, ...] (`host` becomes :authority). */
  readonly path: string;
  readonly fields: readonly string[] | null;
  readonly body: BodyChannel | Buffer | null;
  /** HTTP/1.1: the pool chunk-codes the channel's data (a body of unknown length from HTTP/2). */
  readonly encodeChunks: boolean;
  /** A WebSocket upgrade: a 101 hands the connection over (onUpgrade). */
  readonly upgrade: boolean;
  /** HEAD: the response has no body whatever its framing fields say. */
  readonly headOnly: boolean;
  /** The TLS server name for a new connection (https targets), '' for none. */
  readonly servername: string;
  /** To the response head, and between two reads of its body (Kong's read_timeout). */
  readonly readTimeoutMs: number;
  /** Between two writes of the request body while the target does not take it (write_timeout). */
  readonly writeTimeoutMs: number;
}

export interface UpstreamHead {
  readonly status: number;
  readonly reason: string;
  readonly fields: Fields;
  readonly framing: Framing;
  /** HTTP/1.x minor version of the target's answer (1 for HTTP/2). */
  readonly minor: number;
  /** Fields its Connection field names (hop-by-hop for this response), or null. */
  readonly named: readonly string[] | null;
}

/** What a pool tells the try, in this order: connected?, informational*, head, data*, end | error. */
export interface UpstreamHandler {
  /** The request left the pool's queue and is being written to a connection. */
  onConnected(): void;
  /** A 1xx answer other than 101 (103 Early Hints, 100 Continue). */
  onInformational(status: number, fields: Fields): void;
  /** The response head. False: do not deliver body bytes until `call.resume()`. */
  onHead(head: UpstreamHead): boolean;
  /** A 101 to an upgrade: the connection (and what followed the head) is the try's now. */
  onUpgrade(head: UpstreamHead, socket: Duplex, rest: Buffer): void;
  /** Body bytes. False: stop reading from the target until `call.resume()`. */
  onData(chunk: Buffer): boolean;
  onEnd(trailers: Fields | null): void;
  onError(err: Error): void;
  /** The read that brought a head or body bytes is done: what was relayed may leave now. */
  onReadEnd(): void;
}

export interface UpstreamCall {
  /** The handler can take body bytes again. */
  resume(): void;
  /** Give the request up: its connection is closed (never reused); onError follows unless done. */
  abort(err?: Error): void;
  /**
   * Called from onHead: deliver a chunked body as the target coded it (sizes, trailers and the
   * last chunk included) for a client that takes the same coding. No effect on other framings.
   */
  passRaw(): void;
  /** Body bytes of the response received so far (its data, whatever the coding on the wire). */
  readonly bodyBytes: number;
}

export interface TargetPool {
  dispatch(req: UpstreamRequest, handler: UpstreamHandler): UpstreamCall;
  /** Stop taking requests; close connections once idle. */
  close(): Promise<void>;
  destroy(): Promise<void>;
}

/** Why a call to a target failed: the try maps this to a retry condition and a stable code. */
export type UpstreamFailure =
  /** No connection: refused, unreachable, DNS, TLS handshake. Nothing reached the target. */
  | 'connect'
  | 'connect-timeout'
  /** The connection closed or reset before (or while) the response arrived. */
  | 'reset'
  /** No response head within read_timeout, or a body read gap longer than it. */
  | 'timeout'
  /** The target stopped taking the request body for longer than write_timeout. */
  | 'write-timeout'
  /** The response could not be parsed, or its framing was ambiguous. */
  | 'bad-response'
  /** The try gave the request up (its own abort). */
  | 'aborted'
  /** The pool was closed. */
  | 'closed';

export class UpstreamError extends Error {
  readonly failure: UpstreamFailure;
  /** The system error code behind it (ECONNREFUSED, CERT_HAS_EXPIRED, ...), or ''. */
  readonly code: string;
  /** Whether any byte of a response had arrived. */
  readonly responded: boolean;

  constructor(failure: UpstreamFailure, message: string, code = '', responded = false) {
    super(message);
    this.failure = failure;
    this.code = code;
    this.responded = responded;
  }
}
