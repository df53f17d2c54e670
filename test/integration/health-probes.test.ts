/**
 * Active probe kinds through a running proxy, against real servers on 127.0.0.1: HTTP method and
 * body match, probe jitter, TCP send/expect, and UDP send/expect.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { request } from 'undici';
import { waitFor } from '../helpers/faulty-upstream.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function listen(server: Server | NetServer): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function fulcrum(target: string, healthchecks: string): Promise<TestNode> {
  const f = await startFulcrum(`
services:
  - name: s
    host: u
    routes: [{ paths: ["/"] }]
upstreams:
  - name: u
    healthchecks:
${healthchecks}      threshold: 0
    targets:
      - target: ${target}
`);
  cleanup.push(() => f.stop());
  return f;
}

const health = (f: TestNode, target: string) => f.node.runtime.live.targets.get(`u/${target}`)!.health;

async function metrics(f: TestNode): Promise<string> {
  return (await request(`${f.adminUrl}/metrics`)).body.text();
}

/** An HTTP server whose `/health` answers `state.status` with `state.body`; it records the methods. */
async function healthServer(state: { status: number; body: string }) {
  const methods: string[] = [];
  const server = createHttpServer((req, res) => {
    methods.push(req.method ?? '');
    res.writeHead(state.status, { 'content-type': 'text/plain' });
    res.end(req.method === 'HEAD' ? undefined : state.body);
  });
  const target = await listen(server);
  return { target, methods };
}

describe('active http checks: method and body match', () => {
  it('sends HEAD when asked', async () => {
    const { target, methods } = await healthServer({ status: 200, body: 'ok' });
    const f = await fulcrum(
      target,
      `      active:
        method: HEAD
        healthy: { interval: 0.02 }
`,
    );
    await waitFor(() => methods.length >= 2, 'two probes');
    assert.deepEqual([...new Set(methods)], ['HEAD']);
    assert.equal(health(f, target), 'healthy');
  });

  it('a 200 whose body does not match is an HTTP failure; a match brings the target back', async () => {
    const state = { status: 200, body: 'status: ok' };
    const { target, methods } = await healthServer(state);
    const f = await fulcrum(
      target,
      `      active:
        http_body: "~status: (ok|degraded)"
        healthy: { interval: 0.02, successes: 2 }
        unhealthy: { interval: 0.02, http_failures: 2 }
`,
    );
    await waitFor(() => methods.length >= 3, 'three probes');
    assert.equal(health(f, target), 'healthy');
    assert.deepEqual([...new Set(methods)], ['GET']);
    state.body = 'status: down';
    await waitFor(() => health(f, target) === 'unhealthy', 'unhealthy on a body that does not match');
    assert.match(
      await metrics(f),
      new RegExp(`fulcrum_health_checks_total\\{upstream="u",target="${target}",result="mismatch"\\} [1-9]`),
    );
    state.body = 'status: degraded';
    await waitFor(() => health(f, target) === 'healthy', 'healthy again on a match');
    // A failing status fails whatever its body says.
    state.status = 503;
    state.body = 'status: ok';
    await waitFor(() => health(f, target) === 'unhealthy', 'unhealthy on 503 with a matching body');
    assert.match(await metrics(f), /result="http_failure"/);
  });

  it('reads at most 64 KiB of the body: a match further on does not count', async () => {
    const state = { status: 200, body: `${'x'.repeat(70 * 1024)}MARK` };
    const { target, methods } = await healthServer(state);
    const f = await fulcrum(
      target,
      `      active:
        http_body: MARK
        healthy: { interval: 0.02, successes: 1 }
        unhealthy: { interval: 0.02, http_failures: 1 }
`,
    );
    await waitFor(() => health(f, target) === 'unhealthy', 'unhealthy: the mark lies past 64 KiB');
    state.body = `${'x'.repeat(60 * 1024)}MARK`;
    await waitFor(() => health(f, target) === 'healthy', 'healthy: the mark lies within 64 KiB');
    assert.ok(methods.length >= 2);
  });
});

