/**
 * The request body on its way to the target: counted as it streams (for the access log and the
 * body-size limit), decoupled from the client socket so that a failed upstream destroys this
 * stream and not the client's connection (the client still gets its 502), and watched for the
 * service's `write_timeout`: once the target's connection is up, if the target stops taking the
 * body (this stream's buffer stays full) for that long, the stream fails with
 * FULCRUM_ERR_UPSTREAM_TIMEOUT (nginx's proxy_send_timeout: "between two successive writes").
 * Bodies up to the retry policy's `buffer_body` are also kept as they pass, so that a retry can
 * replay a body the first try consumed (Envoy buffers for retries the same way).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { FulcrumError } from '../core/errors.ts';
import { noteRelayed } from '../core/memory.ts';

export class BodyMeter extends Transform {
  bytes = 0;
  private readonly limit: number;
  private writeTimeoutMs = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Chunks kept for a replay while the body fits in `keepLimit`; null once it did not. */
  private kept: Buffer[] | null;
  private readonly keepLimit: number;
  private complete = false;

  constructor(limit: number, keepLimit = 0) {
    super({ highWaterMark: 65536 });
    this.limit = limit;
    this.keepLimit = keepLimit;
    this.kept = keepLimit > 0 ? [] : null;
  }

  /** The whole body, when it has been received and fitted the keep limit; else null. */
  replay(): Buffer | null {
    if (!this.complete || this.kept === null) return null;
    if (this.kept.length !== 1) this.kept = [Buffer.concat(this.kept)];
    return this.kept[0] ?? Buffer.alloc(0);
  }

  /** Start enforcing the write timeout (called once the target's connection is up). */
  watchWrites(ms: number): void {
    this.writeTimeoutMs = ms;
    if (this.readableLength >= this.readableHighWaterMark) this.arm();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    noteRelayed(chunk.length);
    if (this.limit > 0 && this.bytes > this.limit) {
      cb(new FulcrumError('FULCRUM_ERR_PAYLOAD_TOO_LARGE'));
      return;
    }
    if (this.kept !== null) {
      if (this.bytes <= this.keepLimit) this.kept.push(chunk);
      else this.kept = null;
    }
    cb(null, chunk);
    // The consumer (undici writing to the target) has not drained what we hold: it is blocked.
    if (this.writeTimeoutMs > 0 && this.readableLength >= this.readableHighWaterMark) this.arm();
  }

  override _read(size: number): void {
    this.disarm();
    super._read(size);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.disarm();
    super._destroy(err, cb);
  }

  override _flush(cb: TransformCallback): void {
    this.complete = true;
    this.disarm();
    cb();
  }

  private arm(): void {
    if (this.timer !== null || this.writeTimeoutMs <= 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.destroy(
        new FulcrumError('FULCRUM_ERR_UPSTREAM_TIMEOUT', 'the target stopped reading the request body'),
      );
    }, this.writeTimeoutMs);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}
