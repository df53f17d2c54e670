/**
 * An RFC 8441 WebSocket stream of the HTTP/2 server codec as a Duplex, for the tunnel relay
 * (src/proxy/tunnel.ts pipes it to the target's socket): writes become DATA frames within the
 * flow-control windows, the client's DATA is pushed as it comes (the window given back as it is
 * read), end() sends END_STREAM, destroy() resets the stream with CANCEL.
 *
 * A Duplex here (not on the request hot path) because the relay is written against Node streams.
 */
import type { Buffer } from 'node:buffer';
import { Duplex } from 'node:stream';

/** The stream's side of the tunnel (stream.ts). */
export interface TunnelEnds {
  tunnelRead(): void;
  tunnelWrite(chunk: Buffer, cb: () => void): void;
  tunnelEnd(): void;
  tunnelDestroyed(): void;
}

export class StreamTunnel extends Duplex {
  private readonly stream: TunnelEnds;

  constructor(stream: TunnelEnds) {
    super({ allowHalfOpen: true });
    this.stream = stream;
  }

  override _read(): void {
    this.stream.tunnelRead();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.stream.tunnelWrite(chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.stream.tunnelEnd();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.stream.tunnelDestroyed();
    cb(err);
  }
}
