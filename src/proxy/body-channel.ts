/**
 * A request body on its way from the client to a target: one producer (the client's codec, HTTP/1.1
 * or HTTP/2) and at most one consumer at a time (the try sending it, or the plugins' buffer), with
 * backpressure both ways and no stream machinery in between (ARCHITECTURE.md rule 8).
 *
 * - The producer `push`es chunks; false asks it to stop reading from the client until `onResume`
 *   is called. Chunks wait in a queue while no consumer is attached (the body is not read from the
 *   client until someone wants it, beyond `highWaterBytes`).
 * - Bodies up to `keepLimit` bytes are kept as they pass, so that a retry can replay a body the
 *   first try consumed (Envoy buffers for retries the same way); `replay()` returns it whole.
 * - The body is counted (`bytes`, for the access log) and limited (`limit`: 413).
 * - `raw`: the chunks are the client's chunked coding as it came (validated), for an HTTP/1.1
 *   target that takes it unchanged; otherwise they are the data alone.
 */
import { Buffer } from 'node:buffer';
import type { ErrorCode } from '../core/errors.ts';
import { noteRelayed } from '../core/memory.ts';
import type { Fields } from '../http1/fields.ts';

/** What reads a body. */
export interface BodyConsumer {
  /** A chunk; false: stop until the consumer calls `channel.resume()`. */
  data(chunk: Buffer): boolean;
  /** The body is complete (`trailers`: its trailer fields, when chunked or HTTP/2). */
  end(trailers: Fields | null): void;
  /** The client's body failed: it aborted, was too large, or its framing broke. */
  error(code: ErrorCode): void;
}

/** Bytes queued without a consumer before the producer is asked to wait. */
const HIGH_WATER_BYTES = 64 * 1024;

export class BodyChannel {
  /** Data bytes received from the client so far. */
  bytes = 0;
  complete = false;
  failed: ErrorCode | null = null;
  trailers: Fields | null = null;
  /** The declared length (Content-Length), or -1 when the body is chunked or HTTP/2 framed. */
  readonly length: number;
  readonly raw: boolean;
  /** 0: no limit. */
  limit: number;
  /** Called when a producer that was told to wait may read again. */
  onResume: (() => void) | null = null;
  /** Called once, the first time the body is wanted (Expect: 100-continue is answered then). */
  onDemand: (() => void) | null = null;
  /** Called once when the whole body has arrived. */
  onComplete: (() => void) | null = null;
  /** Called once if the body fails (the exchange answers the client). */
  onFailure: ((code: ErrorCode) => void) | null = null;
  /** Called on every chunk, end or failure while no consumer is attached (a plugin's buffer watches). */
  onProgress: (() => void) | null = null;
  private consumer: BodyConsumer | null = null;
  private queue: Buffer[] = [];
  private queued = 0;
  /** Bytes that may wait in the queue (raised while a plugin buffers the body). */
  private highWater = HIGH_WATER_BYTES;
  private paused = false;
  private kept: Buffer[] | null;
  private keepLimit: number;

  constructor(length: number, raw: boolean, limit: number, keepLimit: number) {
    this.length = length;
    this.raw = raw;
    this.limit = limit;
    this.keepLimit = keepLimit;
    this.kept = keepLimit > 0 ? [] : null;
  }

  /** A whole body known in advance (a plugin's replacement): complete, kept, never read from a client. */
  static of(body: Buffer): BodyChannel {
    const c = new BodyChannel(body.length, false, 0, body.length);
    c.push(body);
    c.end(null);
    return c;
  }

  // ---- producer side ----

