/**
 * WebSocket over HTTP/2 (RFC 8441): a client opens the WebSocket with extended CONNECT on an h2c
 * listener; Fulcrum upgrades to the HTTP/1.1 target and tunnels the stream. The client side is
 * written by hand (no WebSocket library speaks RFC 8441): frames are encoded and masked here.
 */
import assert from 'node:assert/strict';
import { type ClientHttp2Stream, connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import { waitFor } from '../helpers/faulty-upstream.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';

/** A client text frame (masked, as RFC 6455 §5.3 requires of clients), payload under 126 bytes. */
function clientText(text: string): Buffer {
  const payload = Buffer.from(text);
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

/** Read server text frames (unmasked, short) off a stream. */
function frames(stream: ClientHttp2Stream): () => Promise<string> {
  let buf = Buffer.alloc(0);
  const waiting: ((s: string) => void)[] = [];
  const ready: string[] = [];
  stream.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 2 && buf.length >= 2 + (buf[1]! & 0x7f)) {
      const len = buf[1]! & 0x7f;
      const text = buf.subarray(2, 2 + len).toString();
      buf = buf.subarray(2 + len);
      const w = waiting.shift();
      if (w) w(text);
      else ready.push(text);
    }
  });
  return () =>
    new Promise((resolve) => {
      const r = ready.shift();
      if (r !== undefined) resolve(r);
      else waiting.push(resolve);
    });
}

describe('WebSocket over HTTP/2 (RFC 8441)', () => {
  let wss: WebSocketServer;
  let f: TestNode;
  const seen: string[] = [];

  before(async () => {
    wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    wss.on('connection', (ws, req) => {
      seen.push(`${req.url} ${req.headers['sec-websocket-version']}`);
      ws.send('hello from a');
      ws.on('message', (d) => ws.send(`a:${d.toString()}`));
    });
    const port = (wss.address() as AddressInfo).port;
    f = await startFulcrum(
      `
services:
  - name: chat
    url: http://127.0.0.1:${port}
    routes: [{ paths: ["/chat"], strip_path: false }]
`,
      {
        header: `_format_version: "3.0"
listeners: [{ name: h2, protocol: h2c, address: 127.0.0.1, port: 0 }]
admin: { address: 127.0.0.1, port: 0 }
`,
      },
    );
  });
  after(async () => {
    await f.stop();
    for (const c of wss.clients) c.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
  });

  it('opens with extended CONNECT, gets 200, and carries frames both ways', async () => {
    const session = connect(`http://127.0.0.1:${f.port}`);
    const settings = await new Promise<{ enableConnectProtocol?: boolean }>((r) =>
      session.once('remoteSettings', r),
    );
    assert.equal(settings.enableConnectProtocol, true, 'the listener advertises RFC 8441');
    const stream = session.request(
      {
        ':method': 'CONNECT',
        ':protocol': 'websocket',
        ':path': '/chat/room',
        ':scheme': 'http',
        ':authority': 'x',
      },
      { endStream: false },
    );
    const status = await new Promise<number>((r) => stream.once('response', (h) => r(Number(h[':status']))));
    assert.equal(status, 200);
    const next = frames(stream);
    assert.equal(await next(), 'hello from a');
    stream.write(clientText('ping'));
    assert.equal(await next(), 'a:ping');
    assert.deepEqual(seen, ['/chat/room 13'], 'the target got an HTTP/1.1 upgrade for the same path');
    stream.close();
    session.close();
    await waitFor(() => f.node.runtime.current.inflight === 0, 'tunnel ended');
    await waitFor(() => wss.clients.size === 0, 'target side closed');
  });

  it('refuses a plain CONNECT with 400', async () => {
    const session = connect(`http://127.0.0.1:${f.port}`);
    const stream = session.request(
      { ':method': 'CONNECT', ':authority': 'example.com:443' },
      { endStream: false },
    );
    const status = await new Promise<number>((r) => stream.once('response', (h) => r(Number(h[':status']))));
    assert.equal(status, 400);
    session.destroy();
    await waitFor(() => f.node.runtime.current.inflight === 0, 'the refused CONNECT ended');
  });
});
