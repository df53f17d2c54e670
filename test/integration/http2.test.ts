/**
 * HTTP/2 downstream: an h2c listener (prior knowledge) and the TLS variant (ALPN h2 / http/1.1),
 * every stream routed and balanced on its own, with real clients: node:http2, curl and h2load.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { type ClientHttp2Session, connect, constants, createServer as createH2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { request } from 'undici';
import { Http2Listener } from '../../src/listeners/http2.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const run = promisify(execFile);

const H2C_HEADER = h2cHeader(null);

/** An h2c listener on the given HTTP/2 codec (null: the default). */
function h2cHeader(codec: 'fulcrum' | 'node' | null): string {
  return `_format_version: "3.0"
listeners:
  - name: proxy
    address: 127.0.0.1
    port: 0
    protocol: h2c
${codec === null ? '' : `    http2: { codec: ${codec} }\n`}admin:
  address: 127.0.0.1
  port: 0
`;
}

function body(a: TestUpstream, b: TestUpstream): string {
  return `upstreams:
  - name: pool
    algorithm: round-robin
    targets:
      - target: ${a.target}
      - target: ${b.target}
services:
  - name: svc
    host: pool
    routes:
      - paths: ["/"]
`;
}

/** One stream on a session: status, named headers, and the body as text. */
function get(
  session: ClientHttp2Session,
  path: string,
  extra: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ':path': path, ...extra });
    s.end();
    let status = 0;
    let headers: Record<string, unknown> = {};
    const chunks: Buffer[] = [];
    s.on('response', (h) => {
      status = Number(h[':status']);
      headers = h;
    });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve({ status, headers, body: Buffer.concat(chunks).toString() }));
    s.on('error', reject);
  });
}

