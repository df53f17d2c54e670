/**
 * udp listeners end to end: real dgram echo servers as targets, real dgram clients.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { startUdpEcho, type UdpServer, udpClient } from '../helpers/l4.ts';

async function metric(f: TestNode, re: RegExp): Promise<number> {
  const text = await (await request(`${f.adminUrl}/metrics`)).body.text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (re.test(line)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** Poll a metric until it reaches `want` (bounded: 200 scrapes). */
async function metricReaches(f: TestNode, re: RegExp, want: number): Promise<number> {
  let v = 0;
  for (let i = 0; i < 200; i++) {
    v = await metric(f, re);
    if (v >= want) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  return v;
}

describe('udp listener', () => {
  let x: UdpServer;
  let y: UdpServer;
  let f: TestNode;
  let port: number;
  let smallPort: number;
  before(async () => {
    [x, y] = await Promise.all([startUdpEcho('x'), startUdpEcho('y')]);
    f = await startFulcrum(
      `services:
  - name: dns
    protocol: udp
    host: pair
    read_timeout: 300
    routes:
      - name: dns
        protocols: [udp]
upstreams:
  - name: pair
    targets:
      - target: ${x.target}
      - target: ${y.target}
`,
      {
        header: `_format_version: "3.0"
admin: { address: 127.0.0.1, port: 0 }
listeners:
  - { name: udp, protocol: udp, address: 127.0.0.1, port: 0 }
  - { name: small, protocol: udp, address: 127.0.0.1, port: 0, max_sessions: 1 }
`,
      },
    );
    [port, smallPort] = f.node.proxyAddresses().map((a) => a.port) as [number, number];
  });
  after(async () => {
    await f?.stop();
    await x?.close();
    await y?.close();
  });

  it('pins each client to one target, replies come from the listener address', async () => {
    const a = await udpClient();
    const b = await udpClient();
    const namesA = new Set<string>();
    for (let i = 0; i < 3; i++) {
      await a.send(port, `a${i}`);
      const r = await a.next();
      assert.equal(r.from, `127.0.0.1:${port}`);
      namesA.add(r.msg.toString().split(':')[0]!);
      assert.match(r.msg.toString(), new RegExp(`:a${i}$`));
    }
    await b.send(port, 'b0');
    const rb = await b.next();
    assert.equal(rb.from, `127.0.0.1:${port}`);
    assert.equal(namesA.size, 1, 'client a moved between targets');
    // Round-robin: the second client's session went to the other target.
    assert.notEqual(rb.msg.toString().split(':')[0], [...namesA][0]);
    // Each target saw one stable peer per client session.
    assert.equal(new Set(x.peers).size, 1);
    assert.equal(new Set(y.peers).size, 1);
    await a.close();
    await b.close();
  });

  it('expires idle sessions after read_timeout; the next datagram opens a new one', async () => {
    const ended = await metricReaches(
      f,
      /^fulcrum_l4_connections_total\{listener="udp",.*result="proxied"\}/,
      2,
    );
    assert.equal(ended, 2);
    const c = await udpClient();
    const before = x.peers.length + y.peers.length;
    await c.send(port, 'again');
    const r = await c.next();
    assert.match(r.msg.toString(), /:again$/);
    assert.equal(x.peers.length + y.peers.length, before + 1);
    assert.equal(new Set([...x.peers, ...y.peers]).size, 3, 'a new session uses a new socket');
    await c.close();
  });

  it('bounds the session table: a new client is dropped while it is full', async () => {
    const a = await udpClient();
    const b = await udpClient();
    await a.send(smallPort, 'first');
    assert.match((await a.next()).msg.toString(), /:first$/);
    await b.send(smallPort, 'second');
    assert.equal(
      await metricReaches(f, /^fulcrum_udp_dropped_total\{listener="small",reason="limit"\}/, 1),
      1,
    );
    // The live session still works.
    await a.send(smallPort, 'third');
    assert.match((await a.next()).msg.toString(), /:third$/);
    await a.close();
    await b.close();
  });
});
