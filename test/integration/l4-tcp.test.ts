/**
 * tcp listeners end to end: real echo servers as targets, real sockets as clients.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import {
  closedPort,
  closedWithin,
  greeting,
  readBytes,
  readLine,
  startEchoServer,
  type TcpServer,
  tcpConnect,
} from '../helpers/l4.ts';

const header = (listeners: string) => `_format_version: "3.0"
admin:
  address: 127.0.0.1
  port: 0
listeners:
${listeners}
`;

async function metric(f: TestNode, re: RegExp): Promise<number> {
  const text = await (await request(`${f.adminUrl}/metrics`)).body.text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (re.test(line)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

describe('tcp listener: balancing connections', () => {
  let a: TcpServer;
  let b: TcpServer;
  let c: TcpServer;
  let f: TestNode;
  let rrPort: number;
  let hashPort: { host: string; port: number };
  before(async () => {
    [a, b, c] = await Promise.all([startEchoServer('a'), startEchoServer('b'), startEchoServer('c')]);
    const targets = [a, b, c].map((s) => `      - target: ${s.target}`).join('\n');
    f = await startFulcrum(
      `services:
  - name: rr
    protocol: tcp
    host: rr-up
    routes:
      - name: rr
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.1 }]
  - name: hashed
    protocol: tcp
    host: hash-up
    routes:
      - name: hashed
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.2 }]
upstreams:
  - name: rr-up
    targets:
${targets}
  - name: hash-up
    algorithm: consistent-hashing
    hash_on: ip
    targets:
${targets}
`,
      {
        header: header(`  - { name: rr, protocol: tcp, address: 127.0.0.1, port: 0 }
  - { name: hashed, protocol: tcp, address: 127.0.0.2, port: 0 }`),
      },
    );
    const addrs = f.node.proxyAddresses();
    rrPort = addrs[0]!.port;
    hashPort = { host: '127.0.0.2', port: addrs[1]!.port };
  });
  after(async () => {
    await f?.stop();
    await Promise.all([a, b, c].map((s) => s?.close()));
  });

  it('spreads connections round-robin, each piped to its target', async () => {
    const seen: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const s = await tcpConnect(rrPort);
      const name = await readLine(s);
      s.write(`ping ${i}\n`);
      assert.equal(await readLine(s), `ping ${i}`);
      s.destroy();
      seen[name] = (seen[name] ?? 0) + 1;
    }
    assert.deepEqual(seen, { a: 10, b: 10, c: 10 });
  });

  it('hash_on ip keeps a client address on one target, and spreads addresses', async () => {
    const firstBy = new Map<string, string>();
    for (let i = 1; i <= 12; i++) {
      const from = `127.0.0.${i}`;
      for (let k = 0; k < 3; k++) {
        const name = await greeting(hashPort, from);
        if (!firstBy.has(from)) firstBy.set(from, name);
        else assert.equal(name, firstBy.get(from), `client ${from} moved`);
      }
    }
    assert.ok(new Set(firstBy.values()).size >= 2, `12 addresses all on ${[...firstBy.values()][0]}`);
  });

  it('relays 50 MB both ways byte-exact', async () => {
    const size = 50 * 1024 * 1024;
    const data = randomBytes(size);
    const s = await tcpConnect(rrPort);
    await readLine(s);
    const want = createHash('sha256').update(data).digest('hex');
    const got = createHash('sha256');
    let n = 0;
    const done = new Promise<void>((resolve, reject) => {
      s.on('data', (chunk: Buffer) => {
        got.update(chunk);
        n += chunk.length;
        if (n >= size) resolve();
      });
      s.once('close', () => reject(new Error(`closed after ${n} bytes`)));
    });
    s.resume();
    // Written in 1 MiB slices, honouring backpressure.
    for (let off = 0; off < size; off += 1 << 20)
      if (!s.write(data.subarray(off, off + (1 << 20)))) await once(s, 'drain');
    await done;
    s.destroy();
    assert.equal(n, size);
    assert.equal(got.digest('hex'), want);
    assert.ok((await metric(f, /^fulcrum_l4_bytes_total\{listener="rr".*direction="in"/)) >= size);
  });

  it('passes a half-close on: the target still answers after the client sent FIN', async () => {
    const s = await tcpConnect(rrPort);
    await readLine(s);
    s.end('last words\n');
    const rest = await readBytes(s, 1 << 20);
    assert.equal(rest.toString(), 'last words\n');
  });

  it('counts connections in fulcrum_l4_connections_total', async () => {
    assert.ok(
      (await metric(
        f,
        /^fulcrum_l4_connections_total\{listener="rr",route="rr",service="rr",result="proxied"\}/,
      )) >= 30,
    );
  });
});

describe('tcp listener: failures, limits, timeouts', () => {
  let live: TcpServer;
  let silent: TcpServer;
  let f: TestNode;
  let ports: { host: string; port: number }[];
  let dead: number;
  before(async () => {
    live = await startEchoServer('live');
    silent = await startEchoServer('silent', { onConnection: () => {} });
    dead = await closedPort();
    f = await startFulcrum(
      `services:
  - name: skip
    protocol: tcp
    host: mixed
    retries: 2
    routes:
      - protocols: [tcp]
        destinations: [{ ip: 127.0.0.1 }]
  - name: idle
    protocol: tcp
    host: 127.0.0.1
    port: ${silent.port}
    read_timeout: 200
    routes:
      - protocols: [tcp]
        destinations: [{ ip: 127.0.0.2 }]
  - name: nowhere
    url: tcp://127.0.0.1:${dead}
    retries: 0
    routes:
      - protocols: [tcp]
        destinations: [{ ip: 127.0.0.3 }]
upstreams:
  - name: mixed
    healthchecks:
      passive:
        unhealthy: { tcp_failures: 1 }
    targets:
      - target: 127.0.0.1:${dead}
      - target: ${live.target}
`,
      {
        header: header(`  - { name: skip, protocol: tcp, address: 127.0.0.1, port: 0 }
  - { name: idle, protocol: tcp, address: 127.0.0.2, port: 0, max_connections: 2 }
  - { name: nowhere, protocol: tcp, address: 127.0.0.3, port: 0 }
  - { name: unrouted, protocol: tcp, address: 127.0.0.4, port: 0 }`),
      },
    );
    ports = f.node.proxyAddresses().map((x) => ({ host: x.address, port: x.port }));
  });
  after(async () => {
    await f?.stop();
    await live?.close();
    await silent?.close();
  });

  it('retries a refused connect on another target and marks the refusing one unhealthy', async () => {
    for (let i = 0; i < 6; i++) assert.equal(await greeting(ports[0]!), 'live');
    assert.equal(live.accepted, 6);
    const st = (await (await request(`${f.adminUrl}/status`)).body.json()) as {
      upstreams: { name: string; targets: { target: string; health: string }[] }[];
    };
    const up = st.upstreams.find((u) => u.name === 'mixed')!;
    assert.equal(up.targets.find((t) => t.target === `127.0.0.1:${dead}`)!.health, 'unhealthy');
    assert.ok(
      (await metric(f, /^fulcrum_upstream_retries_total\{upstream="mixed",reason="connect-failure"\}/)) >= 1,
    );
  });

  it('closes the client when no target accepts (retries exhausted)', async () => {
    const s = await tcpConnect(ports[2]!);
    assert.deepEqual(await closedWithin(s), { bytes: 0 });
    assert.equal(
      await metric(f, /^fulcrum_l4_connections_total\{listener="nowhere".*result="connect-failed"\}/),
      1,
    );
  });

  it('closes a connection idle for the service read_timeout', async () => {
    const s = await tcpConnect(ports[1]!);
    const t0 = Date.now();
    await closedWithin(s, 5000);
    assert.ok(Date.now() - t0 >= 150, `closed after ${Date.now() - t0} ms`);
    assert.equal(
      await metric(f, /^fulcrum_l4_connections_total\{listener="idle".*result="idle-timeout"\}/),
      1,
    );
  });

  it('refuses connections past max_connections', async () => {
    const held = [await tcpConnect(ports[1]!), await tcpConnect(ports[1]!)];
    // Both are connected to the silent target before the third arrives.
    for (let i = 0; i < 500 && silent.accepted < 3; i++) await new Promise((r) => setTimeout(r, 10));
    const third = await tcpConnect(ports[1]!);
    assert.deepEqual(await closedWithin(third, 2000), { bytes: 0 });
    assert.equal(await metric(f, /^fulcrum_l4_connections_total\{listener="idle".*result="limit"\}/), 1);
    for (const s of held) s.destroy();
  });

  it('closes a connection no route matches', async () => {
    const s = await tcpConnect(ports[3]!);
    await closedWithin(s);
    assert.equal(
      await metric(
        f,
        /^fulcrum_l4_connections_total\{listener="unrouted",route="",service="",result="no-route"\}/,
      ),
      1,
    );
  });
});