function tally(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

// Both HTTP/2 codecs (docs/http2.md, "Codecs") serve the same behaviour.
for (const codec of ['fulcrum', 'node'] as const)
  describe(`h2c listener (codec ${codec})`, () => {
    let a: TestUpstream;
    let b: TestUpstream;
    let f: TestNode;
    before(async () => {
      a = await startUpstream('a');
      b = await startUpstream('b');
      f = await startFulcrum(body(a, b), { header: h2cHeader(codec) });
    });
    after(async () => {
      await f.stop();
      await a.close();
      await b.close();
    });

    it('balances every stream of one connection on its own: two multiplexing clients each spread evenly', async () => {
      const c1 = connect(f.url);
      const c2 = connect(f.url);
      try {
        // 20 concurrent streams per connection, both connections at once.
        const both = await Promise.all(
          [c1, c2].map((c) => Promise.all(Array.from({ length: 20 }, (_, i) => get(c, `/x${i}`)))),
        );
        for (const results of both) {
          for (const r of results) assert.equal(r.status, 200);
          const t = tally(results.map((r) => r.body));
          // Round-robin over 40 streams alternates a/b; whatever the interleaving between the two
          // connections, each one sees both targets (an L4 balancer would pin each to one).
          assert.ok((t.a ?? 0) >= 5 && (t.b ?? 0) >= 5, `one connection spread ${JSON.stringify(t)}`);
        }
        const all = tally(both.flat().map((r) => r.body));
        assert.deepEqual(all, { a: 20, b: 20 });
      } finally {
        c1.close();
        c2.close();
      }
    });

    it('forwards the request to an HTTP/1.1 target with a Host from :authority and no pseudo-headers', async () => {
      const c = connect(f.url);
      try {
        const r = await get(c, '/path?q=1', { ':method': 'POST', 'content-type': 'text/plain' });
        assert.equal(r.status, 200);
        const seen = [...a.seen, ...b.seen].find((x) => x.url === '/path?q=1')!;
        assert.equal(seen.url, '/path?q=1');
        assert.equal(seen.method, 'POST');
        assert.ok(!seen.rawHeaders.some((n) => n.startsWith(':')), seen.rawHeaders.join(','));
        assert.equal(seen.headers['x-forwarded-host'], `127.0.0.1:${f.port}`);
      } finally {
        c.close();
      }
    });

    it('refuses an invalid host, never forwarding it (400, or a stream error from nghttp2)', async () => {
      const c = connect(f.url);
      try {
        const before = a.seen.length + b.seen.length;
        for (const host of ['a b', 'a/b', 'x:8o']) {
          const s = c.request({ ':path': '/badhost', ':authority': host });
          const outcome = await new Promise<string>((resolve) => {
            s.on('response', (h) => resolve(String(h[':status'])));
            s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
            s.resume();
            s.end();
          });
          assert.ok(['400', 'ERR_HTTP2_STREAM_ERROR'].includes(outcome), `${host}: ${outcome}`);
        }
        assert.equal(a.seen.length + b.seen.length, before);
      } finally {
        c.close();
      }
    });

    it('streams a request body without Content-Length to the target', async () => {
      const c = connect(f.url);
      try {
        const echo = await new Promise<number>((resolve, reject) => {
          const s = c.request({ ':path': '/body', ':method': 'PUT' });
          s.on('response', (h) => resolve(Number(h[':status'])));
          s.on('error', reject);
          s.resume();
          s.write('hello ');
          s.end('world');
        });
        assert.equal(echo, 200);
        const last = [...a.seen, ...b.seen].find((x) => x.url === '/body')!;
        assert.equal(last.body.toString(), 'hello world');
      } finally {
        c.close();
      }
    });

    it('answers its own errors on the stream (no Connection field): no route → 404 JSON', async () => {
      const g = await startFulcrum('services: []\n', { header: h2cHeader(codec) });
      const c = connect(g.url);
      try {
        const r = await get(c, '/nothing');
        assert.equal(r.status, 404);
        assert.equal(JSON.parse(r.body).code, 'FULCRUM_ERR_NO_ROUTE');
      } finally {
        c.close();
        await g.stop();
      }
    });

    it('answers 502 when a plugin makes a response field HTTP/2 cannot carry (a value with CR/LF)', async () => {
      const g = await startFulcrum(
        `services:
  - name: s
    url: http://${a.target}
    routes:
      - paths: ["/"]
    plugins:
      - name: response-transformer
        config:
          add: { headers: ["x-bad:one\\r\\nx-injected: two"] }
`,
        { header: h2cHeader(codec) },
      );
      const c = connect(g.url);
      try {
        const r = await get(c, '/bad-field');
        assert.equal(r.status, 502);
        assert.equal(r.headers['x-injected'], undefined);
      } finally {
        c.close();
        await g.stop();
      }
    });

    it('serves an HTTP/1.1 client on the same port (the preface decides the codec)', async () => {
      const r = await request(`${f.url}/h1`);
      assert.equal(r.statusCode, 200);
      assert.match(await r.body.text(), /^[ab]$/);
    });

    it('works with curl --http2-prior-knowledge and plain curl', async () => {
      const h2 = await run('curl', [
        '-s',
        '--http2-prior-knowledge',
        '-o',
        '/dev/null',
        '-w',
        '%{http_version} %{http_code}',
        `${f.url}/c`,
      ]);
      assert.equal(h2.stdout, '2 200');
      const h1 = await run('curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_version} %{http_code}',
        `${f.url}/c`,
      ]);
      assert.equal(h1.stdout, '1.1 200');
    });

    it('h2load: 200 streams over 2 connections x 10 concurrent, all answered, split evenly', async (t) => {
      try {
        await run('which', ['h2load']);
      } catch {
        t.skip('h2load (nghttp2-client) is not installed');
        return;
      }
      const na = a.seen.length;
      const nb = b.seen.length;
      const out = await run('h2load', ['-n', '200', '-c', '2', '-m', '10', `${f.url}/load`], {
        timeout: 30000,
      });
      assert.match(out.stdout, /200 succeeded, 0 failed, 0 errored/);
      assert.match(out.stdout, /status codes: 200 2xx/);
      assert.equal(a.seen.length - na, 100);
      assert.equal(b.seen.length - nb, 100);
    });
  });

describe('HTTP/2 over TLS (the secure variant)', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let f: TestNode;
  let tlsListener: Http2Listener;
  let port = 0;
  let ca = '';
  let caFile = '';
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-h2tls-'));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
    ]);
    ca = readFileSync(cert, 'utf8');
    caFile = cert;
    a = await startUpstream('a');
    b = await startUpstream('b');
    f = await startFulcrum(body(a, b));
    const node = f.node.runtime.current.snapshot.node;
    tlsListener = new Http2Listener(
      {
        name: 'tls',
        protocol: 'h2c',
        address: '127.0.0.1',
        port: 0,
        proxyProtocol: false,
        maxConnections: 0,
        maxSessions: 0,
        tls: null,
      },
      node,
      f.node.runtime,
      { key: readFileSync(key), cert: readFileSync(cert) },
    );
    port = (await tlsListener.listen()).port;
  });
  after(async () => {
    tlsListener.destroyAll();
    await tlsListener.stopAccepting();
    await f.stop();
    await a.close();
    await b.close();
  });

  it('negotiates h2 by ALPN and balances its streams', async () => {
    const c = connect(`https://localhost:${port}`, { ca });
    try {
      const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => get(c, `/s${i}`)));
      assert.equal(c.alpnProtocol, 'h2');
      assert.deepEqual(tally(rs.map((r) => r.body)), { a: 5, b: 5 });
    } finally {
      c.close();
    }
  });

  it('serves HTTP/1.1 to a client that offers only http/1.1 (curl --http1.1) and h2 to curl --http2', async () => {
    const common = ['-s', '--cacert', caFile, '-o', '/dev/null', '-w', '%{http_version} %{http_code}'];
    const h1 = await run('curl', [...common, '--http1.1', `https://localhost:${port}/x`]);
    assert.equal(h1.stdout, '1.1 200');
    const h2 = await run('curl', [...common, '--http2', `https://localhost:${port}/x`]);
    assert.equal(h2.stdout, '2 200');
  });
});

