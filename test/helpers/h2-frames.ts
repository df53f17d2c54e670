/**
 * A hand-made HTTP/2 client for attack tests: raw frames over a net.Socket (RFC 9113 §4.1), with a
 * minimal HPACK encoder (literal fields without indexing, no Huffman, RFC 7541 §6.2.2), so a test
 * can send what no well-behaved client library would: rapid resets, CONTINUATION floods,
 * SETTINGS/PING floods.
 */
import { connect, type Socket } from 'node:net';

export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
export const FLAG = { END_STREAM: 1, ACK: 1, END_HEADERS: 4 } as const;
export const ERROR = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  FLOW_CONTROL_ERROR: 3,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  ENHANCE_YOUR_CALM: 11,
} as const;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
export function hpackInt(value: number, prefixBits: number, firstByte: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [firstByte | value];
  const out = [firstByte | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A header block of literal fields without indexing (new names), in order. */
export function hpack(fields: readonly [string, string][], sizeUpdate = true): Buffer {
  const parts: Buffer[] = sizeUpdate ? [Buffer.from([0x20])] : [];
  for (const [name, value] of fields) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00, ...hpackInt(n.length, 7, 0)]), n, Buffer.from(hpackInt(v.length, 7, 0)), v);
  }
  return Buffer.concat(parts);
}

/**
 * A request's header block. It opens with a dynamic table size update to 0 (RFC 7541 §6.3): a
 * server that advertised a HEADER_TABLE_SIZE below 4096 requires one after the SETTINGS ACK, and 0
 * is always allowed.
 */
export function requestBlock(path = '/', authority = 'localhost', extra: [string, string][] = []): Buffer {
  return hpack([
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', path],
    [':authority', authority],
    ...extra,
  ]);
}

export function settings(entries: [number, number][] = []): Buffer {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, v], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(v, i * 6 + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, p);
}

export function rstStream(streamId: number, code: number = ERROR.CANCEL): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, streamId, p);
}

export function ping(n: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(n, 4);
  return frame(FRAME.PING, 0, 0, p);
}

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** A raw HTTP/2 connection: frames sent as written, frames received parsed and kept in order. */
export class RawH2 {
  readonly socket: Socket;
  readonly frames: Frame[] = [];
  closed = false;
  private buf: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 9) {
        const len = this.buf.readUIntBE(0, 3);
        if (this.buf.length < 9 + len) break;
        this.frames.push({
          type: this.buf[3]!,
          flags: this.buf[4]!,
          streamId: this.buf.readUInt32BE(5) & 0x7fffffff,
          payload: this.buf.subarray(9, 9 + len),
        });
        this.buf = this.buf.subarray(9 + len);
      }
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Connect, send the preface and an empty SETTINGS. */
  static async open(port: number): Promise<RawH2> {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const c = new RawH2(socket);
    c.write(Buffer.concat([PREFACE, settings()]));
    return c;
  }

  write(b: Buffer): boolean {
    if (this.socket.destroyed) return false;
    return this.socket.write(b);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Wait until `pred` holds (checked on every frame and on close), or fail after `ms`. */
  async until(pred: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  goaway(): { lastStreamId: number; code: number } | null {
    const g = this.frames.find((f) => f.type === FRAME.GOAWAY);
    if (g === undefined) return null;
    return { lastStreamId: g.payload.readUInt32BE(0) & 0x7fffffff, code: g.payload.readUInt32BE(4) };
  }

  /** The server's first SETTINGS, as id → value. */
  serverSettings(): Map<number, number> | null {
    const s = this.frames.find((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0);
    if (s === undefined) return null;
    const out = new Map<number, number>();
    for (let i = 0; i + 6 <= s.payload.length; i += 6)
      out.set(s.payload.readUInt16BE(i), s.payload.readUInt32BE(i + 2));
    return out;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
