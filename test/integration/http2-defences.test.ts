/**
 * Defences of an h2c listener against hostile HTTP/2 clients written frame by frame
 * (test/helpers/h2-frames.ts): SETTINGS limits advertised and enforced, rapid reset
 * (CVE-2023-44487), CONTINUATION floods, SETTINGS and PING floods. Each time the offending
 * connection is closed and a well-behaved connection to the same listener is untouched.
 */
import assert from 'node:assert/strict';
import { type ClientHttp2Session, connect, constants } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import {
  ERROR,
  FLAG,
  FRAME,
  frame,
  hpack,
  ping,
  RawH2,
  requestBlock,
  rstStream,
  settings,
} from '../helpers/h2-frames.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

/** The listener, on one HTTP/2 codec or the other: each defence holds on both. */
const header = (codec: 'fulcrum' | 'node') => `_format_version: "3.0"
listeners:
  - name: proxy
    address: 127.0.0.1
    port: 0
    protocol: h2c
    http2:
      codec: ${codec}
      max_concurrent_streams: 4
      max_header_list_size: 4096
      header_table_size: 1024
      max_resets: 50
      reset_window: 60000
      max_control_frames: 50
      control_window: 60000
admin:
  address: 127.0.0.1
  port: 0
`;

function get(c: ClientHttp2Session, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = c.request({ ':path': path });
    s.on('response', (h) => resolve(Number(h[':status'])));
    s.on('error', reject);
    s.resume();
    s.end();
  });
}

function headers(id: number, end = true, path = '/slow'): Buffer {
  return frame(FRAME.HEADERS, FLAG.END_HEADERS | (end ? FLAG.END_STREAM : 0), id, requestBlock(path));
}

function data(id: number): Buffer {
  return frame(FRAME.DATA, 0, id, Buffer.from('x'));
}

/** Whether the server ended stream `id` (END_STREAM on a DATA or HEADERS, or a reset). */
function ended(c: RawH2, id: number): boolean {
  return c.frames.some(
    (x) =>
      x.streamId === id &&
      (x.type === FRAME.RST_STREAM ||
        ((x.type === FRAME.DATA || x.type === FRAME.HEADERS) && (x.flags & FLAG.END_STREAM) !== 0)),
  );
}

