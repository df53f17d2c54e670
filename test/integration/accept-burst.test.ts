/**
 * A burst of new connections (src/listeners/accept-group.ts). Node's libuv accepts one connection
 * per listening socket per event-loop turn; where Node binds SO_REUSEPORT groups (22.12+ on Linux)
 * a listener binds `accept_sockets` sockets and a turn takes up to one connection from each.
 * Elsewhere a listener has one socket, and asking for more is refused when it binds.
 *
 * The bursts are built deterministically: the test opens the connections, then holds its own event
 * loop (Fulcrum runs in this process) until the kernel's accept queues hold all of them, read from
 * /proc/net/tcp; what the first turn that accepts any accepted is counted at the end of that turn.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { reusePortAvailable } from '../../src/workers/listen-mode.ts';
import { serviceOverUpstream } from '../helpers/config.ts';
import { startFulcrum, type TestNode, testHeader } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const GROUPS = reusePortAvailable();
const BURST = 64;

/** The accept queue of each socket listening on 127.0.0.1:port (LISTEN rows of /proc/net/tcp). */
function acceptQueues(port: number): number[] {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const queues: number[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[3] === '0A') queues.push(Number.parseInt(f[4]!.split(':')[1]!, 16));
  }
  return queues;
}

/** Hold this event loop until `n` connections wait in the port's accept queues (bounded). */
function holdUntilQueued(port: number, n: number): number[] {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const queues = acceptQueues(port);
    if (queues.reduce((a, b) => a + b, 0) >= n) return queues;
    if (performance.now() > deadline) throw new Error(`accept queues never held ${n}: ${queues.join(',')}`);
  }
}

const header = (sockets: number | string) => `accept_sockets: ${sockets}\n${testHeader()}`;
const body = (target: string) => serviceOverUpstream([target]);

/** Send one GET on each socket; resolves with the status line each one got. */
function getOnEach(sockets: Socket[]): Promise<string[]> {
  return Promise.all(
    sockets.map(
      (s) =>
        new Promise<string>((resolve, reject) => {
          let got = '';
          s.setEncoding('latin1');
          s.on('data', (d: string) => {
            got += d;
            if (got.includes('\r\n\r\n')) resolve(got.split('\r\n')[0]!);
          });
          s.on('error', reject);
          s.write('GET / HTTP/1.1\r\nHost: burst\r\n\r\n');
        }),
    ),
  );
}

describe('accepting a burst of connections', () => {
  let up: TestUpstream;
  const opened: Socket[] = [];
  before(async () => {
    up = await startUpstream('up');
  });
  after(async () => {
    for (const s of opened) s.destroy();
    await up.close();
  });

  /** Open BURST connections, hold the loop until all are queued; how many the next turn accepted. */
  async function burst(node: TestNode): Promise<{ queues: number[]; firstTurn: number; sockets: Socket[] }> {
    const before = node.node.runtime.connections;
    const sockets = Array.from({ length: BURST }, () => connect(node.port, '127.0.0.1'));
    opened.push(...sockets);
    // net.connect issues its connect(2) on the next tick: let those run before holding the loop.
    await new Promise((r) => process.nextTick(r));
    const queues = holdUntilQueued(node.port, BURST);
    // Each wait ends in the check phase of one more turn: the first that finds connections
    // accepted ends the turn whose poll phase accepted them.
    while (node.node.runtime.connections === before) await new Promise((r) => setImmediate(r));
    return { queues, firstTurn: node.node.runtime.connections - before, sockets };
  }

  it('with one socket, a turn accepts one connection of the burst (the libuv behaviour)', async () => {
    const node = await startFulcrum(body(up.target), { header: header(1) });
    try {
      const { queues, firstTurn, sockets } = await burst(node);
      assert.deepEqual(queues, [BURST]);
      assert.equal(firstTurn, 1);
      const statuses = await getOnEach(sockets);
      assert.deepEqual(new Set(statuses), new Set(['HTTP/1.1 200 OK']));
    } finally {
      await node.stop();
    }
  });

  it('with a group, a turn accepts one connection from every socket holding some, and all are served', {
    skip: !GROUPS && 'needs Node 22.12+ on Linux',
  }, async () => {
    const node = await startFulcrum(body(up.target), { header: header(8) });
    try {
      const { queues, firstTurn, sockets } = await burst(node);
      assert.equal(queues.length, 8, 'eight sockets listen on the port');
      assert.equal(firstTurn, queues.filter((q) => q > 0).length);
      assert.ok(firstTurn > 1, `a turn took ${firstTurn} connections`);
      const statuses = await getOnEach(sockets);
      assert.deepEqual(new Set(statuses), new Set(['HTTP/1.1 200 OK']));
    } finally {
      await node.stop();
    }
    assert.deepEqual(acceptQueues(node.port), [], 'every socket of the group closed on stop');
  });

  it('`auto` binds 16 sockets where groups exist, else 1', async () => {
    const node = await startFulcrum(body(up.target), { header: header('auto') });
    try {
      assert.equal(acceptQueues(node.port).length, GROUPS ? 16 : 1);
    } finally {
      await node.stop();
    }
  });

  it("another process's group on the port is refused (EADDRINUSE), not joined", {
    skip: !GROUPS && 'needs Node 22.12+ on Linux',
  }, async () => {
    const foreign: Server = createServer();
    await new Promise<void>((r) =>
      foreign.listen({ host: '127.0.0.1', port: 0, reusePort: true } as Parameters<Server['listen']>[0], () =>
        r(),
      ),
    );
    const port = (foreign.address() as { port: number }).port;
    try {
      const yaml = `accept_sockets: 4\n${testHeader().replace('port: 0', `port: ${port}`)}`;
      await assert.rejects(startFulcrum(body(up.target), { header: yaml }), /EADDRINUSE/);
    } finally {
      foreign.close();
    }
  });

  it('a number above 1 is refused where Node cannot bind a group', {
    skip: GROUPS && 'groups available',
  }, async () => {
    await assert.rejects(
      startFulcrum(body(up.target), { header: header(4) }),
      /accept_sockets: 4 needs Node 22\.12 or later on Linux .*use auto or 1/,
    );
  });
});
