/**
 * Requests held to the end of the event-loop turn (h1-target-connection.ts, turn-end.ts): a head
 * without a body, or with a whole short body, is written after every I/O callback of the turn;
 * a body still arriving, or a long one, is written as it comes. Real pools to a real target on
 * 127.0.0.1: what the target's kernel has received is read from /proc/net/tcp (the target never
 * reads), right after the callback that started the request, and again once the turn is over.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { BodyChannel } from '../../../src/proxy/body-channel.ts';
import type { H1Pool } from '../../../src/upstreams/h1-pool.ts';
import type { UpstreamRequest } from '../../../src/upstreams/upstream-call.ts';
import { localPool, upstreamRequest } from '../../helpers/upstream-request.ts';

/** Bytes waiting unread in the receive queues of the target's sockets (port `port` on 127.0.0.1). */
function receivedUnread(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let n = 0;
  for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[3] === '01') n += Number.parseInt(f[4]!.split(':')[1]!, 16);
  }
  return n;
}

describe('requests held to the end of the turn', () => {
  let server: Server;
  let port = 0;
  const accepted: Socket[] = [];
  const pools: H1Pool[] = [];
  before(async () => {
    // The target accepts and never reads: what arrives stays in its kernel's receive queue.
    server = createServer({ pauseOnConnect: true }, (s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => {
    for (const p of pools) p.close();
    for (const s of accepted) s.destroy();
    server.close();
  });

  /**
   * Dispatch `req` on a new pool; resolves with the bytes the target had received just after the
   * connect callback that wrote (or held) the request, then at the end of that turn.
   */
  function sent(req: UpstreamRequest): Promise<{ atOnce: number; atTurnEnd: number }> {
    const pool = localPool(port);
    pools.push(pool);
    const before = receivedUnread(port);
    return new Promise((resolve, reject) => {
      pool.dispatch(req, {
        // Called as the request starts, inside the connect callback: what it wrote is in the
        // target's queue once the callback returns (a microtask), what it held only after the turn.
        onConnected() {
          queueMicrotask(() => {
            const atOnce = receivedUnread(port) - before;
            setImmediate(() =>
              setImmediate(() => resolve({ atOnce, atTurnEnd: receivedUnread(port) - before })),
            );
          });
        },
        onInformational() {},
        onHead: () => true,
        onUpgrade() {},
        onData: () => true,
        onEnd() {},
        onError: reject,
        onReadEnd() {},
      });
    });
  }

  const HEAD = 'POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n\r\n';

  it('a head without a body waits for the end of the turn', async () => {
    const get = 'GET / HTTP/1.1\r\nhost: t\r\n\r\n';
    const { atOnce, atTurnEnd } = await sent(upstreamRequest(get, null));
    assert.equal(atOnce, 0);
    assert.equal(atTurnEnd, get.length);
  });

  it('a whole short body that came with its head waits with it for the end of the turn', async () => {
    const body = BodyChannel.of(Buffer.from('hello'));
    const { atOnce, atTurnEnd } = await sent(upstreamRequest(HEAD, body));
    assert.equal(atOnce, 0, 'nothing written inside the callback');
    assert.equal(atTurnEnd, HEAD.length + 5);
  });

  it('a short body kept for a replay (a Buffer) waits as well', async () => {
    const { atOnce, atTurnEnd } = await sent(upstreamRequest(HEAD, Buffer.from('hello')));
    assert.equal(atOnce, 0);
    assert.equal(atTurnEnd, HEAD.length + 5);
  });

  it('a body still arriving is written as it comes: the head with its first bytes, at once', async () => {
    const body = new BodyChannel(10, false, 0, 0);
    body.push(Buffer.from('hello'));
    const { atOnce } = await sent(upstreamRequest(HEAD.replace('5', '10'), body));
    assert.equal(atOnce, HEAD.length + 1 + 5);
    body.end(null);
  });

  it('a long body is written at once', async () => {
    const long = Buffer.alloc(16 * 1024, 'x');
    const head = HEAD.replace('5', String(long.length));
    const { atOnce } = await sent(upstreamRequest(head, BodyChannel.of(long)));
    assert.equal(atOnce, head.length + long.length);
  });
});
