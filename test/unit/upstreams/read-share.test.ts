/**
 * A target connection's share of a turn (read-share.ts). Its accounting, on a real connected
 * socket: reading stops once READ_SHARE_BYTES were read and starts again at the end of the turn,
 * unless the reader asked to wait meanwhile. Then a real pool reading a real target on 127.0.0.1
 * that writes 8 MiB at once: every byte arrives through the pauses (one every 256 KiB), and no
 * turn relays more than a share and the read that crossed it (turns counted by a setImmediate
 * chain, one step per check phase). On this loopback the kernel rarely queues more than ~126 KiB
 * for one read event, below a share; the bench's 64 busy connections queued whole 1 MiB responses
 * (docs/benchmarks.md, 2026-12-07).
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { READ_SHARE_BYTES, ReadShare } from '../../../src/upstreams/read-share.ts';
import { localPool, upstreamRequest } from '../../helpers/upstream-request.ts';

const BODY_BYTES = 8 * 1024 * 1024;
/** What one read can bring (libuv's read size): the read that crosses the share is still relayed. */
const ONE_READ = 64 * 1024;

describe("a target connection's share of a turn", () => {
  let server: Server;
  let port = 0;
  const accepted: Socket[] = [];
  before(async () => {
    const body = Buffer.alloc(BODY_BYTES, 'x');
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

  it('reads a long response a share per turn, and all of it', async () => {
    const pool = localPool(port);
    let turn = 0;
    let counting = true;
    const step = () => {
      turn++;
      if (counting) setImmediate(step);
    };
    setImmediate(step);
    const perTurn = new Map<number, number>();
    let total = 0;
    await new Promise<void>((resolve, reject) => {
      pool.dispatch(upstreamRequest('GET / HTTP/1.1\r\nhost: t\r\n\r\n'), {
        onConnected() {},
        onInformational() {},
        onHead: () => true,
        onUpgrade() {},
        onData(chunk: Buffer) {
          total += chunk.length;
          perTurn.set(turn, (perTurn.get(turn) ?? 0) + chunk.length);
          return true;
        },
        onEnd: () => resolve(),
        onError: reject,
        onReadEnd() {},
      });
    });
    counting = false;
    pool.close();
    assert.equal(total, BODY_BYTES);
    const most = Math.max(...perTurn.values());
    assert.ok(most <= READ_SHARE_BYTES + ONE_READ, `at most a share a turn: ${most} bytes in one turn`);
    assert.ok(perTurn.size >= BODY_BYTES / (READ_SHARE_BYTES + ONE_READ), `over ${perTurn.size} turns`);
  });
});
