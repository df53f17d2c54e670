/**
 * Error mapping through a running proxy: every failure a client can meet answers with the stable
 * code's status and a JSON body `{message, code, request_id}`, and the code shows in the access log
 * and in `fulcrum_errors_total{code}` on the admin /metrics.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { request } from 'undici';
import { ERRORS } from '../../src/core/errors.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { rawRequest } from '../helpers/raw.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface ErrorReply {
  message: string;
  code: string;
  request_id: string;
}

/** A raw TCP server that runs `onRequest` once it has received a request head; closes every socket on close(). */
async function rawServer(onRequest: (s: Socket) => void): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let head = '';
    let fired = false;
    s.on('data', (c: Buffer) => {
      head += c.toString('latin1');
      if (!fired && head.includes('\r\n\r\n')) {
        fired = true;
        onRequest(s);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A loopback port with nothing listening (bound, then released). */
async function refusedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** `fulcrum_errors_total{code="…"}` from the admin /metrics text. */
async function errorCounts(f: TestNode): Promise<Map<string, number>> {
  const text = await (await request(`${f.adminUrl}/metrics`)).body.text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^fulcrum_errors_total\{code="([A-Z_]+)"\} (\S+)$/gm))
    out.set(m[1]!, Number(m[2]));
  return out;
}

/** Access-log lines as objects, waiting (bounded) until at least `n` are written. */
async function accessLines(file: string, n: number): Promise<Record<string, unknown>[]> {
  const deadline = performance.now() + 5000;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not created yet
    }
    // Only whole lines: the last one may still be being written.
    const lines = text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .filter((l) => l.length > 0);
    if (lines.length >= n || performance.now() > deadline)
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    await delay(20);
  }
}

async function expectError(
  url: string,
  status: number,
  code: string,
  headers: Record<string, string> = {},
): Promise<ErrorReply> {
  const r = await request(url, { headers });
  const text = await r.body.text();
  assert.equal(r.statusCode, status, `${url}: ${text}`);
  assert.match(String(r.headers['content-type']), /^application\/json/);
  const body = JSON.parse(text) as ErrorReply;
  assert.deepEqual(Object.keys(body).sort(), ['code', 'message', 'request_id']);
  assert.equal(body.code, code);
  assert.equal(body.message, ERRORS[code as keyof typeof ERRORS].message);
  assert.equal(r.headers['x-request-id'], body.request_id);
  return body;
}

