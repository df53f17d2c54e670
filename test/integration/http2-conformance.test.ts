/**
 * HTTP/2 conformance of Fulcrum's own codec (src/http2/), part 1: the h2spec case list for RFC 9113
 * sections 3.5 (preface), 4.1-4.3 (frame format, size, header compression) and 5.1-5.5 (stream
 * states and identifiers, concurrency, dependencies, error handling, extensions), each written
 * frame by frame on a raw socket (h2spec itself is not installable here) and asserting what the RFC
 * requires. Part 2 (http2-conformance-frames.test.ts) covers sections 6 and 8 and HPACK.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import {
  alive,
  type Case,
  conformanceCases,
  connectionError,
  get,
  headersOf,
  response,
  streamError,
} from '../helpers/h2-conformance.ts';
import { ERROR, FLAG, FRAME, frame, type RawH2, requestBlock, rstStream } from '../helpers/h2-frames.ts';

const PROTOCOL = ERROR.PROTOCOL_ERROR;
const POST_FIELDS: [string, string][] = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'localhost'],
];
const STREAM_CLOSED = 0x5;
const FRAME_SIZE = 0x6;
const COMPRESSION = 0x9;

describe('HTTP/2 conformance (own codec): sections 3.5, 4 and 5', () => {
  /** One case on a fresh, handshaken connection. */
  const cases: Case[] = [
    // ---- 3.5 HTTP/2 connection preface ----
    [
      '3.5/1 the server sends SETTINGS and acknowledges ours',
      async (c) => {
        assert.notEqual(c.serverSettings(), null);
        await alive(c);
      },
    ],
    // ---- 4.1 frame format ----
    [
      '4.1/1 a frame of unknown type is ignored',
      async (c) => {
        c.write(frame(0x16, 0, 0, Buffer.from('ignored')));
        await alive(c);
      },
    ],
    [
      '4.1/2 undefined flags are ignored',
      async (c) => {
        c.write(frame(FRAME.PING, 0x16, 0, Buffer.alloc(8)));
        await c.until(
          () => c.frames.some((x) => x.type === FRAME.PING && (x.flags & FLAG.ACK) !== 0),
          3000,
          'ACK',
        );
        await alive(c);
      },
    ],
    [
      '4.1/3 the reserved bit of the stream id is ignored',
      async (c) => {
        const h = get(1);
        h[5]! |= 0x80;
        c.write(h);
        await response(c, 1);
      },
    ],
    // ---- 4.2 frame size ----
    [
      '4.2/1 a DATA frame of 2^14 octets is accepted',
      async (c) => {
        c.write(headersOf(1, POST_FIELDS, FLAG.END_HEADERS));
        c.write(frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.alloc(16384, 0x61)));
        await response(c, 1);
      },
    ],
    [
      '4.2/2 a DATA frame over SETTINGS_MAX_FRAME_SIZE: FRAME_SIZE_ERROR',
      async (c) => {
        c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, requestBlock('/slow')));
        c.write(frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.alloc(16385)));
        await connectionError(c, FRAME_SIZE);
      },
    ],
    [
      '4.2/3 a HEADERS frame over SETTINGS_MAX_FRAME_SIZE: FRAME_SIZE_ERROR (connection)',
      async (c) => {
        c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, Buffer.alloc(16385, 0x82)));
        await connectionError(c, FRAME_SIZE);
      },
    ],
    // ---- 4.3 header compression ----
    [
      '4.3/1 an undecodable header block: COMPRESSION_ERROR',
      async (c) => {
        c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, Buffer.from([0x80])));
        await connectionError(c, COMPRESSION);
      },
    ],
    [
      '4.3/2 PRIORITY between HEADERS and CONTINUATION: PROTOCOL_ERROR',
      async (c) => {
        c.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, requestBlock()));
        c.write(frame(0x2, 0, 1, Buffer.from([0, 0, 0, 0, 16])));
        await connectionError(c, PROTOCOL);
      },
    ],
    [
      '4.3/3 headers of another stream between HEADERS and CONTINUATION: PROTOCOL_ERROR',
      async (c) => {
        c.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, requestBlock()));
        c.write(get(3));
        await connectionError(c, PROTOCOL);
      },
    ],
    // ---- 5.1 stream states ----
    [
      '5.1/1 idle: DATA is PROTOCOL_ERROR',
      async (c) => frameThenError(c, frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from('test'))),
    ],
    ['5.1/2 idle: RST_STREAM is PROTOCOL_ERROR', async (c) => frameThenError(c, rstStream(1))],
    ['5.1/3 idle: WINDOW_UPDATE is PROTOCOL_ERROR', async (c) => frameThenError(c, windowUpdate(1, 100))],
    [
      '5.1/4 idle: CONTINUATION is PROTOCOL_ERROR',
      async (c) => frameThenError(c, frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, requestBlock())),
    ],
    [
      '5.1/5 half-closed (remote): DATA is STREAM_CLOSED',
      async (c) => {
        c.write(get(1, '/slow'));
        c.write(frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from('test')));
        await streamError(c, 1, STREAM_CLOSED);
      },
    ],
    [
      '5.1/6 half-closed (remote): HEADERS is STREAM_CLOSED',
      async (c) => {
        c.write(Buffer.concat([get(1, '/slow'), get(1, '/slow')]));
        await streamError(c, 1, STREAM_CLOSED);
      },
    ],
    [
      '5.1/7 half-closed (remote): CONTINUATION is a PROTOCOL_ERROR (none was expected)',
      async (c) => {
        c.write(get(1, '/slow'));
        c.write(frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, requestBlock()));
        await connectionError(c, PROTOCOL);
      },
    ],
    [
      '5.1/8 closed: DATA after the client reset the stream is STREAM_CLOSED',
      async (c) => {
        c.write(Buffer.concat([get(1, '/slow', FLAG.END_HEADERS), rstStream(1)]));
        c.write(frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from('test')));
        await streamError(c, 1, STREAM_CLOSED);
      },
    ],
    [
      '5.1/9 closed: HEADERS after the client reset the stream is STREAM_CLOSED',
      async (c) => {
        c.write(Buffer.concat([get(1, '/slow', FLAG.END_HEADERS), rstStream(1), get(1)]));
        await connectionError(c, STREAM_CLOSED);
      },
    ],
    [
      '5.1/10 closed: CONTINUATION after RST_STREAM is PROTOCOL_ERROR',
      async (c) => {
        c.write(Buffer.concat([get(1, '/slow', FLAG.END_HEADERS), rstStream(1)]));
        c.write(frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, requestBlock()));
        await connectionError(c, PROTOCOL);
      },
    ],
    [
      '5.1/11 closed (END_STREAM both ways): DATA is a connection error STREAM_CLOSED',
      async (c) => {
        c.write(get(1));
        await ended(c, 1);
        c.write(frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from('test')));
        await connectionError(c, STREAM_CLOSED);
      },
    ],
    [
      '5.1/12 closed: HEADERS is a connection error STREAM_CLOSED',
      async (c) => {
        c.write(get(1));
        await ended(c, 1);
        c.write(get(1));
        await connectionError(c, STREAM_CLOSED);
      },
    ],
    [
      '5.1/13 closed: CONTINUATION is PROTOCOL_ERROR',
      async (c) => {
        c.write(get(1));
        await ended(c, 1);
        c.write(frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, requestBlock()));
        await connectionError(c, PROTOCOL);
      },
    ],
    // ---- 5.1.1 stream identifiers ----
    ['5.1.1/1 an even stream id is PROTOCOL_ERROR', async (c) => frameThenError(c, get(2))],
    [
      '5.1.1/2 a stream id below an earlier one is PROTOCOL_ERROR',
      async (c) => {
        c.write(Buffer.concat([get(5), get(3)]));
        await connectionError(c, PROTOCOL);
      },
    ],
    // ---- 5.1.2 stream concurrency ----
    [
      '5.1.2/1 past SETTINGS_MAX_CONCURRENT_STREAMS (acknowledged): PROTOCOL_ERROR, nothing answered',
      async (c) => {
        c.write(Buffer.concat([1, 3, 5, 7, 9].map((id) => get(id, '/slow'))));
        await connectionError(c, PROTOCOL);
        assert.equal(
          c.frames.some((x) => x.type === FRAME.HEADERS),
          false,
        );
      },
    ],
    // ---- 5.3.1 stream dependencies ----
    [
      '5.3.1/1 HEADERS depending on its own stream: PROTOCOL_ERROR (stream)',
      async (c) => {
        const p = Buffer.concat([Buffer.from([0, 0, 0, 1, 16]), requestBlock()]);
        c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM | 0x20, 1, p));
        await streamError(c, 1, PROTOCOL);
      },
    ],
    [
      '5.3.1/2 PRIORITY depending on its own stream: PROTOCOL_ERROR (stream)',
      async (c) => {
        c.write(frame(0x2, 0, 1, Buffer.from([0, 0, 0, 1, 16])));
        await streamError(c, 1, PROTOCOL);
      },
    ],
    // ---- 5.4.1 connection error handling ----
    [
      '5.4.1/1-2 after a connection error: GOAWAY, then the connection closes',
      async (c) => {
        c.write(frame(FRAME.DATA, 0, 0, Buffer.from('x')));
        await connectionError(c, PROTOCOL);
      },
    ],
    // ---- 5.5 extending HTTP/2 ----
    [
      '5.5/1 an unknown extension frame is ignored',
      async (c) => {
        c.write(frame(0xfa, 0xff, 1, Buffer.alloc(20)));
        await alive(c);
      },
    ],
    [
      '5.5/2 an unknown extension frame inside a header block is PROTOCOL_ERROR',
      async (c) => {
        c.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, requestBlock()));
        c.write(frame(0xfa, 0, 1, Buffer.alloc(4)));
        await connectionError(c, PROTOCOL);
      },
    ],
  ];
  const bench = conformanceCases(cases);

  it('3.5/2 an invalid connection preface: PROTOCOL_ERROR, the connection closes', async () => {
    // Bytes that stop looking like the preface in the first read are not HTTP/2 at all: the
    // HTTP/1.1 codec answers 400 and closes (RFC 9113 §3.4: "a GOAWAY frame MAY be omitted").
    const first = await rawExchange(bench.f.port, [Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n')]);
    assert.match(first.toString('latin1'), /^HTTP\/1\.1 400 /);
    // Once the preface was recognised (the server's SETTINGS came), a wrong byte is a connection
    // error of the HTTP/2 codec: GOAWAY(PROTOCOL_ERROR).
    const later = await rawExchange(bench.f.port, [
      Buffer.from('PRI * HTTP/2.0\r\n'),
      Buffer.from('\r\nXX\r\n\r\n'),
    ]);
    const at = findFrame(later, FRAME.GOAWAY);
    assert.ok(at >= 0, later.toString('hex'));
    assert.equal(later.readUInt32BE(at + 9 + 4), PROTOCOL);
  });

  it('3.5 a preface not followed by SETTINGS: GOAWAY(PROTOCOL_ERROR)', async () => {
    const all = await rawExchange(bench.f.port, [
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        frame(FRAME.PING, 0, 0, Buffer.alloc(8)),
      ]),
    ]);
    const at = findFrame(all, FRAME.GOAWAY);
    assert.ok(at >= 0, all.toString('hex'));
    assert.equal(all.readUInt32BE(at + 9 + 4), PROTOCOL);
  });

  it('frames on malformed cases never reached the target with a frame error', () => {
    // Every request the target saw was a well-formed GET or POST of the cases above.
    for (const s of bench.up.seen) assert.ok(s.method === 'GET' || s.method === 'POST', s.method);
  });
});

