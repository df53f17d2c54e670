/**
 * A target connection's share of a turn (read-share.ts). Its accounting, on a real connected
 * socket: reading stops once READ_SHARE_BYTES were read and starts again at the end of the turn,
 * unless the reader asked to wait meanwhile. Then a real pool reading a real target on 127.0.0.1
 * that writes 8 MiB at once: every byte arrives, in order, through the pauses (one every 256 KiB).
 * What the share is for, the bound on what one turn relays, is not asserted here: this loopback
 * never queues more than ~126 KiB for one read event (the initial receive buffer), below a share,
 * where the bench's busy connections had queued whole 1 MiB responses (docs/benchmarks.md,
 * 2026-12-07).
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { READ_SHARE_BYTES, ReadShare } from '../../../src/upstreams/read-share.ts';
import { localPool, upstreamRequest } from '../../helpers/upstream-request.ts';

const BODY_BYTES = 8 * 1024 * 1024;

describe("a target connection's share of a turn", () => {
  let server: Server;
  let port = 0;
  let expected = Buffer.alloc(0);
  const accepted: Socket[] = [];
  before(async () => {
    // A pattern that repeats every 251 bytes: a lost, doubled or reordered read shows.
    const body = Buffer.alloc(BODY_BYTES);
    for (let i = 0; i < BODY_BYTES; i++) body[i] = i % 251;
    expected = body;
    server = createServer((s) => {
      accepted.push(s);
      s.once('data', () => {
        s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${BODY_BYTES}\r\n\r\n`);
        s.write(body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    for (const s of accepted) s.destroy();
    server.close();
  });

  /** A socket connected to the target (which answers nothing until asked). */
  function connected(): Promise<Socket> {
    return new Promise((resolve) => {
      const c = connect({ host: '127.0.0.1', port }, () => resolve(c));
      c.on('data', () => {});
    });
  }

  it('stops reading after a share and starts again at the end of the turn', async () => {
    const client = await connected();
    let mayResume = true;
    const share = new ReadShare(client, () => mayResume);
    assert.equal(share.take(READ_SHARE_BYTES - 1), true);
    assert.equal(client.isPaused(), false);
    assert.equal(share.take(1), false, 'the share is used up');
    assert.equal(client.isPaused(), true);
    await new Promise((r) => setImmediate(r));
    assert.equal(client.isPaused(), false, 'reading again after the turn');
    // The count starts afresh; a reader that asked to wait keeps the socket paused.
    assert.equal(share.take(READ_SHARE_BYTES - 1), true);
    assert.equal(share.take(1), false);
    mayResume = false;
    await new Promise((r) => setImmediate(r));
    assert.equal(client.isPaused(), true, 'the reader asked to wait');
    client.destroy();
  });

  it('reads a long response whole and in order through the pauses', async () => {
    const pool = localPool(port);
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      pool.dispatch(upstreamRequest('GET / HTTP/1.1\r\nhost: t\r\n\r\n'), {
        onConnected() {},
        onInformational() {},
        onHead: () => true,
        onUpgrade() {},
        onData(chunk: Buffer) {
          chunks.push(chunk);
          return true;
        },
        onEnd: () => resolve(),
        onError: reject,
        onReadEnd() {},
      });
    });
    pool.close();
    const got = Buffer.concat(chunks);
    assert.equal(got.length, BODY_BYTES);
    assert.ok(got.equals(expected), 'the bytes as the target sent them');
  });
});