describe('errors through a running proxy', () => {
  let ok: TestUpstream;
  let hang: Awaited<ReturnType<typeof rawServer>>;
  let reset: Awaited<ReturnType<typeof rawServer>>;
  let midBodyLength: Awaited<ReturnType<typeof rawServer>>;
  let midBodyChunked: Awaited<ReturnType<typeof rawServer>>;
  let refused: number;
  let f: TestNode;
  let logFile: string;

  before(async () => {
    ok = await startUpstream('ok');
    refused = await refusedPort();
    hang = await rawServer(() => {});
    reset = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Type: te', () => s.resetAndDestroy());
    });
    midBodyLength = await rawServer((s) => {
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n${'x'.repeat(100)}`, () => s.destroy());
    });
    midBodyChunked = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n', () => s.destroy());
    });
    logFile = join(mkdtempSync(join(tmpdir(), 'fulcrum-errors-')), 'access.log');
    f = await startFulcrum(
      `
logging:
  access_log: ${logFile}
services:
  - name: ok
    url: http://${ok.target}
    routes: [{ name: ok, paths: ["/ok"] }]
  - name: zero
    host: zero
    routes: [{ name: zero, paths: ["/zero"] }]
  - name: refused
    url: http://127.0.0.1:${refused}
    retries: 0
    routes: [{ name: refused, paths: ["/refused"] }]
  - name: mixed
    host: mixed
    routes: [{ name: mixed, paths: ["/mixed"] }]
  - name: mixed0
    host: mixed0
    retries: 0
    routes: [{ name: mixed0, paths: ["/mixed0"] }]
  - name: hang
    url: http://127.0.0.1:${hang.port}
    read_timeout: 300
    retries: 0
    routes: [{ name: hang, paths: ["/hang"] }]
  - name: reset
    url: http://127.0.0.1:${reset.port}
    routes: [{ name: reset, paths: ["/reset"] }]
  - name: midbody-length
    url: http://127.0.0.1:${midBodyLength.port}
    retries: 0
    routes: [{ name: midbody-length, paths: ["/midbody-length"] }]
  - name: midbody-chunked
    url: http://127.0.0.1:${midBodyChunked.port}
    retries: 0
    routes: [{ name: midbody-chunked, paths: ["/midbody-chunked"] }]
upstreams:
  - name: zero
    targets:
      - { target: "${ok.target}", weight: 0 }
  - name: mixed
    targets:
      - target: "127.0.0.1:${refused}"
      - target: "${ok.target}"
  - name: mixed0
    targets:
      - target: "127.0.0.1:${refused}"
      - target: "${ok.target}"
`,
      { accessLog: logFile },
    );
  });

  after(async () => {
    await f?.stop();
    await ok?.close();
    await hang?.close();
    await reset?.close();
    await midBodyLength?.close();
    await midBodyChunked?.close();
  });

  it('answers 404 FULCRUM_ERR_NO_ROUTE, with a generated request id', async () => {
    const body = await expectError(`${f.url}/nowhere`, 404, 'FULCRUM_ERR_NO_ROUTE');
    assert.match(body.request_id, UUID);
  });

  it('echoes a given X-Request-Id on a local error', async () => {
    const body = await expectError(`${f.url}/nowhere`, 404, 'FULCRUM_ERR_NO_ROUTE', {
      'x-request-id': 'given-id-1',
    });
    assert.equal(body.request_id, 'given-id-1');
  });

  it('answers 503 FULCRUM_ERR_NO_HEALTHY_TARGET when every target has weight 0', async () => {
    await expectError(`${f.url}/zero`, 503, 'FULCRUM_ERR_NO_HEALTHY_TARGET');
    assert.equal(ok.seen.filter((s) => s.url.startsWith('/zero')).length, 0);
  });

  it('answers 502 FULCRUM_ERR_UPSTREAM_CONNECT when the connection is refused', async () => {
    await expectError(`${f.url}/refused`, 502, 'FULCRUM_ERR_UPSTREAM_CONNECT');
  });

  it('retries a refused connection on the other target: every request succeeds', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await request(`${f.url}/mixed`);
      assert.equal(r.statusCode, 200, `request ${i}`);
      assert.equal(await r.body.text(), 'ok');
    }
  });

  it('with retries: 0 some requests fail with 502 and the rest succeed', async () => {
    let failed = 0;
    for (let i = 0; i < 10; i++) {
      const r = await request(`${f.url}/mixed0`);
      const text = await r.body.text();
      if (r.statusCode === 502) {
        failed++;
        assert.equal((JSON.parse(text) as ErrorReply).code, 'FULCRUM_ERR_UPSTREAM_CONNECT');
      } else assert.equal(r.statusCode, 200);
    }
    assert.ok(failed > 0 && failed < 10, `failed ${failed} of 10`);
  });

  it('answers 504 FULCRUM_ERR_UPSTREAM_TIMEOUT within the read_timeout when the target hangs', async () => {
    const t0 = performance.now();
    await expectError(`${f.url}/hang`, 504, 'FULCRUM_ERR_UPSTREAM_TIMEOUT');
    const ms = performance.now() - t0;
    assert.ok(ms >= 250 && ms <= 2000, `took ${Math.round(ms)} ms`);
  });

  it('answers 502 FULCRUM_ERR_UPSTREAM_RESET when the target resets mid-headers', async () => {
    await expectError(`${f.url}/reset`, 502, 'FULCRUM_ERR_UPSTREAM_RESET');
  });

  it('truncates a Content-Length response whose target dies mid-body (never hangs)', async () => {
    const r = await rawRequest(f.port, 'GET /midbody-length HTTP/1.1\r\nHost: x\r\n\r\n', { idleMs: 3000 });
    assert.equal(r.closed, true, 'the proxy closes the connection');
    assert.deepEqual(r.statuses, [200]);
    assert.match(r.text, /content-length: 1000/i);
    const body = r.text.slice(r.text.indexOf('\r\n\r\n') + 4);
    assert.ok(body.length < 1000, `body ${body.length} bytes`);
    assert.ok(body.startsWith('x'.repeat(100)));
  });

  it('truncates a chunked response whose target dies mid-body: no final chunk', async () => {
    const r = await rawRequest(f.port, 'GET /midbody-chunked HTTP/1.1\r\nHost: x\r\n\r\n', {
      idleMs: 3000,
    });
    assert.equal(r.closed, true, 'the proxy closes the connection');
    assert.deepEqual(r.statuses, [200]);
    assert.match(r.text, /transfer-encoding: chunked/i);
    assert.match(r.text, /hello/);
    assert.doesNotMatch(r.text, /\r\n0\r\n\r\n$/);
  });

  it('counts each code in fulcrum_errors_total and logs it in the access log', async () => {
    const counts = await errorCounts(f);
    for (const code of [
      'FULCRUM_ERR_NO_ROUTE',
      'FULCRUM_ERR_NO_HEALTHY_TARGET',
      'FULCRUM_ERR_UPSTREAM_CONNECT',
      'FULCRUM_ERR_UPSTREAM_TIMEOUT',
      'FULCRUM_ERR_UPSTREAM_RESET',
    ])
      assert.ok((counts.get(code) ?? 0) >= 1, `${code} in fulcrum_errors_total: ${[...counts]}`);
    assert.equal(counts.get('FULCRUM_ERR_NO_ROUTE'), 2);
    assert.equal(counts.get('FULCRUM_ERR_NO_HEALTHY_TARGET'), 1);
    assert.equal(counts.get('FULCRUM_ERR_UPSTREAM_TIMEOUT'), 1);

    // 2 no-route + zero + refused + 10 mixed + 10 mixed0 + hang + reset + 2 mid-body
    const lines = await accessLines(logFile, 28);
    const byPath = (p: string) => lines.filter((l) => String(l.path).startsWith(p));
    assert.deepEqual(
      byPath('/nowhere').map((l) => [l.status, l.error]),
      [
        [404, 'FULCRUM_ERR_NO_ROUTE'],
        [404, 'FULCRUM_ERR_NO_ROUTE'],
      ],
    );
    assert.deepEqual(
      byPath('/zero').map((l) => [l.status, l.error]),
      [[503, 'FULCRUM_ERR_NO_HEALTHY_TARGET']],
    );
    assert.deepEqual(
      byPath('/refused').map((l) => [l.status, l.error]),
      [[502, 'FULCRUM_ERR_UPSTREAM_CONNECT']],
    );
    assert.deepEqual(
      byPath('/hang').map((l) => [l.status, l.error]),
      [[504, 'FULCRUM_ERR_UPSTREAM_TIMEOUT']],
    );
    assert.deepEqual(
      byPath('/reset').map((l) => [l.status, l.error]),
      [[502, 'FULCRUM_ERR_UPSTREAM_RESET']],
    );
    const mixed = byPath('/mixed').filter((l) => l.path === '/mixed');
    assert.equal(mixed.length, 10);
    for (const l of mixed) assert.deepEqual([l.status, l.error], [200, null]);
    const mixed0 = byPath('/mixed0');
    assert.equal(mixed0.length, 10);
    for (const l of mixed0)
      assert.ok(
        (l.status === 200 && l.error === null) ||
          (l.status === 502 && l.error === 'FULCRUM_ERR_UPSTREAM_CONNECT'),
        JSON.stringify(l),
      );
    for (const p of ['/midbody-length', '/midbody-chunked']) {
      const [l] = byPath(p);
      assert.ok(l, p);
      assert.equal(l.status, 200);
      assert.equal(l.error, 'FULCRUM_ERR_UPSTREAM_RESET');
    }
  });
});

/**
 * Connect timeout on loopback: a listener whose accept queue is full drops new SYNs (Linux), so a
 * connect to it neither succeeds nor fails until the proxy's connect_timeout fires. The listener
 * lives in a child process whose event loop is blocked, so nothing ever accepts. Skipped where the
 * kernel does not behave that way.
 */
describe('connect timeout', () => {
  let child: ChildProcess | null = null;
  const fillers: Socket[] = [];
  let f: TestNode | null = null;

  after(async () => {
    for (const s of fillers) s.destroy();
    child?.kill('SIGKILL');
    await f?.stop();
  });

  it('answers 504 FULCRUM_ERR_UPSTREAM_TIMEOUT when the target never completes the handshake', async (t) => {
    const script = `const s=require('net').createServer();s.listen({port:0,host:'127.0.0.1',backlog:1},()=>{
      process.stdout.write(s.address().port+'\\n');Atomics.wait(new Int32Array(new SharedArrayBuffer(4)),0,0);});`;
    const c = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    child = c;
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      c.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\n')) resolve(Number(out.trim()));
      });
      c.once('exit', () => reject(new Error('listener child exited')));
    });
    // Fill the accept queue: connect until one connection does not complete within 300 ms.
    let filled = false;
    for (let i = 0; i < 16 && !filled; i++) {
      const s = createServerConnection(port);
      fillers.push(s.socket);
      filled = !(await s.connected);
    }
    if (!filled) {
      t.skip('the accept queue never filled on this kernel');
      return;
    }
    f = await startFulcrum(`
services:
  - name: stuck
    url: http://127.0.0.1:${port}
    connect_timeout: 300
    retries: 0
    routes: [{ paths: ["/"] }]
`);
    const t0 = performance.now();
    await expectError(`${f.url}/`, 504, 'FULCRUM_ERR_UPSTREAM_TIMEOUT');
    const ms = performance.now() - t0;
    assert.ok(ms >= 250 && ms <= 2000, `took ${Math.round(ms)} ms`);
  });
});

/** Start a connection; `connected` resolves true once it is up, false if it is not within 300 ms. */
function createServerConnection(port: number): { socket: Socket; connected: Promise<boolean> } {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const connected = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 300);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  return { socket, connected };
}
