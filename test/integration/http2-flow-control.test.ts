/**
 * Receive flow control and the SETTINGS deadline of Fulcrum's own HTTP/2 codec
 * (src/http2/flow-control.ts, deadlines.ts; docs/http2.md "Flow control and deadlines"), on a
 * real socket with a client written frame by frame: an H2Connection is served on 127.0.0.1:0 and
 * its streams' bodies go to a reader that stands for the target. While that reader takes nothing
 * (a target that does not read), what the client may send, and so what Fulcrum holds, is the
 * connection window, however many streams upload; once the reader takes the data both windows
 * open again and every body arrives whole. The SETTINGS ACK deadline runs on a ManualClock.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/core/clock.ts';
import type { Fields } from '../../src/http1/fields.ts';
import { H2Connection } from '../../src/http2/connection.ts';
import { SETTINGS_ACK_TIMEOUT_MS } from '../../src/http2/deadlines.ts';
import type { H2ServerStream } from '../../src/http2/stream.ts';
import { DEFAULT_HTTP2 } from '../../src/listeners/http2.ts';
import { handshake } from '../helpers/h2-conformance.ts';
import { FLAG, FRAME, frame, hpack, ping, RawH2 } from '../helpers/h2-frames.ts';

const STREAMS = 24;
const STREAM_WINDOW = 65535;
/** Each body is larger than a stream window: it needs window given back to arrive. */
const BODY_BYTES = 3 * STREAM_WINDOW + 1000;
const SETTINGS_TIMEOUT = 0x4;

/** The stand-in for the target: takes each stream's body while `reading`, else refuses it. */
class Reader {
  reading = false;
  /** Bytes handed to the reader (the consumer saw them, taken or refused). */
  got = 0;
  readonly ended = new Map<number, number>();
  private readonly streams: H2ServerStream[] = [];

  attach(st: H2ServerStream): void {
    this.streams.push(st);
    let n = 0;
    st.body!.attach({
      data: (chunk: Buffer) => {
        n += chunk.length;
        this.got += chunk.length;
        return this.reading;
      },
      end: (_t: Fields | null) => this.ended.set(st.id, n),
      error: () => {},
    });
  }

  resume(): void {
    this.reading = true;
    for (const st of this.streams) st.body!.resume();
  }
}

