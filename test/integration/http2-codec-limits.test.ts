/**
 * Limits of Fulcrum's own HTTP/2 codec (docs/http2.md, "Codecs"): the connection window opened to
 * 16 times `initial_window_size` (src/http2/flow-control.ts); and what needs time to pass: an idle
 * connection gets GOAWAY after `timeouts.keepalive_ms` and closes, and a client that opens its
 * flow-control windows wide and then never reads is dropped (reason `stuck-output`) instead of
 * having responses pile up in memory; and a connection whose client left (FIN) while a response
 * waited for a flow-control window that can never open is closed, on both codecs, instead of
 * being kept for ever (found by fuzz-http2: descriptors of gone clients piled up).
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { until } from '../helpers/follow.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { handshake } from '../helpers/h2-conformance.ts';
import { ERROR, FLAG, FRAME, frame, RawH2, requestBlock, settings } from '../helpers/h2-frames.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const HEADER = `_format_version: "3.0"
listeners:
  - name: proxy
    address: 127.0.0.1
    port: 0
    protocol: h2c
    http2: { codec: fulcrum, initial_window_size: 1048576 }
admin:
  address: 127.0.0.1
  port: 0
timeouts:
  keepalive_ms: 300
`;

const BIG = Buffer.alloc(1024 * 1024, 0x62);

describe('own HTTP/2 codec: idle and stuck connections', () => {
  let up: TestUpstream;
  let f: TestNode;
  before(async () => {
    up = await startUpstream('up', (req, res) => res.end(req.url === '/big' ? BIG : 'ok'));
    f = await startFulcrum(
      `services:\n  - name: s\n    url: http://${up.target}\n    routes:\n      - paths: ["/"]\n`,
      {
        header: HEADER,
      },
    );
  });
  after(async () => {
    await f.stop();
    await up.close();
  });

  it('opens the connection window to 16 stream windows (it starts at 65535 whatever the setting)', async () => {
    const c = await handshake(f.port);
    try {
      assert.equal(c.serverSettings()!.get(0x4), 1048576);
      const wu = c.frames.find((x) => x.type === FRAME.WINDOW_UPDATE && x.streamId === 0);
      assert.ok(wu !== undefined, 'a connection WINDOW_UPDATE');
      assert.equal(wu.payload.readUInt32BE(0), 16 * 1048576 - 65535);
    } finally {
      c.destroy();
    }
  });

  it('an idle connection gets GOAWAY(NO_ERROR) with its last stream after keepalive_ms, then closes', async () => {
    const c = await handshake(f.port);
    try {
      c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, requestBlock('/')));
      await c.until(() => c.goaway() !== null, 5000, 'GOAWAY');
      assert.deepEqual(c.goaway(), { lastStreamId: 1, code: ERROR.NO_ERROR });
      assert.ok(
        c.frames.some((x) => x.type === FRAME.DATA && x.streamId === 1 && (x.flags & FLAG.END_STREAM) !== 0),
      );
      await c.until(() => c.closed, 5000, 'the close');
    } finally {
      c.destroy();
    }
  });

  it('a client that opens its windows and never reads is dropped, not buffered without bound', async () => {
    const s = connect(f.port, '127.0.0.1');
    s.on('error', () => {});
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    const inc = Buffer.alloc(4);
    inc.writeUInt32BE(0x7fffffff - 65535);
    const requests = [1, 3, 5, 7, 9, 11, 13, 15].map((id) =>
      frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, requestBlock('/big')),
    );
    s.write(
      Buffer.concat([
        Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'),
        settings([[0x4, 0x7fffffff]]),
        frame(FRAME.WINDOW_UPDATE, 0, 0, inc),
        ...requests,
      ]),
    );
    // Never read: 8 MiB of responses cannot all leave.
    s.pause();
    try {
      let metrics = '';
      await until(async () => {
        metrics = await (await request(`${f.adminUrl}/metrics`)).body.text();
        return /reason="stuck-output"\} 1/.test(metrics);
      }, 10000);
      assert.match(metrics, /fulcrum_http2_abuse_closes_total\{listener="proxy",reason="stuck-output"\} 1/);
    } finally {
      s.destroy();
    }
  });
});

for (const codec of ['fulcrum', 'node'] as const) {
  describe(`HTTP/2 codec ${codec}: a client gone behind a closed window`, () => {
    let up: TestUpstream;
    let f: TestNode;
    before(async () => {
      up = await startUpstream('up', (_req, res) => res.end('ok'));
      f = await startFulcrum(
        `services:\n  - name: s\n    url: http://${up.target}\n    routes:\n      - paths: ["/"]\n`,
        { header: HEADER.replace('codec: fulcrum', `codec: ${codec}`) },
      );
    });
    after(async () => {
      await f.stop();
      await up.close();
    });

    it('is closed within two keep-alive periods, not kept for ever', async () => {
      const c = await RawH2.open(f.port);
      try {
        // A zero stream window: the response's DATA can never be sent.
        c.write(settings([[0x4, 0]]));
        c.write(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, requestBlock('/')));
        await c.until(
          () => c.frames.some((x) => x.type === FRAME.HEADERS && x.streamId === 1),
          5000,
          'the head',
        );
        // The client leaves (FIN): it will never open the window.
        c.socket.end();
        await c.until(() => c.closed, 5000, 'the server to close the connection');
      } finally {
        c.destroy();
      }
    });
  });
}
