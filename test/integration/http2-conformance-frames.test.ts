/**
 * HTTP/2 conformance of Fulcrum's own codec (src/http2/), part 2: the h2spec case list for RFC 9113
 * section 6 (each frame type's rules: DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY,
 * WINDOW_UPDATE and flow control, CONTINUATION), section 8 (malformed requests: never forwarded,
 * a stream error PROTOCOL_ERROR) and HPACK (RFC 7541 §2.3, §4.2, §5.2, §6.1, §6.3). Written frame by
 * frame on a raw socket (h2spec is not installable here); part 1 is http2-conformance.test.ts.
 */
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import {
  alive,
  type Case,
  conformanceCases,
  connectionError,
  GET_FIELDS,
  get,
  headersOf,
  response,
  streamError,
} from '../helpers/h2-conformance.ts';
import {
  ERROR,
  FLAG,
  FRAME,
  frame,
  hpack,
  type RawH2,
  requestBlock,
  settings,
} from '../helpers/h2-frames.ts';

const PROTOCOL = ERROR.PROTOCOL_ERROR;
const FLOW_CONTROL = ERROR.FLOW_CONTROL_ERROR;
const FRAME_SIZE = 0x6;
const COMPRESSION = 0x9;
const PRIORITY = 0x2;
const PUSH_PROMISE = 0x5;
const PADDED = 0x8;

const POST: [string, string][] = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'localhost'],
];

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

