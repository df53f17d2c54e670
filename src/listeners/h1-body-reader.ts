/**
 * One request body read off a client connection's bytes: by its Content-Length, or chunked (the
 * coded bytes passed on as they came, validated by the decoder as they stream; the data bytes are
 * what the body's limit counts). The connection (h1-connection.ts) owns what happens around it:
 * pausing the socket, the next request, refusing a bad body.
 */
import type { Buffer } from 'node:buffer';
import { ChunkedDecoder } from '../http1/chunked.ts';
import type { Fields } from '../http1/fields.ts';
import type { BodyChannel } from '../proxy/body-channel.ts';
import type { H1Request } from './h1-request.ts';

/** What read() found: the body wants more bytes, is full for now, is complete, or is malformed. */
export const BODY_MORE = 0;
export const BODY_FULL = 1;
export const BODY_DONE = 2;
export const BODY_BAD = 3;

function noSink(): void {}

export class H1BodyReader {
  readonly req: H1Request;
  readonly body: BodyChannel;
  private remaining: number;
  private decoder: ChunkedDecoder | null;
  /** What the last read() found (BODY_*). */
  outcome = BODY_MORE;
  /** The chunked body's trailers, once BODY_DONE. */
  trailers: Fields | null = null;

  /** `length` the Content-Length, or -1 for a chunked body (its trailer section at most `maxTrailerBytes`). */
  constructor(req: H1Request, body: BodyChannel, length: number, maxTrailerBytes: number) {
    this.req = req;
    this.body = body;
    this.remaining = length;
    this.decoder = length < 0 ? new ChunkedDecoder(maxTrailerBytes) : null;
  }

  /** Body bytes from `buf[i]`; returns where the body ended in `buf` (its length when it did not). */
  read(buf: Buffer, i: number): number {
    const body = this.body;
    const d = this.decoder;
    if (d === null) {
      const n = Math.min(this.remaining, buf.length - i);
      this.remaining -= n;
      const more = body.push(i === 0 && n === buf.length ? buf : buf.subarray(i, i + n));
      if (this.remaining === 0) {
        this.outcome = BODY_DONE;
        return i + n;
      }
      this.outcome = more ? BODY_MORE : BODY_FULL;
      return buf.length;
    }
    const before = d.bytes;
    const end = d.push(buf, i, buf.length, noSink);
    if (end < 0) {
      this.decoder = null;
      this.outcome = BODY_BAD;
      return buf.length;
    }
    const more = end > i ? body.push(buf.subarray(i, end), d.bytes - before) : true;
    if (d.done) {
      this.trailers = d.trailers;
      this.decoder = null;
      this.outcome = BODY_DONE;
      return end;
    }
    this.outcome = more ? BODY_MORE : BODY_FULL;
    return buf.length;
  }
}
