/**
 * PROXY protocol through a tcp listener: accepted from trusted peers only (the header's source is
 * used for routing), and sent to targets (v1 and v2) when the service asks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseProxyHeader } from '../../src/listeners/proxy-protocol.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { closedWithin, readLine, startEchoServer, type TcpServer, tcpConnect } from '../helpers/l4.ts';

/** A target that reads a PROXY header, answers `<name> <version> <source>:<port>`, then echoes. */
function ppTarget(name: string): Promise<TcpServer> {
  return startEchoServer(name, {
    onConnection: (s) => {
      let buf = Buffer.alloc(0);
      const onData = (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        const r = parseProxyHeader(buf);
        if (r.kind === 'need-more') return;
        s.off('data', onData);
        if (r.kind === 'error') return void s.end(`${name} error ${r.reason}\n`);
        const h = r.header;
        s.write(`${name} v${h.version} ${h.sourceIp}:${h.sourcePort} ${h.destIp}:${h.destPort}\n`);
        const rest = buf.subarray(r.length);
        if (rest.length > 0) s.write(rest);
        s.pipe(s);
      };
      s.on('data', onData);
    },
  });
}

describe('PROXY protocol on a tcp listener', () => {
  let v1: TcpServer;
  let v2: TcpServer;
  let f: TestNode;
  let trustedPort: number;
  before(async () => {
    [v1, v2] = await Promise.all([ppTarget('t1'), ppTarget('t2')]);
    f = await startFulcrum(
      `services:
  - name: from-doc-net
    url: tcp://127.0.0.1:${v2.port}
    proxy_protocol: v2
    routes:
      - protocols: [tcp]
        sources: [{ ip: 203.0.113.0/24 }]
  - name: others
    url: tcp://127.0.0.1:${v1.port}
    proxy_protocol: v1
    routes:
      - protocols: [tcp]
`,
      {
        header: `_format_version: "3.0"
admin: { address: 127.0.0.1, port: 0 }
trusted_ips: [127.0.0.1/32]
listeners:
  - { name: pp, protocol: tcp, address: 127.0.0.1, port: 0, proxy_protocol: true }
  - { name: plain, protocol: tcp, address: 127.0.0.1, port: 0 }
`,
      },
    );
    trustedPort = f.node.proxyAddresses()[0]!.port;
  });
  after(async () => {
    await f?.stop();
    await v1?.close();
    await v2?.close();
  });

  it("routes on the header's source and sends it on as v2", async () => {
    const s = await tcpConnect(trustedPort);
    s.write('PROXY TCP4 203.0.113.7 198.51.100.1 5555 443\r\nping\n');
    assert.equal(await readLine(s), 't2 v2 203.0.113.7:5555 198.51.100.1:443');
    assert.equal(await readLine(s), 'ping');
    s.destroy();
  });

  it('accepts a v2 header in; another source goes to the other route, sent on as v1', async () => {
    const s = await tcpConnect(trustedPort);
    const addr = Buffer.from([192, 0, 2, 9, 198, 51, 100, 1, 0x04, 0xd2, 0x01, 0xbb]);
    s.write(
      Buffer.concat([
        Buffer.from([
          0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0, 12,
        ]),
        addr,
        Buffer.from('pong\n'),
      ]),
    );
    assert.equal(await readLine(s), 't1 v1 192.0.2.9:1234 198.51.100.1:443');
    assert.equal(await readLine(s), 'pong');
    s.destroy();
  });

  it('closes a connection whose header is malformed', async () => {
    const s = await tcpConnect(trustedPort);
    s.write('HELLO\r\n');
    assert.deepEqual(await closedWithin(s), { bytes: 0 });
  });

  it('closes a PROXY connection from a peer outside trusted_ips', async () => {
    const s = await tcpConnect(trustedPort, '127.0.0.9');
    s.write('PROXY TCP4 203.0.113.7 198.51.100.1 5555 443\r\n');
    assert.deepEqual(await closedWithin(s), { bytes: 0 });
  });

  it('sends the real peer address as v1 from a listener without PROXY protocol', async () => {
    const plain = f.node.proxyAddresses()[1]!.port;
    const s = await tcpConnect(plain, '127.0.0.3');
    const line = await readLine(s);
    assert.match(line, new RegExp(`^t1 v1 127\\.0\\.0\\.3:${s.localPort} 127\\.0\\.0\\.1:${plain}$`));
    s.destroy();
  });
});