describe('HTTP/2 to the target (http2: true)', () => {
  it('relays a large body and its trailers whole to a slow reader (backpressure through an h2 target)', async () => {
    const chunk = Buffer.alloc(4096, 120);
    const target = createH2Server((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      // Written at once: the body then waits in flow control, and the trailers come right after it.
      for (let i = 0; i < 100; i++) res.write(chunk);
      res.addTrailers({ 'x-end': 'yes', 'x-served-by': 'h2' });
      res.end();
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const port = (target.address() as AddressInfo).port;
    const f = await startFulcrum(
      `services:
  - name: s
    url: http://127.0.0.1:${port}
    http2: true
    routes:
      - paths: ["/"]
`,
      { header: H2C_HEADER },
    );
    const c = connect(f.url);
    try {
      const got = await new Promise<{ bytes: number; trailers: Record<string, unknown> }>(
        (resolve, reject) => {
          const s = c.request({ ':path': '/big' });
          s.end();
          let bytes = 0;
          let trailers: Record<string, unknown> = {};
          // A slow reader: one chunk per turn of the event loop.
          s.on('data', (d: Buffer) => {
            bytes += d.length;
            s.pause();
            setImmediate(() => s.resume());
          });
          s.on('trailers', (t) => {
            trailers = t;
          });
          s.on('end', () => resolve({ bytes, trailers }));
          s.on('error', reject);
        },
      );
      assert.equal(got.bytes, 100 * 4096);
      assert.equal(got.trailers['x-end'], 'yes');
      assert.equal(got.trailers['x-served-by'], 'h2');
    } finally {
      c.close();
      await f.stop();
      await new Promise<void>((r) => target.close(() => r()));
    }
  });
});

describe('HTTP/1.1 client, HTTP/2 target', () => {
  it('relays the body whole (HTTP/2 DATA frames are no chunked coding to pass on raw)', async () => {
    const target = createH2Server((req, res) => {
      if (req.url === '/sized') res.writeHead(200, { 'content-length': '5' }).end('sized');
      else res.writeHead(200).end('streamed');
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
    const port = (target.address() as AddressInfo).port;
    const f = await startFulcrum(`services:
  - name: s
    url: http://127.0.0.1:${port}
    http2: true
    routes:
      - paths: ["/"]
`);
    try {
      for (const [path, want] of [
        ['/sized', 'sized'],
        ['/streamed', 'streamed'],
      ]) {
        const r = await request(`${f.url}${path}`);
        assert.equal(r.statusCode, 200);
        assert.equal(await r.body.text(), want);
      }
    } finally {
      await f.stop();
      await new Promise<void>((r) => target.close(() => r()));
    }
  });
});

describe('a response cut short by its target, over HTTP/2', () => {
  it('resets the stream with INTERNAL_ERROR (not NO_ERROR), so the client knows the body is incomplete', async () => {
    // The target promises 1000 bytes, sends 100, and drops the connection.
    const up = await startUpstream('cut', (_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write(Buffer.alloc(100, 0x61));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const f = await startFulcrum(
      `services:\n  - name: s\n    url: http://${up.target}\n    retries: 0\n    routes:\n      - paths: ["/"]\n`,
      { header: H2C_HEADER },
    );
    const c = connect(f.url);
    c.on('error', () => {});
    try {
      const got = await new Promise<{ bytes: number; rstCode: number; errored: boolean }>((resolve) => {
        const s = c.request({ ':path': '/cut' });
        s.end();
        let bytes = 0;
        let errored = false;
        s.on('data', (d: Buffer) => {
          bytes += d.length;
        });
        s.on('error', () => {
          errored = true;
        });
        s.on('close', () => resolve({ bytes, rstCode: s.rstCode ?? -1, errored }));
      });
      assert.equal(got.bytes, 100);
      assert.equal(got.rstCode, constants.NGHTTP2_INTERNAL_ERROR);
      assert.equal(got.errored, true);
      // curl reports the failure too (exit 92: HTTP/2 stream error), instead of exiting 0 with half a body.
      const curl = await run('curl', [
        '-s',
        '-o',
        '/dev/null',
        '--http2-prior-knowledge',
        `${f.url}/cut`,
      ]).then(
        () => 0,
        (e: { code: number }) => e.code,
      );
      assert.notEqual(curl, 0);
    } finally {
      c.close();
      await f.stop();
      await up.close();
    }
  });
});