  /** A chunk from the client. False: stop reading until `onResume`. */
  push(chunk: Buffer, dataBytes = chunk.length): boolean {
    if (this.complete || this.failed !== null) return false;
    this.bytes += dataBytes;
    noteRelayed(chunk.length);
    if (this.limit > 0 && this.bytes > this.limit) {
      this.fail('FULCRUM_ERR_PAYLOAD_TOO_LARGE');
      return false;
    }
    if (this.kept !== null) {
      if (this.bytes <= this.keepLimit) this.kept.push(chunk);
      else this.kept = null;
    }
    const c = this.consumer;
    if (c !== null && this.queue.length === 0) {
      this.consumed = true;
      if (c.data(chunk)) return true;
      this.paused = true;
      return false;
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.onProgress?.();
    if (this.queued < this.highWater) return true;
    this.paused = true;
    return false;
  }

  end(trailers: Fields | null): void {
    if (this.complete || this.failed !== null) return;
    this.complete = true;
    this.trailers = trailers;
    const done = this.onComplete;
    this.onComplete = null;
    done?.();
    if (this.consumer !== null && this.queue.length === 0) this.consumer.end(trailers);
    else this.onProgress?.();
  }

  fail(code: ErrorCode): void {
    if (this.complete || this.failed !== null) return;
    this.failed = code;
    this.queue = [];
    this.queued = 0;
    this.kept = null;
    // The owner answers first (413, 400...); the try reading the body then only cleans up.
    const f = this.onFailure;
    this.onFailure = null;
    f?.(code);
    const c = this.consumer;
    this.consumer = null;
    if (c !== null) c.error(code);
    this.onProgress?.();
  }

  // ---- consumer side ----

  /** Start reading: queued chunks are delivered now, then the rest as it arrives. */
  attach(c: BodyConsumer): void {
    this.consumer = c;
    this.demand();
    if (this.failed !== null) {
      this.consumer = null;
      c.error(this.failed);
      return;
    }
    this.flush();
  }

  /** The consumer stops reading (its try is over); what it has not read stays unread. */
  detach(c: BodyConsumer): void {
    if (this.consumer === c) this.consumer = null;
  }

  /** The consumer that said "stop" can take more. */
  resume(): void {
    if (this.consumer === null) return;
    this.flush();
  }

  /** Let `bytes` wait in the queue with no consumer (a plugin buffering the body). */
  bufferUpTo(bytes: number): void {
    this.highWater = Math.max(HIGH_WATER_BYTES, bytes + 1);
    this.demand();
    this.wake();
  }

  /**
   * Keep at least `n` bytes for replays. Raised while nothing was handed on yet (a plugin that
   * buffers the body makes it replayable whole), it takes back what is still queued.
   */
  keepAtLeast(n: number): void {
    if (n <= this.keepLimit) return;
    this.keepLimit = n;
    if (this.kept === null && !this.consumed && this.bytes === this.queued && this.bytes <= n)
      this.kept = [...this.queue];
  }

  /** The chunks queued so far (for a plugin reading the buffered body). */
  queuedChunks(): readonly Buffer[] {
    return this.queue;
  }

  get queuedBytes(): number {
    return this.queued;
  }

  /** Whether the body has been handed (in part) to a consumer: a retry then needs `replay()`. */
  get started(): boolean {
    return this.consumed;
  }
  private consumed = false;

  /** The whole body, when it has all arrived and was small enough to keep; else null. */
  replay(): Buffer | null {
    if (!this.complete || this.kept === null) return null;
    if (this.kept.length !== 1) this.kept = [Buffer.concat(this.kept)];
    return this.kept[0] ?? Buffer.alloc(0);
  }

  private demand(): void {
    const d = this.onDemand;
    if (d !== null) {
      this.onDemand = null;
      d();
    }
  }

  private flush(): void {
    const c = this.consumer;
    if (c === null) return;
    while (this.queue.length > 0) {
      const chunk = this.queue.shift()!;
      this.queued -= chunk.length;
      this.consumed = true;
      if (!c.data(chunk)) {
        // The consumer is full: it calls resume() when it can take more.
        if (this.consumer !== c) return;
        this.paused = true;
        return;
      }
      if (this.consumer !== c) return;
    }
    if (this.complete) {
      c.end(this.trailers);
      return;
    }
    this.wake();
  }

  private wake(): void {
    if (!this.paused) return;
    this.paused = false;
    const r = this.onResume;
    if (r !== null) r();
  }
}