for (const codec of ['fulcrum', 'node'] as const)
  describe(`h2c listener defences (codec ${codec})`, () => {
    let up: TestUpstream;
    let f: TestNode;
    /** A well-behaved client, open through every attack. */
    let good: ClientHttp2Session;
    before(async () => {
      // /slow answers after 500 ms, so streams are still open when the attacks reset them.
      up = await startUpstream('up', (req, res) => {
        if (req.url === '/slow') setTimeout(() => res.end('slow'), 500);
        else res.end('ok');
      });
      f = await startFulcrum(
        `services:\n  - name: s\n    url: http://${up.target}\n    routes:\n      - paths: ["/"]\n`,
        {
          header: header(codec),
        },
      );
      good = connect(f.url);
      assert.equal(await get(good, '/'), 200);
    });
    after(async () => {
      good.close();
      await f.stop();
      await up.close();
    });

    it('advertises its limits in SETTINGS: concurrent streams, header list size, HPACK table, no push', async () => {
      const c = await RawH2.open(f.port);
      try {
        await c.until(() => c.serverSettings() !== null, 2000, 'server SETTINGS');
        const s = c.serverSettings()!;
        assert.equal(s.get(0x3), 4, 'MAX_CONCURRENT_STREAMS');
        assert.equal(s.get(0x6), 4096, 'MAX_HEADER_LIST_SIZE');
        assert.equal(s.get(0x1), 1024, 'HEADER_TABLE_SIZE');
        assert.equal(s.get(0x2), 0, 'ENABLE_PUSH');
      } finally {
        c.destroy();
      }
    });

    it('closes a connection that opens streams past max_concurrent_streams after acknowledging it', async () => {
      // RFC 9113 §5.1.2 allows a stream error; Node/nghttp2 treat it as a connection error (GOAWAY).
      const c = await RawH2.open(f.port);
      try {
        await c.until(() => c.serverSettings() !== null, 2000, 'server SETTINGS');
        c.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
        for (const id of [1, 3, 5, 7, 9])
          c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, requestBlock('/slow')));
        await c.until(() => c.closed, 3000, 'the connection to close');
        assert.notEqual(c.goaway(), null);
        assert.equal(
          c.frames.some((x) => x.type === FRAME.HEADERS),
          false,
          'no stream of it was answered',
        );
      } finally {
        c.destroy();
      }
      assert.equal(await get(good, '/'), 200);
    });

    it('answers 431 to a header list over max_header_list_size, without proxying it', async () => {
      const c = await RawH2.open(f.port);
      try {
        const before = up.seen.length;
        c.write(
          frame(
            FRAME.HEADERS,
            FLAG.END_HEADERS | FLAG.END_STREAM,
            1,
            requestBlock('/', 'localhost', [['x-big', 'a'.repeat(6000)]]),
          ),
        );
        await c.until(
          () => c.frames.some((x) => x.type === FRAME.HEADERS && x.streamId === 1),
          3000,
          'the answer',
        );
        const head = c.frames.find((x) => x.type === FRAME.HEADERS && x.streamId === 1)!;
        // HPACK: :status 431 is a literal (not in the static table), its digits in the clear.
        assert.ok(head.payload.includes(Buffer.from('431')), head.payload.toString('hex'));
        assert.equal(up.seen.length, before);
        assert.equal(c.closed, false);
      } finally {
        c.destroy();
      }
    });

    it('rapid reset (CVE-2023-44487): GOAWAY(ENHANCE_YOUR_CALM) and close past max_resets', async () => {
      const c = await RawH2.open(f.port);
      try {
        const burst: Buffer[] = [];
        for (let i = 0; i < 100; i++) {
          const id = 2 * i + 1;
          burst.push(
            frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, requestBlock('/slow')),
            rstStream(id),
          );
        }
        c.write(Buffer.concat(burst));
        await c.until(() => c.closed, 5000, 'the connection to close');
        assert.equal(c.goaway()?.code, ERROR.ENHANCE_YOUR_CALM);
      } finally {
        c.destroy();
      }
      assert.equal(good.closed || good.destroyed, false);
      assert.equal(await get(good, '/'), 200);
      const metrics = await (await request(`${f.adminUrl}/metrics`)).body.text();
      assert.match(metrics, /fulcrum_http2_abuse_closes_total\{listener="proxy",reason="rapid-reset"\} 1/);
    });

    it('a client whose cancels are a minority of its streams is not closed, past max_resets (Envoy premature resets)', async () => {
      // 60 streams cancelled at birth (over max_resets 50) among 120 that complete: Envoy counts a
      // connection abusive only when premature resets are at least half of its streams.
      const c = connect(f.url);
      c.on('error', () => {});
      try {
        for (let round = 0; round < 60; round++) {
          const cancelled = c.request({ ':path': '/slow' });
          cancelled.on('error', () => {});
          cancelled.close(constants.NGHTTP2_CANCEL);
          assert.deepEqual(await Promise.all([get(c, '/'), get(c, '/')]), [200, 200]);
        }
        assert.equal(c.closed || c.destroyed, false, 'the connection is still open');
        assert.equal(await get(c, '/'), 200);
      } finally {
        c.close();
      }
    });

    it('CONTINUATION flood: an endless header block closes the connection', async () => {
      const c = await RawH2.open(f.port);
      try {
        c.write(frame(FRAME.HEADERS, 0, 1, requestBlock('/')));
        const field = hpack([['x-flood', 'b'.repeat(50)]], false);
        const flood: Buffer[] = [];
        for (let i = 0; i < 2000; i++) flood.push(frame(FRAME.CONTINUATION, 0, 1, field));
        c.write(Buffer.concat(flood));
        await c.until(() => c.closed, 5000, 'the connection to close');
        assert.notEqual(c.goaway(), null, 'a GOAWAY before the close');
      } finally {
        c.destroy();
      }
      assert.equal(await get(good, '/'), 200);
    });

    it('PING flood: GOAWAY(ENHANCE_YOUR_CALM) and close past max_control_frames', async () => {
      const c = await RawH2.open(f.port);
      try {
        const flood: Buffer[] = [];
        for (let i = 0; i < 200; i++) flood.push(ping(i));
        c.write(Buffer.concat(flood));
        await c.until(() => c.closed, 5000, 'the connection to close');
        assert.equal(c.goaway()?.code, ERROR.ENHANCE_YOUR_CALM);
      } finally {
        c.destroy();
      }
      assert.equal(await get(good, '/'), 200);
    });

    it('SETTINGS flood: GOAWAY(ENHANCE_YOUR_CALM) and close past max_control_frames', async () => {
      const c = await RawH2.open(f.port);
      try {
        const flood: Buffer[] = [];
        for (let i = 0; i < 200; i++) flood.push(settings([[0x4, 65535 + i]]));
        c.write(Buffer.concat(flood));
        await c.until(() => c.closed, 5000, 'the connection to close');
        assert.equal(c.goaway()?.code, ERROR.ENHANCE_YOUR_CALM);
      } finally {
        c.destroy();
      }
      assert.equal(await get(good, '/'), 200);
    });

    it('a stream window pushed past 2^31-1 (h2spec 6.9.1/2): FLOW_CONTROL_ERROR, and the process lives', async () => {
      // nghttp2 resets the stream before Node has announced it: the stream reaches Fulcrum destroyed,
      // with its error still to be emitted. That error once went unhandled and ended the process.
      const c = await RawH2.open(f.port);
      try {
        const w = Buffer.alloc(4);
        w.writeUInt32BE(0x7fffffff);
        c.write(
          Buffer.concat([
            frame(FRAME.SETTINGS, FLAG.ACK, 0),
            frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, requestBlock('/slow')),
            frame(FRAME.WINDOW_UPDATE, 0, 1, w),
            frame(FRAME.WINDOW_UPDATE, 0, 1, w),
          ]),
        );
        const reset = () => c.frames.find((x) => x.type === FRAME.RST_STREAM && x.streamId === 1);
        await c.until(() => reset() !== undefined || c.goaway() !== null, 3000, 'a reset or a GOAWAY');
        // A stream error (Node 20's nghttp2) or a connection error (Node 24's): RFC 9113 §6.9.1
        // allows either; the code is FLOW_CONTROL_ERROR.
        const rst = reset();
        const code = rst !== undefined ? rst.payload.readUInt32BE(0) : c.goaway()!.code;
        assert.equal(code, ERROR.FLOW_CONTROL_ERROR);
      } finally {
        c.destroy();
      }
      assert.equal(await get(good, '/'), 200);
    });

    // h2spec's cases that Node's HTTP/2 answers its own way (docs/http2.md, "Conformance"): whatever
    // nghttp2 and Node reply, the process lives and other clients are served.
    const sloppy: [string, (c: RawH2) => Promise<unknown>][] = [
      [
        '5.1/8 DATA after RST_STREAM',
        async (c) => c.write(Buffer.concat([headers(1, false), rstStream(1), data(1)])),
      ],
      [
        '5.1/9 HEADERS after RST_STREAM',
        async (c) => c.write(Buffer.concat([headers(1, false), rstStream(1), headers(1)])),
      ],
      [
        '5.1/11 DATA on a closed stream',
        async (c) => {
          c.write(headers(1));
          await c.until(() => ended(c, 1), 3000, 'the response');
          c.write(data(1));
        },
      ],
      [
        '5.1/12 HEADERS on a closed stream',
        async (c) => {
          c.write(headers(1));
          await c.until(() => ended(c, 1), 3000, 'the response');
          c.write(headers(1));
        },
      ],
      [
        '5.1.1/2 a stream id below an earlier one',
        async (c) => c.write(Buffer.concat([headers(5), headers(3)])),
      ],
      [
        '6.7/2 an unsolicited PING ACK',
        async (c) => c.write(Buffer.concat([frame(FRAME.PING, FLAG.ACK, 0, Buffer.alloc(8)), ping(7)])),
      ],
    ];
    for (const [name, attack] of sloppy) {
      it(`h2spec ${name}: the process lives, other clients are served`, async () => {
        const c = await RawH2.open(f.port);
        try {
          c.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
          await attack(c);
          // A fresh stream on the same connection tells that every frame before it was read.
          c.write(headers(101, true, '/'));
          await c.until(
            () => c.closed || ended(c, 101),
            3000,
            'stream 101 answered or the connection closed',
          );
        } finally {
          c.destroy();
        }
        assert.equal(await get(good, '/'), 200);
      });
    }

    it('a client within the limits is never cut off (pings and cancels below the thresholds)', async () => {
      const c = await RawH2.open(f.port);
      try {
        const frames: Buffer[] = [];
        for (let i = 0; i < 20; i++) frames.push(ping(i));
        for (let i = 0; i < 20; i++) {
          const id = 2 * i + 1;
          frames.push(
            frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, requestBlock('/slow')),
            rstStream(id),
          );
        }
        frames.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 41, requestBlock('/')));
        c.write(Buffer.concat(frames));
        await c.until(
          () => c.frames.some((x) => x.type === FRAME.HEADERS && x.streamId === 41),
          3000,
          'the answer to stream 41',
        );
        assert.equal(c.goaway(), null);
        assert.equal(c.closed, false);
      } finally {
        c.destroy();
      }
    });
  });