describe('HTTP/2 conformance (own codec): sections 6 and 8, HPACK', () => {
  /** A case whose request must be refused and never reach the target. */
  const refused = async (c: RawH2, block: Buffer, id = 1) => {
    const before = bench.up.seen.length;
    c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, block));
    await streamError(c, id, PROTOCOL);
    assert.equal(bench.up.seen.length, before, 'not forwarded');
  };

  const cases: Case[] = [
    // ---- 6.1 DATA ----
    [
      '6.1/1 DATA on stream 0: PROTOCOL_ERROR',
      async (c) => connErr(c, frame(FRAME.DATA, 0, 0, Buffer.from('x')), PROTOCOL),
    ],
    [
      '6.1/2 DATA on a half-closed (remote) stream: STREAM_CLOSED',
      async (c) => {
        c.write(get(1, '/slow'));
        c.write(frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from('x')));
        await streamError(c, 1, 0x5);
      },
    ],
    [
      '6.1/3 DATA with a pad length past the payload: PROTOCOL_ERROR',
      async (c) => {
        c.write(headersOf(1, POST, FLAG.END_HEADERS));
        await connErr(
          c,
          frame(FRAME.DATA, PADDED | FLAG.END_STREAM, 1, Buffer.from([6, 0x61, 0x62])),
          PROTOCOL,
        );
      },
    ],
    [
      '6.1 padded DATA is read without its padding',
      async (c) => {
        c.write(headersOf(1, [...POST, ['content-length', '2']], FLAG.END_HEADERS));
        c.write(frame(FRAME.DATA, PADDED | FLAG.END_STREAM, 1, Buffer.from([3, 0x61, 0x62, 0, 0, 0])));
        await response(c, 1);
        assert.equal(bench.up.seen.at(-1)!.body.toString(), 'ab');
      },
    ],
    // ---- 6.2 HEADERS ----
    [
      '6.2/1 HEADERS without END_HEADERS, then PRIORITY: PROTOCOL_ERROR',
      async (c) => {
        c.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, requestBlock()));
        await connErr(c, frame(PRIORITY, 0, 1, Buffer.from([0, 0, 0, 0, 16])), PROTOCOL);
      },
    ],
    [
      '6.2/2 HEADERS without END_HEADERS, then DATA: PROTOCOL_ERROR',
      async (c) => {
        c.write(frame(FRAME.HEADERS, 0, 1, requestBlock()));
        await connErr(c, frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from('x')), PROTOCOL);
      },
    ],
    ['6.2/3 HEADERS on stream 0: PROTOCOL_ERROR', async (c) => connErr(c, get(0), PROTOCOL)],
    [
      '6.2/4 HEADERS with a pad length past the payload: PROTOCOL_ERROR',
      async (c) => {
        const p = Buffer.concat([Buffer.from([200]), requestBlock()]);
        await connErr(c, frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM | PADDED, 1, p), PROTOCOL);
      },
    ],
    [
      '6.2 padded HEADERS with a priority block are read',
      async (c) => {
        const p = Buffer.concat([Buffer.from([2, 0, 0, 0, 0, 16]), requestBlock(), Buffer.alloc(2)]);
        c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM | PADDED | 0x20, 1, p));
        await response(c, 1);
      },
    ],
    // ---- 6.3 PRIORITY ----
    [
      '6.3/1 PRIORITY on stream 0: PROTOCOL_ERROR',
      async (c) => connErr(c, frame(PRIORITY, 0, 0, Buffer.from([0, 0, 0, 1, 16])), PROTOCOL),
    ],
    [
      '6.3/2 PRIORITY of 4 octets: FRAME_SIZE_ERROR (stream)',
      async (c) => {
        c.write(frame(PRIORITY, 0, 1, Buffer.from([0, 0, 0, 3])));
        await streamError(c, 1, FRAME_SIZE);
      },
    ],
    [
      '6.3 PRIORITY on an idle or open stream is accepted and ignored',
      async (c) => {
        c.write(frame(PRIORITY, 0, 3, Buffer.from([0, 0, 0, 0, 16])));
        c.write(get(1));
        await response(c, 1);
      },
    ],
    // ---- 6.4 RST_STREAM ----
    [
      '6.4/1 RST_STREAM on stream 0: PROTOCOL_ERROR',
      async (c) => connErr(c, frame(FRAME.RST_STREAM, 0, 0, u32(8)), PROTOCOL),
    ],
    [
      '6.4/2 RST_STREAM on an idle stream: PROTOCOL_ERROR',
      async (c) => connErr(c, frame(FRAME.RST_STREAM, 0, 1, u32(8)), PROTOCOL),
    ],
    [
      '6.4/3 RST_STREAM of 3 octets: FRAME_SIZE_ERROR',
      async (c) => {
        c.write(get(1, '/slow'));
        await connErr(c, frame(FRAME.RST_STREAM, 0, 1, Buffer.alloc(3)), FRAME_SIZE);
      },
    ],
    // ---- 6.5 SETTINGS ----
    [
      '6.5/1 a SETTINGS ACK with a payload: FRAME_SIZE_ERROR',
      async (c) => connErr(c, frame(FRAME.SETTINGS, FLAG.ACK, 0, Buffer.alloc(6)), FRAME_SIZE),
    ],
    [
      '6.5/2 SETTINGS on stream 1: PROTOCOL_ERROR',
      async (c) => connErr(c, frame(FRAME.SETTINGS, 0, 1), PROTOCOL),
    ],
    [
      '6.5/3 SETTINGS of 3 octets: FRAME_SIZE_ERROR',
      async (c) => connErr(c, frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(3)), FRAME_SIZE),
    ],
    [
      '6.5.2/1 SETTINGS_ENABLE_PUSH 2: PROTOCOL_ERROR',
      async (c) => connErr(c, settings([[0x2, 2]]), PROTOCOL),
    ],
    [
      '6.5.2/2 SETTINGS_INITIAL_WINDOW_SIZE 2^31: FLOW_CONTROL_ERROR',
      async (c) => connErr(c, settings([[0x4, 2 ** 31]]), FLOW_CONTROL),
    ],
    [
      '6.5.2/3 SETTINGS_MAX_FRAME_SIZE 16383: PROTOCOL_ERROR',
      async (c) => connErr(c, settings([[0x5, 16383]]), PROTOCOL),
    ],
    [
      '6.5.2/4 SETTINGS_MAX_FRAME_SIZE 2^24: PROTOCOL_ERROR',
      async (c) => connErr(c, settings([[0x5, 2 ** 24]]), PROTOCOL),
    ],
    [
      '6.5.2/5 an unknown setting is ignored (and acknowledged)',
      async (c) => {
        const acks = () =>
          c.frames.filter((x) => x.type === FRAME.SETTINGS && (x.flags & FLAG.ACK) !== 0).length;
        const n = acks();
        c.write(settings([[0xff, 1]]));
        await c.until(() => acks() > n, 3000, 'an ACK');
        await alive(c);
      },
    ],
    [
      '6.5.3/2 SETTINGS are acknowledged, and the last value of a repeated setting holds',
      async (c) => {
        // Two INITIAL_WINDOW_SIZE values: 1, then 2. The response's first DATA carries 2 octets.
        c.write(
          settings([
            [0x4, 1],
            [0x4, 2],
          ]),
        );
        c.write(get(1));
        await c.until(() => c.frames.some((x) => x.type === FRAME.DATA && x.streamId === 1), 3000, 'DATA');
        assert.equal(c.frames.find((x) => x.type === FRAME.DATA && x.streamId === 1)!.payload.length, 2);
      },
    ],
    // ---- 6.7 PING ----
    [
      '6.7/1 a PING is answered with an ACK carrying its payload',
      async (c) => {
        const p = Buffer.from('h2specok');
        c.write(frame(FRAME.PING, 0, 0, p));
        await c.until(
          () => c.frames.some((x) => x.type === FRAME.PING && x.flags === FLAG.ACK && x.payload.equals(p)),
          3000,
          'ACK',
        );
      },
    ],
    [
      '6.7/2 an unsolicited PING ACK is ignored (not answered)',
      async (c) => {
        const p = Buffer.from('unsolici');
        c.write(frame(FRAME.PING, FLAG.ACK, 0, p));
        await alive(c);
        assert.equal(
          c.frames.some((x) => x.type === FRAME.PING && x.payload.equals(p)),
          false,
        );
      },
    ],
    [
      '6.7/3 PING on stream 1: PROTOCOL_ERROR',
      async (c) => connErr(c, frame(FRAME.PING, 0, 1, Buffer.alloc(8)), PROTOCOL),
    ],
    [
      '6.7/4 PING of 6 octets: FRAME_SIZE_ERROR',
      async (c) => connErr(c, frame(FRAME.PING, 0, 0, Buffer.alloc(6)), FRAME_SIZE),
    ],
    // ---- 6.8 GOAWAY ----
    [
      '6.8/1 GOAWAY on stream 1: PROTOCOL_ERROR',
      async (c) => connErr(c, frame(FRAME.GOAWAY, 0, 1, Buffer.alloc(8)), PROTOCOL),
    ],
    [
      '6.8 a client GOAWAY: open streams are answered, then the connection closes',
      async (c) => {
        c.write(get(1, '/slow'));
        c.write(frame(FRAME.GOAWAY, 0, 0, Buffer.alloc(8)));
        await c.until(() => c.closed, 3000, 'the close');
        assert.ok(
          c.frames.some(
            (x) => x.type === FRAME.DATA && x.streamId === 1 && (x.flags & FLAG.END_STREAM) !== 0,
          ),
        );
      },
    ],
    // ---- 6.9 WINDOW_UPDATE ----
    [
      '6.9/1 a connection WINDOW_UPDATE of 0: PROTOCOL_ERROR',
      async (c) => connErr(c, frame(FRAME.WINDOW_UPDATE, 0, 0, u32(0)), PROTOCOL),
    ],
    [
      '6.9/2 a stream WINDOW_UPDATE of 0: PROTOCOL_ERROR (stream)',
      async (c) => {
        c.write(get(1, '/slow'));
        c.write(frame(FRAME.WINDOW_UPDATE, 0, 1, u32(0)));
        await streamError(c, 1, PROTOCOL);
      },
    ],
    [
      '6.9/3 WINDOW_UPDATE of 3 octets: FRAME_SIZE_ERROR',
      async (c) => connErr(c, frame(FRAME.WINDOW_UPDATE, 0, 0, Buffer.alloc(3)), FRAME_SIZE),
    ],
    [
      '6.9.1/1 SETTINGS_INITIAL_WINDOW_SIZE 1: DATA one octet at a time, the rest after WINDOW_UPDATE',
      async (c) => {
        c.write(settings([[0x4, 1]]));
        c.write(get(1));
        const data = () => c.frames.filter((x) => x.type === FRAME.DATA && x.streamId === 1);
        await c.until(() => data().length >= 1, 3000, 'the first DATA');
        assert.equal(data()[0]!.payload.length, 1);
        c.write(frame(FRAME.WINDOW_UPDATE, 0, 1, u32(10)));
        await c.until(() => data().some((x) => (x.flags & FLAG.END_STREAM) !== 0), 3000, 'the end');
        assert.equal(Buffer.concat(data().map((x) => x.payload)).toString(), 'ok');
      },
    ],
    [
      '6.9.1/2 a connection window past 2^31-1: FLOW_CONTROL_ERROR',
      async (c) =>
        connErr(c, Buffer.concat([frame(FRAME.WINDOW_UPDATE, 0, 0, u32(0x7fffffff))]), FLOW_CONTROL),
    ],
    [
      '6.9.1/3 a stream window past 2^31-1: FLOW_CONTROL_ERROR (stream)',
      async (c) => {
        c.write(get(1, '/slow'));
        c.write(frame(FRAME.WINDOW_UPDATE, 0, 1, u32(0x7fffffff)));
        await streamError(c, 1, FLOW_CONTROL);
      },
    ],
    [
      '6.9.2/1 a lowered then raised SETTINGS_INITIAL_WINDOW_SIZE applies to open streams',
      async (c) => {
        c.write(settings([[0x4, 0]]));
        c.write(get(1));
        await response(c, 1);
        const data = () => c.frames.filter((x) => x.type === FRAME.DATA && x.streamId === 1);
        await alive(c);
        assert.equal(data().length, 0, 'no DATA within a window of 0');
        c.write(settings([[0x4, 1]]));
        await c.until(() => data().length >= 1, 3000, 'DATA');
        assert.equal(data()[0]!.payload.length, 1);
      },
    ],
    [
      '6.9.2/3 SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1: FLOW_CONTROL_ERROR',
      async (c) => connErr(c, settings([[0x4, 0x80000000]]), FLOW_CONTROL),
    ],
    // ---- 6.10 CONTINUATION ----
    [
      '6.10/1-2 a header block over HEADERS and CONTINUATION frames is read',
      async (c) => {
        const b = requestBlock();
        c.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, b.subarray(0, 3)));
        c.write(frame(FRAME.CONTINUATION, 0, 1, b.subarray(3, 10)));
        c.write(frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, b.subarray(10)));
        await response(c, 1);
      },
    ],
    [
      '6.10/3 CONTINUATION after HEADERS with END_HEADERS: PROTOCOL_ERROR',
      async (c) => {
        c.write(get(1, '/slow'));
        await connErr(c, frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, hpack([['x-a', 'b']])), PROTOCOL);
      },
    ],
    [
      '6.10/4 CONTINUATION after CONTINUATION with END_HEADERS: PROTOCOL_ERROR',
      async (c) => {
        const b = requestBlock('/slow');
        c.write(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, b.subarray(0, 3)));
        c.write(frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, b.subarray(3)));
        await connErr(
          c,
          frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, hpack([['x-a', 'b']], false)),
          PROTOCOL,
        );
      },
    ],
    [
      '6.10/5 CONTINUATION after DATA: PROTOCOL_ERROR',
      async (c) => {
        c.write(headersOf(1, POST, FLAG.END_HEADERS));
        c.write(frame(FRAME.DATA, 0, 1, Buffer.from('x')));
        await connErr(c, frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, hpack([['x-a', 'b']])), PROTOCOL);
      },
    ],
    [
      '6.10/6 CONTINUATION on stream 0: PROTOCOL_ERROR',
      async (c) => connErr(c, frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 0, requestBlock()), PROTOCOL),
    ],
    // ---- 8.1 request exchange ----
    [
      '8.1/1 a second HEADERS without END_STREAM (trailers must end the stream): PROTOCOL_ERROR (stream)',
      async (c) => {
        c.write(headersOf(1, POST, FLAG.END_HEADERS));
        c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, hpack([['x-trailer', 'a']])));
        await streamError(c, 1, PROTOCOL);
      },
    ],
    [
      '8.1 trailers ending the request are forwarded with its body',
      async (c) => {
        c.write(headersOf(1, [...POST, ['te', 'trailers']], FLAG.END_HEADERS));
        c.write(frame(FRAME.DATA, 0, 1, Buffer.from('body')));
        c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, hpack([['x-trailer', 'a']])));
        await response(c, 1);
        assert.equal(bench.up.seen.at(-1)!.body.toString(), 'body');
      },
    ],
    ['8.1.2/1 an upper-case field name', async (c) => refused(c, hpack([...GET_FIELDS, ['X-Upper', 'a']]))],
    ['8.1.2.1/1 an unknown pseudo-header', async (c) => refused(c, hpack([...GET_FIELDS, [':foo', 'a']]))],
    [
      '8.1.2.1/2 a response pseudo-header in a request',
      async (c) => refused(c, hpack([...GET_FIELDS, [':status', '200']])),
    ],
    [
      '8.1.2.1/3 a pseudo-header in trailers',
      async (c) => {
        c.write(headersOf(1, POST, FLAG.END_HEADERS));
        c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, hpack([[':method', 'GET']])));
        await streamError(c, 1, PROTOCOL);
      },
    ],
    [
      '8.1.2.1/4 a pseudo-header after a regular field',
      async (c) => refused(c, hpack([...GET_FIELDS.slice(0, 3), ['x-a', 'b'], GET_FIELDS[3]!])),
    ],
    [
      '8.1.2.2/1 a connection-specific field',
      async (c) => refused(c, hpack([...GET_FIELDS, ['connection', 'keep-alive']])),
    ],
    [
      '8.1.2.2/2 TE other than "trailers"',
      async (c) => refused(c, hpack([...GET_FIELDS, ['te', 'trailers, deflate']])),
    ],
    [
      '8.1.2.3/1 an empty :path',
      async (c) => refused(c, hpack(GET_FIELDS.map(([n, v]) => [n, n === ':path' ? '' : v]))),
    ],
    ['8.1.2.3/2 no :method', async (c) => refused(c, hpack(GET_FIELDS.filter(([n]) => n !== ':method')))],
    ['8.1.2.3/3 no :scheme', async (c) => refused(c, hpack(GET_FIELDS.filter(([n]) => n !== ':scheme')))],
    ['8.1.2.3/4 no :path', async (c) => refused(c, hpack(GET_FIELDS.filter(([n]) => n !== ':path')))],
    ['8.1.2.3/5 two :method', async (c) => refused(c, hpack([[':method', 'GET'], ...GET_FIELDS]))],
    ['8.1.2.3/6 two :scheme', async (c) => refused(c, hpack([[':scheme', 'http'], ...GET_FIELDS]))],
    ['8.1.2.3/7 two :path', async (c) => refused(c, hpack([[':path', '/'], ...GET_FIELDS]))],
    [
      '8.2.1 a value with CR, LF or NUL',
      async (c) => refused(c, hpack([...GET_FIELDS, ['x-a', 'b\r\nx-injected: 1']])),
    ],
    ['8.2.1 a value with leading whitespace', async (c) => refused(c, hpack([...GET_FIELDS, ['x-a', ' b']]))],
    [
      '8.1.2.6/1 a body shorter than its content-length: PROTOCOL_ERROR (stream)',
      async (c) => {
        c.write(headersOf(1, [...POST, ['content-length', '10']], FLAG.END_HEADERS));
        c.write(frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from('test')));
        await streamError(c, 1, PROTOCOL);
      },
    ],
    [
      '8.1.2.6/2 a body longer than its content-length, over several DATA frames: PROTOCOL_ERROR (stream)',
      async (c) => {
        c.write(headersOf(1, [...POST, ['content-length', '5']], FLAG.END_HEADERS));
        c.write(frame(FRAME.DATA, 0, 1, Buffer.from('test')));
        c.write(frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from('test')));
        await streamError(c, 1, PROTOCOL);
      },
    ],
    // ---- 8.2 server push ----
    [
      '8.2/1 a PUSH_PROMISE from the client: PROTOCOL_ERROR',
      async (c) =>
        connErr(
          c,
          frame(PUSH_PROMISE, FLAG.END_HEADERS, 1, Buffer.concat([u32(2), requestBlock()])),
          PROTOCOL,
        ),
    ],
    // ---- HPACK ----
    [
      'HPACK 2.3.3/1 an indexed field past both tables: COMPRESSION_ERROR',
      async (c) => connErr(c, headersRaw(Buffer.from([0x82, 0x86, 0x84, 0xff, 0x40])), COMPRESSION),
    ],
    [
      'HPACK 2.3.3/2 a literal with a name index past both tables: COMPRESSION_ERROR',
      async (c) =>
        connErr(c, headersRaw(Buffer.from([0x82, 0x86, 0x84, 0x7f, 0x40, 0x01, 0x61])), COMPRESSION),
    ],
    [
      'HPACK 4.2/1 a table size update past SETTINGS_HEADER_TABLE_SIZE: COMPRESSION_ERROR',
      async (c) => connErr(c, headersRaw(Buffer.from([0x3f, 0xe2, 0x1f, 0x82])), COMPRESSION),
    ],
    [
      'HPACK 5.2/1 Huffman with EOS inside: COMPRESSION_ERROR',
      async (c) =>
        connErr(
          c,
          headersRaw(Buffer.from([0x82, 0x00, 0x84, 0xff, 0xff, 0xff, 0xff, 0x01, 0x61])),
          COMPRESSION,
        ),
    ],
    [
      'HPACK 5.2/2 Huffman padding past 7 bits: COMPRESSION_ERROR',
      async (c) =>
        connErr(c, headersRaw(Buffer.from([0x82, 0x00, 0x82, 0x1f, 0xff, 0x01, 0x61])), COMPRESSION),
    ],
    [
      'HPACK 5.2/3 Huffman padding of zeros: COMPRESSION_ERROR',
      async (c) => connErr(c, headersRaw(Buffer.from([0x82, 0x00, 0x81, 0x18, 0x01, 0x61])), COMPRESSION),
    ],
    [
      'HPACK 6.1/1 index 0: COMPRESSION_ERROR',
      async (c) => connErr(c, headersRaw(Buffer.from([0x80])), COMPRESSION),
    ],
    [
      'HPACK 6.3/1 a table size update after a field: COMPRESSION_ERROR',
      async (c) => connErr(c, headersRaw(Buffer.from([0x82, 0x20])), COMPRESSION),
    ],
  ];
  const bench = conformanceCases(cases);
});

async function connErr(c: RawH2, b: Buffer, code: number): Promise<void> {
  c.write(b);
  await connectionError(c, code);
}

function headersRaw(block: Buffer): Buffer {
  return frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, block);
}