function serve(
  clock: ManualClock | null,
  onConn: (c: H2Connection) => void,
  reader: Reader,
): Promise<Server> {
  const srv = createServer((socket) => {
    const conn = new H2Connection(
      socket,
      {
        settings: DEFAULT_HTTP2,
        maxHeaderPairs: 100,
        keepaliveMs: 0,
        clock: clock ?? new ManualClock(),
        onStream: (st) => reader.attach(st),
        onAbuse: () => {},
        onClose: () => {},
      },
      null,
    );
    onConn(conn);
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

function pingAcked(c: RawH2, n: number): boolean {
  return c.frames.some(
    (f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0 && f.payload.readUInt32BE(4) === n,
  );
}

/** A client that sends bodies as fast as the windows it was given allow, and no faster. */
class Uploader {
  sent = 0;
  private connWindow = 65535;
  private readonly streamWindow = new Map<number, number>();
  private readonly left = new Map<number, number>();
  private seen = 0;
  private pings = 0;
  private readonly c: RawH2;

  constructor(c: RawH2) {
    this.c = c;
  }

  open(id: number, bytes: number): void {
    const head = hpack([
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', '/up'],
      [':authority', 'localhost'],
    ]);
    this.c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS, id, head));
    this.streamWindow.set(id, STREAM_WINDOW);
    this.left.set(id, bytes);
  }

  /**
   * Send what the windows allow, then a PING: once it is answered, every WINDOW_UPDATE the server
   * wrote for the data before it has arrived. Repeats until a round opens no window. Returns
   * whether every body was sent whole.
   */
  async sendAll(): Promise<boolean> {
    for (;;) {
      this.takeUpdates();
      const before = this.sent;
      for (const [id, left] of this.left) {
        let rest = left;
        while (rest > 0) {
          const n = Math.min(rest, this.streamWindow.get(id)!, this.connWindow, 16384);
          if (n <= 0) break;
          rest -= n;
          this.streamWindow.set(id, this.streamWindow.get(id)! - n);
          this.connWindow -= n;
          this.sent += n;
          this.c.write(frame(FRAME.DATA, rest === 0 ? FLAG.END_STREAM : 0, id, Buffer.alloc(n, 0x61)));
        }
        if (rest === 0) this.left.delete(id);
        else this.left.set(id, rest);
      }
      if (this.left.size === 0) return true;
      const n = ++this.pings;
      this.c.write(ping(n));
      await this.c.until(() => pingAcked(this.c, n), 5000, `PING ACK ${n}`);
      if (this.sent === before && !this.windowWaiting()) return false;
    }
  }

  private windowWaiting(): boolean {
    return (
      this.c.frames.length > this.seen &&
      this.c.frames.slice(this.seen).some((f) => f.type === FRAME.WINDOW_UPDATE)
    );
  }

  private takeUpdates(): void {
    for (; this.seen < this.c.frames.length; this.seen++) {
      const f = this.c.frames[this.seen]!;
      if (f.type !== FRAME.WINDOW_UPDATE) continue;
      const inc = f.payload.readUInt32BE(0) & 0x7fffffff;
      if (f.streamId === 0) this.connWindow += inc;
      else if (this.streamWindow.has(f.streamId))
        this.streamWindow.set(f.streamId, this.streamWindow.get(f.streamId)! + inc);
    }
  }
}

describe('own HTTP/2 codec: request bodies to a target that does not read', () => {
  const reader = new Reader();
  let srv: Server;
  let conn: H2Connection | null = null;
  before(async () => {
    srv = await serve(null, (c) => (conn = c), reader);
  });
  after(() => {
    conn?.destroy();
    srv.close();
  });

  it('holds no more than the connection window across many streams, then delivers every body once read', async () => {
    const c = await handshake((srv.address() as { port: number }).port);
    try {
      const up = new Uploader(c);
      for (let i = 0; i < STREAMS; i++) up.open(1 + 2 * i, BODY_BYTES);
      assert.equal(await up.sendAll(), false, 'the client is blocked while nothing is read');
      const window = conn!.flow.connectionWindow;
      assert.equal(window, 16 * STREAM_WINDOW);
      assert.ok(window < STREAMS * STREAM_WINDOW, 'the streams could hold more than the connection window');
      // Everything sent reached the reader, which took none of it: all of it is held for the target.
      assert.equal(up.sent, window, 'the client could send exactly the connection window');
      assert.equal(reader.got, window);
      assert.equal(conn!.flow.held, window);

      reader.resume();
      assert.equal(await up.sendAll(), true, 'the windows open again as the target reads');
      await c.until(() => reader.ended.size === STREAMS, 5000, 'every body to end');
      for (const n of reader.ended.values()) assert.equal(n, BODY_BYTES);
      assert.equal(conn!.flow.held, 0);
      assert.equal(c.goaway(), null);
    } finally {
      c.destroy();
    }
  });
});

describe('own HTTP/2 codec: the SETTINGS acknowledgement deadline', () => {
  const clock = new ManualClock();
  const conns: H2Connection[] = [];
  let srv: Server;
  let port = 0;
  before(async () => {
    srv = await serve(clock, (c) => conns.push(c), new Reader());
    port = (srv.address() as { port: number }).port;
  });
  after(() => {
    for (const c of conns) c.destroy();
    srv.close();
  });

  it('a client that never acknowledges our SETTINGS gets GOAWAY(SETTINGS_TIMEOUT) and is closed', async () => {
    const c = await RawH2.open(port);
    try {
      await c.until(() => c.serverSettings() !== null, 3000, 'the server SETTINGS');
      const conn = conns.at(-1)!;
      clock.advance(SETTINGS_ACK_TIMEOUT_MS - 1);
      assert.equal(conn.dead, false, 'not before the deadline');
      clock.advance(1);
      assert.equal(conn.dead, true);
      await c.until(() => c.closed, 3000, 'the close');
      assert.deepEqual(c.goaway(), { lastStreamId: 0, code: SETTINGS_TIMEOUT });
    } finally {
      c.destroy();
    }
  });

  it('a client that acknowledged them is kept past the deadline', async () => {
    const c = await handshake(port);
    try {
      const conn = conns.at(-1)!;
      // Answered after the server read the ACK that went before it.
      c.write(ping(7));
      await c.until(() => pingAcked(c, 7), 3000, 'PING ACK 7');
      assert.equal(conn.settingsAcked, true);
      clock.advance(SETTINGS_ACK_TIMEOUT_MS * 3);
      assert.equal(conn.dead, false);
      c.write(ping(8));
      await c.until(() => pingAcked(c, 8), 3000, 'PING ACK 8');
      assert.equal(c.goaway(), null);
    } finally {
      c.destroy();
    }
  });
});
