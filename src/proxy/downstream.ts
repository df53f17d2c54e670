/**
 * The client's side of one request, as the Exchange sees it, whatever carried it: an HTTP/1.1
 * connection (src/listeners/h1-connection.ts) or an HTTP/2 stream (src/listeners/h2-stream.ts).
 * The request arrives parsed; the response goes out as a head, body chunks with backpressure, and
 * an end, or is cut short.
 */
import type { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Fields } from '../http1/fields.ts';
import type { BodyChannel } from './body-channel.ts';

/** How the body of a response follows its head. */
export type BodyMode =
  | { readonly kind: 'none' }
  | { readonly kind: 'length'; readonly length: number }
  /** Length unknown: the codec frames it (HTTP/1.1 chunked, or close-delimited for HTTP/1.0). */
  | { readonly kind: 'stream' }
  /** HTTP/1.1 only: the chunks written are already chunk-coded, last chunk and trailers included. */
  | { readonly kind: 'chunked-raw' };

export const BODY_NONE: BodyMode = Object.freeze({ kind: 'none' });
export const BODY_STREAM: BodyMode = Object.freeze({ kind: 'stream' });
export const BODY_CHUNKED_RAW: BodyMode = Object.freeze({ kind: 'chunked-raw' });

/** A response head to write. */
export interface OutHead {
  readonly status: number;
  /** The reason phrase (HTTP/1.1); '' for the standard one. */
  readonly reason: string;
  /**
   * Fields to copy as they are from the target's head, or null: all but hop-by-hop ones and those
   * its Connection field `named` (headers.ts keepResponseField), Trailer only with `keepTrailer`.
   */
  readonly copy: Fields | null;
  readonly named: readonly string[] | null;
  readonly keepTrailer: boolean;
  /** Leave the copied Via fields out: `extra` carries them merged with ours. */
  readonly dropVia?: boolean;
  /** Add `via: 1.1 fulcrum` (when the target's head had none to merge it into). */
  readonly via?: boolean;
  /** More fields, [name, value, ...], written after the copied ones. */
  readonly extra: readonly string[];
  readonly body: BodyMode;
  /** HTTP/2: send the head and end the stream in one HEADERS frame (gRPC trailers-only). */
  readonly endStream?: boolean;
}

/**
 * What an HTTP/1.1 connection keeps for the requests it carries: the forwarding fields
 * (X-Forwarded-*, X-Real-IP, Forwarded, Via) as bytes, for the Host and target Host they were
 * made for; they depend on nothing else when the client is not a trusted proxy.
 */
export interface ForwardCache {
  host: string;
  clientHost: string;
  /** The node's header settings they were made with (a reload may change Via and Forwarded). */
  settings: unknown;
  /** The forwarding field lines, as written (latin1). */
  block: string | null;
}

/** Who hears of the client side's events: the Exchange. */
export interface DownstreamEvents {
  /** The client is gone (connection closed, stream reset) before the response finished. */
  clientGone(): void;
  /** The client took what was written: writes may go on. */
  clientDrained(): void;
}

export interface Downstream {
  /** An HTTP/2 stream (no Connection field, trailers as fields, RST_STREAM to cut). */
  readonly h2: boolean;
  /** The connection's socket: TLS facts, the client certificate, the local port. */
  readonly socket: Socket;
  /** The client's address (after a PROXY protocol header, if any). */
  readonly clientIp: string;
  /** The port the client connected to (X-Forwarded-Port). */
  readonly localPort: number;
  readonly method: string;
  /** The request target as sent (origin or absolute form; HTTP/2: `:path`). */
  readonly target: string;
  /** HTTP/1.x minor version (HTTP/2: 1). */
  readonly minor: number;
  readonly fields: Fields;
  /** Host (HTTP/1.1) or :authority (HTTP/2), '' when none. */
  readonly host: string;
  /** Fields the request's Connection field names (hop-by-hop for it), or null. */
  readonly connectionNamed: readonly string[] | null;
  /** The protocol a WebSocket handshake asks for (`websocket`), else null. */
  readonly upgrade: string | null;
  readonly expectContinue: boolean;
  /** The request body, or null when it has none. */
  readonly body: BodyChannel | null;
  /** Whether the request's connection must close after this response (set before the head goes). */
  closeAfter: boolean;
  readonly headersSent: boolean;
  /** The whole response has been handed to the connection. */
  readonly finished: boolean;
  /** The connection's forwarding-fields cache (HTTP/1.1), or null. */
  readonly forwardCache: ForwardCache | null;
  /** Listener of this side's events (set by the Exchange). */
  events: DownstreamEvents | null;
  /** Answer `Expect: 100-continue` (once; no effect on HTTP/2 or when not expected). */
  sendContinue(): void;
  /** A 1xx before the head (103 Early Hints); fields [name, value, ...]. */
  sendInformational(status: number, fields: readonly string[]): void;
  writeHead(head: OutHead): void;
  /** False: the client is full; `events.clientDrained` follows. */
  write(chunk: Buffer): boolean;
  /**
   * Hand what was written to the connection now. HTTP/1.1 keeps a head and the body bytes that
   * follow it in the same read together, so that they leave in one write: the exchange flushes
   * when the read that brought them is done (end() always flushes).
   */
  flush(): void;
  /** The response is complete (`trailers` after a streamed body, when the codec carries them). */
  end(trailers: Fields | null): void;
  /** Cut the response short: HTTP/1.1 closes the connection, HTTP/2 resets the stream. */
  abort(): void;
  /**
   * Hand the transport over for a tunnel (WebSocket): HTTP/1.1 gives up its socket, with the bytes
   * the client sent after its request head; HTTP/2 gives its stream (after the 200 head went).
   */
  tunnel(): { readonly duplex: Duplex; readonly head: Buffer };
}