/** Write `parts` (each after the server has answered something, from the second on), read until close. */
async function rawExchange(port: number, parts: Buffer[]): Promise<Buffer> {
  const s = connect(port, '127.0.0.1');
  const got: Buffer[] = [];
  let wake: (() => void) | null = null;
  s.on('data', (d) => {
    got.push(d);
    wake?.();
  });
  s.on('error', () => {});
  const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
  for (let i = 0; i < parts.length; i++) {
    if (i > 0 && got.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    s.write(parts[i]!);
  }
  await closed;
  return Buffer.concat(got);
}

async function frameThenError(c: RawH2, b: Buffer): Promise<void> {
  c.write(b);
  await connectionError(c, PROTOCOL);
}

function windowUpdate(id: number, n: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(n);
  return frame(FRAME.WINDOW_UPDATE, 0, id, p);
}

/** Wait until the server ended stream `id` (END_STREAM on DATA or HEADERS). */
async function ended(c: RawH2, id: number): Promise<void> {
  await c.until(
    () =>
      c.frames.some(
        (x) =>
          x.streamId === id &&
          (x.type === FRAME.DATA || x.type === FRAME.HEADERS) &&
          (x.flags & FLAG.END_STREAM) !== 0,
      ),
    3000,
    `stream ${id} to end`,
  );
}

/** The offset of the first frame of `type` in a run of frames, or -1. */
function findFrame(b: Buffer, type: number): number {
  let off = 0;
  while (off + 9 <= b.length) {
    if (b[off + 3] === type) return off;
    off += 9 + b.readUIntBE(off, 3);
  }
  return -1;
}