describe('active checks: jitter', () => {
  it('spreads probes over [interval, interval + jitter)', async () => {
    const stamps: number[] = [];
    const server = createHttpServer((_req, res) => {
      stamps.push(performance.now());
      res.end('ok');
    });
    const target = await listen(server);
    await fulcrum(
      target,
      `      active:
        jitter: 0.3
        healthy: { interval: 0.01 }
`,
    );
    await waitFor(() => stamps.length >= 7, 'seven probes', 10_000);
    const gaps = stamps.slice(1, 7).map((s, i) => s - stamps[i]!);
    // Without jitter every gap is about 10 ms; with it, each is 10 + [0, 300) ms. The chance that six
    // uniform draws all fall under 50 ms is (50/300)^6, about 2e-5.
    assert.ok(
      gaps.some((g) => g > 60),
      `some gap above 60 ms: ${gaps.map(Math.round)}`,
    );
    // The upper bound ([interval, interval + jitter)) is the unit test's, on virtual time
    // (test/unit/health/probe.test.ts): on a loaded machine a real timer may fire late by any amount.
    assert.ok(
      gaps.every((g) => g >= 9),
      `no gap under the interval: ${gaps.map(Math.round)}`,
    );
  });
});

describe('active tcp checks: send and expect', () => {
  it('sends the bytes, expects the reply, and counts a wrong reply as a TCP failure', async () => {
    const state = { reply: '+PONG\r\n' as string | null };
    const seen: Buffer[] = [];
    const server = createNetServer((sock) => {
      sock.on('data', (d: Buffer) => {
        seen.push(d);
        if (state.reply === null) return; // silence
        sock.end(state.reply);
      });
      sock.on('error', () => {});
    });
    const target = await listen(server);
    const f = await fulcrum(
      target,
      `      active:
        type: tcp
        timeout: 0.2
        tcp_send: 'PING\\r\\n'
        tcp_expect: '+PONG'
        healthy: { interval: 0.02, successes: 1 }
        unhealthy: { interval: 0.02, tcp_failures: 2, timeouts: 1 }
`,
    );
    await waitFor(() => seen.length >= 2, 'two probes');
    assert.deepEqual(seen[0], Buffer.from('PING\r\n'));
    assert.equal(health(f, target), 'healthy');
    state.reply = '-ERR loading\r\n';
    await waitFor(() => health(f, target) === 'unhealthy', 'unhealthy on a wrong reply');
    assert.match(await metrics(f), /result="mismatch"/);
    state.reply = '+PONG\r\n';
    await waitFor(() => health(f, target) === 'healthy', 'healthy again');
    state.reply = null;
    await waitFor(() => health(f, target) === 'unhealthy', 'unhealthy on silence (a timeout)');
    assert.match(await metrics(f), /result="timeout"/);
  });
});

describe('active udp checks', () => {
  it('a reply is healthy, silence a timeout, a closed port (ICMP unreachable) a TCP failure', async () => {
    const state = { answer: true, reply: 'PONG' };
    let got = 0;
    const bind = async (port: number): Promise<DgramSocket> => {
      const s = createSocket('udp4');
      s.on('message', (msg, rinfo) => {
        got++;
        if (state.answer && msg.toString() === 'PING\n') s.send(state.reply, rinfo.port, rinfo.address);
      });
      await new Promise<void>((resolve) => s.bind(port, '127.0.0.1', resolve));
      return s;
    };
    let server = await bind(0);
    const port = server.address().port;
    cleanup.push(() => {
      try {
        server.close();
      } catch {
        // closed by the test
      }
    });
    const target = `127.0.0.1:${port}`;
    const f = await fulcrum(
      target,
      `      active:
        type: udp
        timeout: 0.2
        udp_send: 'PING\\n'
        udp_expect: PONG
        healthy: { interval: 0.02, successes: 1 }
        unhealthy: { interval: 0.02, tcp_failures: 1, timeouts: 2 }
`,
    );
    await waitFor(() => got >= 2, 'two probes');
    assert.equal(health(f, target), 'healthy');
    state.answer = false;
    await waitFor(() => health(f, target) === 'unhealthy', 'unhealthy on silence');
    const m1 = await metrics(f);
    assert.match(m1, /result="timeout"\} [2-9]/);
    assert.doesNotMatch(m1, /result="tcp_failure"/);
    state.answer = true;
    await waitFor(() => health(f, target) === 'healthy', 'healthy when it answers again');
    state.reply = 'BUSY';
    await waitFor(() => health(f, target) === 'unhealthy', 'unhealthy on a reply without PONG');
    assert.match(await metrics(f), /result="mismatch"/);
    state.reply = 'PONG';
    await waitFor(() => health(f, target) === 'healthy', 'healthy on PONG');
    server.close();
    await waitFor(() => health(f, target) === 'unhealthy', 'unhealthy once the port is closed');
    assert.match(await metrics(f), /result="tcp_failure"/);
    server = await bind(port);
    await waitFor(() => health(f, target) === 'healthy', 'healthy once it listens again');
  });
});
