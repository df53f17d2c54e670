/**
 * The request body on its way to the target: counted as it streams (for the access log and the
 * body-size limit) and decoupled from the client socket, so that a failed upstream destroys this
 * stream and not the client's connection (the client still gets its 502).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { FulcrumError } from '../core/errors.ts';

export class BodyMeter extends Transform {
  bytes = 0;
  private readonly limit: number;

  constructor(limit: number) {
    super({ highWaterMark: 65536 });
    this.limit = limit;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.limit > 0 && this.bytes > this.limit) {
      cb(new FulcrumError('FULCRUM_ERR_PAYLOAD_TOO_LARGE'));
      return;
    }
    cb(null, chunk);
  }
}
