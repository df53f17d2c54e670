/**
 * HTTP/1.1 message framing through the proxy, with real clients (undici and raw sockets): bodies
 * byte-exact both ways in both framings, 100-continue, HEAD, 204/304, trailers, 103 Early Hints,
 * invalid upstream framing (502), keep-alive reuse, Connection: close, and hop-by-hop response
 * headers.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { Client, request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { rawRequest } from '../helpers/raw.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

/** Canned raw responses of a misbehaving upstream, by request path. */
const RAW_RESPONSES: Record<string, string> = {
  '/raw/cl-and-te':
    'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  '/raw/two-cl': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
  '/raw/bad-chunk': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
  '/raw/bad-status': 'HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok',
  '/raw/nul-header': 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 2\r\n\r\nok',
  '/raw/hop':
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: x-secret\r\nKeep-Alive: timeout=5, max=7\r\nProxy-Connection: keep-alive\r\nX-Secret: s\r\nX-Kept: k\r\n\r\nok',
};

/** A raw TCP upstream that answers each request head with RAW_RESPONSES[path], then closes. */
async function startRawUpstream(): Promise<{ server: Server; target: string; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = '';
    s.on('data', (c: Buffer) => {
      buf += c.toString('latin1');
      if (!buf.includes('\r\n\r\n')) return;
      const path = /^[A-Z]+ (\S+) /.exec(buf)?.[1] ?? '';
      s.end(RAW_RESPONSES[path] ?? 'HTTP/1.1 500 x\r\nContent-Length: 0\r\n\r\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    server,
    target: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Split a raw response stream at the end of its first head. */
function headOf(text: string): string {
  const i = text.indexOf('\r\n\r\n');
  assert.ok(i > 0, `no head in ${JSON.stringify(text)}`);
  return text.slice(0, i);
}

/** A response too long to wait for the end of the event-loop turn (h1-request.ts, turn-end.ts). */
const BIG_BYTES = 100_000;

describe('HTTP/1.1 framing through the proxy', () => {
  let up: TestUpstream;
  let bad: Awaited<ReturnType<typeof startRawUpstream>>;
  let f: TestNode;

  before(async () => {
    // The /ka/slow response, held until /ka/big has been answered.
    let slow: ServerResponse | null = null;
    up = await startUpstream('u', (req, res, body) => {
      const url = req.url ?? '';
      if (url === '/echo') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      } else if (url === '/chunked') {
        // No content-length: chunked to the proxy, several chunks.
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        for (let i = 0; i < body.length; i += 1000) res.write(body.subarray(i, i + 1000));
        res.end();
      } else if (url === '/head') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 11 });
        res.end(req.method === 'HEAD' ? undefined : 'hello world');
      } else if (url === '/204') {
        res.writeHead(204, { 'x-kind': 'no-content' });
        res.end();
      } else if (url === '/304') {
        res.writeHead(304, { etag: '"v1"' });
        res.end();
      } else if (url === '/trailers') {
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
        res.write('abc');
        res.write('def');
        res.addTrailers({ 'x-checksum': 'sum-123' });
        res.end();
      } else if (url === '/hints') {
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('hinted');
      } else if (url === '/ka/slow') {
        // Answered only once the request pipelined behind it has been answered (a slow target).
        slow = res;
      } else if (url === '/ka/big') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BIG_BYTES });
        res.end('b'.repeat(BIG_BYTES), () => {
          slow?.end('ok slow');
          slow = null;
        });
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`ok ${url}`);
      }
    });
    bad = await startRawUpstream();
    f = await startFulcrum(`
services:
  - name: s
    url: http://${up.target}
    retries: 0
    routes:
      - name: r
        paths: ["/echo", "/chunked", "/head", "/204", "/304", "/trailers", "/hints", "/ka"]
        strip_path: false
  - name: bad
    url: http://${bad.target}
    retries: 0
    routes:
      - name: raw
        paths: ["/raw"]
        strip_path: false
`);
  });
  after(async () => {
    await f.stop();
    await up.close();
    await bad.close();
  });

  it('content-length bodies are byte-exact both ways', async () => {
    const payload = randomBytes(100_000);
    up.seen.length = 0;
    const r = await request(`${f.url}/echo`, { method: 'POST', body: payload });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-length'], String(payload.length));
    const got = Buffer.from(await r.body.arrayBuffer());
    assert.ok(got.equals(payload), 'response body differs');
    assert.equal(up.seen.length, 1);
    assert.equal(up.seen[0]!.headers['content-length'], String(payload.length));
    assert.ok(up.seen[0]!.body.equals(payload), 'request body differs at the upstream');
  });

  it('chunked bodies are byte-exact both ways', async () => {
    const payload = randomBytes(50_000);
    up.seen.length = 0;
    const parts = [payload.subarray(0, 7), payload.subarray(7, 30_000), payload.subarray(30_000)];
    const r = await request(`${f.url}/chunked`, { method: 'POST', body: Readable.from(parts) });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-length'], undefined, 'the response stays chunked');
    const got = Buffer.from(await r.body.arrayBuffer());
    assert.ok(got.equals(payload), 'response body differs');
    // The proxy frames anew (Transfer-Encoding is hop-by-hop): chunked, or an exact Content-Length
    // when undici has the whole body before it writes the head.
    const h = up.seen[0]!.headers;
    assert.ok(
      (h['transfer-encoding'] === 'chunked' && h['content-length'] === undefined) ||
        (h['transfer-encoding'] === undefined && h['content-length'] === String(payload.length)),
      JSON.stringify(h),
    );
    assert.ok(up.seen[0]!.body.equals(payload), 'request body differs at the upstream');
  });

  it('a raw chunked request with extensions and an empty trailer section arrives byte-exact', async () => {
    up.seen.length = 0;
    const r = await rawRequest(
      f.port,
      'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
        '3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\n\r\n',
      { idleMs: 3000 },
    );
    assert.deepEqual(r.statuses, [200]);
    assert.equal(up.seen[0]!.body.toString(), 'abc0123456789');
    assert.ok(r.text.endsWith('\r\n\r\nabc0123456789'), r.text);
  });

  it('Expect: 100-continue gets 100 once routed, then the final response', async () => {
    up.seen.length = 0;
    const sock = connect(f.port, '127.0.0.1');
    sock.on('error', () => {});
    let text = '';
    const waitFor = (re: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`timed out waiting for ${re}; got ${JSON.stringify(text)}`)),
          3000,
        );
        const check = () => {
          if (re.test(text)) {
            clearTimeout(t);
            sock.off('data', onData);
            resolve();
          }
        };
        const onData = (c: Buffer) => {
          text += c.toString('latin1');
          check();
        };
        sock.on('data', onData);
        check();
      });
    try {
      await new Promise<void>((r) => sock.once('connect', () => r()));
      sock.write('POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
      await waitFor(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
      assert.equal(up.seen.length, 0, 'the body has not been sent yet');
      sock.write('hello');
      await waitFor(/HTTP\/1\.1 200 [\s\S]*\r\n\r\nhello$/);
      assert.equal(up.seen[0]!.body.toString(), 'hello');
      assert.equal(up.seen[0]!.headers.expect, undefined, 'Expect is hop-by-hop');
    } finally {
      sock.destroy();
    }
  });

  it('Expect: 100-continue to an unmatched route gets the 404 without a 100', async () => {
    const r = await rawRequest(
      f.port,
      'POST /nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n',
      { idleMs: 1000 },
    );
    assert.deepEqual(r.statuses, [404], r.text);
    assert.match(r.text, /"code":"FULCRUM_ERR_NO_ROUTE"/);
  });

  it('HEAD has no body and keeps Content-Length', async () => {
    const r = await rawRequest(
      f.port,
      'HEAD /head HTTP/1.1\r\nHost: x\r\n\r\nGET /ka HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      { idleMs: 3000 },
    );
    assert.deepEqual(r.statuses, [200, 200], r.text);
    const first = r.text.slice(0, r.text.indexOf('HTTP/1.1 200', 5));
    assert.match(first, /\r\ncontent-length: 11\r\n/i);
    assert.ok(first.endsWith('\r\n\r\n'), `HEAD response carried a body: ${JSON.stringify(first)}`);
    assert.doesNotMatch(first, /transfer-encoding/i);
  });

  for (const status of [204, 304]) {
    it(`${status} has no body (a pipelined request behind it is framed right)`, async () => {
      const r = await rawRequest(
        f.port,
        `GET /${status} HTTP/1.1\r\nHost: x\r\n\r\nGET /ka HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
        { idleMs: 3000 },
      );
      assert.deepEqual(r.statuses, [status, 200], r.text);
      const first = r.text.slice(0, r.text.indexOf('HTTP/1.1 200'));
      assert.ok(first.endsWith('\r\n\r\n'), `${status} carried a body: ${JSON.stringify(first)}`);
      assert.doesNotMatch(first, /transfer-encoding|content-length: [1-9]/i);
      assert.ok(r.text.endsWith('6\r\nok /ka\r\n0\r\n\r\n'), r.text);
    });
  }

  it('response trailers are forwarded', async () => {
    const r = await rawRequest(
      f.port,
      'GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n',
      { idleMs: 3000 },
    );
    assert.deepEqual(r.statuses, [200], r.text);
    const head = headOf(r.text);
    assert.match(head, /\r\ntransfer-encoding: chunked/i);
    assert.match(head, /\r\ntrailer: x-checksum/i);
    const body = r.text.slice(head.length + 4);
    assert.match(body, /abc[\s\S]*def[\s\S]*\r\n0\r\nx-checksum: sum-123\r\n\r\n$/i);
  });

  it('103 Early Hints are forwarded ahead of the final response', async () => {
    const r = await rawRequest(f.port, 'GET /hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', {
      idleMs: 3000,
    });
    assert.deepEqual(r.statuses, [103, 200], r.text);
    const hints = headOf(r.text);
    assert.match(hints, /\r\nlink: <\/style\.css>; rel=preload; as=style/i);
    assert.ok(r.text.endsWith('6\r\nhinted\r\n0\r\n\r\n'), r.text);
  });

  it('an invalid chunk after the upstream response head: the client connection closes, the response incomplete', async () => {
    const r = await rawRequest(f.port, 'GET /raw/bad-chunk HTTP/1.1\r\nHost: x\r\n\r\n', { idleMs: 3000 });
    assert.equal(r.closed, true);
    assert.doesNotMatch(r.text, /\r\n0\r\n\r\n$/, 'the response must not look complete');
    assert.doesNotMatch(r.text, /hello/);
  });

  for (const path of ['/raw/cl-and-te', '/raw/two-cl', '/raw/bad-status', '/raw/nul-header']) {
    it(`an invalid upstream response (${path}) → 502 FULCRUM_ERR_UPSTREAM_BAD_RESPONSE`, async () => {
      const r = await request(`${f.url}${path}`);
      const text = await r.body.text();
      assert.equal(r.statusCode, 502, text);
      assert.equal((JSON.parse(text) as { code: string }).code, 'FULCRUM_ERR_UPSTREAM_BAD_RESPONSE');
    });
  }

  it('hop-by-hop response headers from the upstream are not forwarded', async () => {
    const r = await rawRequest(f.port, 'GET /raw/hop HTTP/1.1\r\nHost: x\r\n\r\n', { idleMs: 500 });
    assert.deepEqual(r.statuses, [200], r.text);
    const head = headOf(r.text).toLowerCase();
    assert.match(head, /\r\nx-kept: k\r\n/);
    assert.doesNotMatch(head, /x-secret/);
    assert.doesNotMatch(head, /proxy-connection/);
    assert.doesNotMatch(head, /timeout=5|max=7/, 'the upstream Keep-Alive must not reach the client');
    for (const m of head.matchAll(/\r\nconnection: ([^\r]*)/g)) assert.equal(m[1], 'keep-alive');
  });

  it('keep-alive: several requests on one client connection are all answered right', async () => {
    const client = new Client(f.url, { pipelining: 1 });
    let connects = 0;
    client.on('connect', () => connects++);
    try {
      for (let i = 0; i < 5; i++) {
        const payload = randomBytes(1000 + i);
        const r = await client.request({ path: '/echo', method: 'POST', body: payload });
        assert.equal(r.statusCode, 200);
        assert.ok(Buffer.from(await r.body.arrayBuffer()).equals(payload), `body ${i} differs`);
        const g = await client.request({ path: `/ka?i=${i}`, method: 'GET' });
        assert.equal(await g.body.text(), `ok /ka?i=${i}`);
      }
      assert.equal(connects, 1);
    } finally {
      await client.close();
    }
  });

  it('keep-alive: pipelined requests on one raw connection are answered in order', async () => {
    const reqs = [1, 2, 3].map((i) => `GET /ka?n=${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join('');
    const r = await rawRequest(
      f.port,
      `${reqs}GET /ka?n=4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
      {
        idleMs: 3000,
      },
    );
    assert.deepEqual(r.statuses, [200, 200, 200, 200]);
    assert.equal(r.closed, true);
    const bodies = [...r.text.matchAll(/ok \/ka\?n=(\d)/g)].map((m) => m[1]);
    assert.deepEqual(bodies, ['1', '2', '3', '4']);
  });

  it('pipelined: short responses held to the end of the turn leave before a long one behind them', async () => {
    // The long answer arrives first and waits its turn; when the slow short one ends, the short
    // one is held for the end of the turn and the long one is written at once: it must go after.
    const r = await rawRequest(
      f.port,
      'GET /ka/slow HTTP/1.1\r\nHost: x\r\n\r\nGET /ka/big HTTP/1.1\r\nHost: x\r\n\r\n' +
        'GET /ka?n=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      { idleMs: 3000 },
    );
    assert.deepEqual(r.statuses, [200, 200, 200]);
    assert.equal(r.closed, true);
    const slow = r.text.indexOf('ok slow');
    const big = r.text.indexOf('b'.repeat(BIG_BYTES));
    const last = r.text.indexOf('ok /ka?n=3');
    assert.ok(slow > 0 && big > slow && last > big + BIG_BYTES - 1, `out of order: ${slow} ${big} ${last}`);
  });

  it('a Connection: close request gets connection: close and the connection is closed', async () => {
    const r = await rawRequest(f.port, 'GET /ka HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', {
      idleMs: 3000,
    });
    assert.deepEqual(r.statuses, [200]);
    assert.match(headOf(r.text), /\r\nconnection: close\r\n/i);
    assert.equal(r.closed, true);
  });
});
