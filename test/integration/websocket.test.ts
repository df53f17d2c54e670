/**
 * WebSocket through the proxy: real `ws` servers as targets and a real `ws` client. The upgrade
 * is routed and balanced like any request, then bytes flow both ways until either side closes.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { waitFor } from '../helpers/faulty-upstream.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { rawRequest } from '../helpers/raw.ts';

interface WsTarget {
  readonly name: string;
  readonly target: string;
  readonly wss: WebSocketServer;
  readonly server: Server;
  /** Path and selected headers of each upgrade request received. */
  readonly seen: { path: string; headers: Record<string, string | string[] | undefined> }[];
  close(): Promise<void>;
}

async function startWsTarget(name: string): Promise<WsTarget> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'x-upstream': name });
    res.end(`${name} plain ${req.url}`);
  });
  const wss = new WebSocketServer({ noServer: true });
  const seen: WsTarget['seen'] = [];
  server.on('upgrade', (req, socket, head) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    if (req.url?.endsWith('/deny')) {
      socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-length: 6\r\nx-upstream: ${name}\r\n\r\ndenied`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(`hello from ${name}`);
      ws.on('message', (data, isBinary) => {
        const text = data.toString();
        if (text === 'close-me') ws.close(4001, 'asked');
        else ws.send(isBinary ? data : `${name}:${text}`, { binary: isBinary });
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    target: `127.0.0.1:${port}`,
    wss,
    server,
    seen,
    async close() {
      for (const c of wss.clients) c.terminate();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Open a client, resolving with it and its first message. */
function connect(url: string): Promise<{ ws: WebSocket; first: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('message', (d) => resolve({ ws, first: d.toString() }));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
  });
}

function next(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once('message', (d) => resolve(d.toString())));
}

describe('WebSocket', () => {
  let a: WsTarget;
  let b: WsTarget;
  let f: TestNode;
  const wsUrl = () => `ws://127.0.0.1:${f.port}`;

  before(async () => {
    a = await startWsTarget('a');
    b = await startWsTarget('b');
    f = await startFulcrum(`
services:
  - name: chat
    host: u
    read_timeout: 1500
    routes: [{ paths: ["/chat"], strip_path: false }]
upstreams:
  - name: u
    algorithm: least-connections
    targets:
      - target: ${a.target}
      - target: ${b.target}
`);
  });
  after(async () => {
    await f.stop();
    await a.close();
    await b.close();
  });

  it('routes and balances upgrades, and relays text and binary frames both ways', async () => {
    const c1 = await connect(`${wsUrl()}/chat/room1`);
    const c2 = await connect(`${wsUrl()}/chat/room2`);
    const names = [c1.first, c2.first].sort();
    assert.deepEqual(names, ['hello from a', 'hello from b'], 'least-connections spreads open tunnels');
    const who = c1.first.slice(-1);
    c1.ws.send('ping');
    assert.equal(await next(c1.ws), `${who}:ping`);
    const bin = Buffer.alloc(300_000, 7);
    bin[299_999] = 9;
    const echoed = new Promise<Buffer>((r) => c1.ws.once('message', (d) => r(d as Buffer)));
    c1.ws.send(bin);
    assert.deepEqual(await echoed, bin, 'a 300 kB binary frame arrives intact');
    const paths = [...a.seen, ...b.seen].map((s) => s.path).sort();
    assert.deepEqual(paths, ['/chat/room1', '/chat/room2']);
    const h = (a.seen[0] ?? b.seen[0])!.headers;
    assert.equal(h['x-forwarded-for'], '127.0.0.1', 'forwarding headers on the upgrade request');
    assert.ok(h['sec-websocket-key'], 'the handshake key is passed through');
    c1.ws.close();
    c2.ws.close();
    await waitFor(() => f.node.runtime.current.inflight === 0, 'tunnels ended');
  });

  it('carries a close from the target, with its code, and ends the exchange', async () => {
    const c = await connect(`${wsUrl()}/chat/x`);
    const closed = new Promise<number>((r) => c.ws.once('close', (code) => r(code)));
    c.ws.send('close-me');
    assert.equal(await closed, 4001);
    await waitFor(() => f.node.runtime.current.inflight === 0, 'exchange ended');
    const targets = [...f.node.runtime.live.targets.values()];
    await waitFor(() => targets.every((t) => t.inflight === 0), 'no try left in flight');
  });

  it('closes a tunnel idle for longer than the service read_timeout', async () => {
    const c = await connect(`${wsUrl()}/chat/idle`);
    const t0 = performance.now();
    const code = await new Promise<number>((r) => c.ws.once('close', (code) => r(code)));
    const ms = performance.now() - t0;
    assert.equal(code, 1006, 'the connection dropped without a close frame');
    assert.ok(ms >= 1400 && ms < 4000, `closed after ${ms.toFixed(0)} ms idle`);
  });

  it('relays a refused upgrade as a normal response', async () => {
    const r = await rawRequest(
      f.port,
      'GET /chat/deny HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    assert.match(r.text, /^HTTP\/1\.1 403 /);
    assert.match(r.text, /denied$/);
  });

  it('answers 404 to an upgrade no route matches, and closes the connection', async () => {
    const r = await rawRequest(
      f.port,
      'GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
    );
    assert.match(r.text, /^HTTP\/1\.1 404 /);
    assert.match(r.text, /FULCRUM_ERR_NO_ROUTE/);
    assert.match(r.text, /connection: close/i);
    assert.equal(r.closed, true);
  });

  it('serves a non-WebSocket upgrade (h2c) as a plain request', async () => {
    const r = await rawRequest(
      f.port,
      'GET /chat/plain HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
    );
    assert.match(r.text, /^HTTP\/1\.1 200 /);
    assert.match(r.text, /\r\n[ab] plain \/chat\/plain\r\n/);
    assert.equal(r.closed, true);
  });

  it('keeps serving plain requests on the same route', async () => {
    const r = await request(`http://127.0.0.1:${f.port}/chat/plain`);
    assert.equal(r.statusCode, 200);
    assert.match(await r.body.text(), /^[ab] plain/);
  });

  it('ends the tunnel when the client goes away, leaving nothing in flight', async () => {
    const c = await connect(`${wsUrl()}/chat/gone`);
    const sock = (c.ws as unknown as { _socket: Socket })._socket;
    sock.destroy();
    await waitFor(() => f.node.runtime.current.inflight === 0, 'exchange ended');
    await waitFor(() => a.wss.clients.size + b.wss.clients.size === 0, 'target side closed');
  });
});
