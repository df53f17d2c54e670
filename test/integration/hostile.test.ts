/**
 * Hostile HTTP/1.1 input against a running Fulcrum: every malformed or smuggling request is
 * answered with the right status and a JSON body carrying a stable code, the connection is closed,
 * and the upstream receives nothing at all (not the bad request, not a request pipelined behind it).
 * The upstream records each request as soon as its head arrives, so a forwarded head whose body
 * later fails still counts as "received".
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { type RawResult, rawRequest } from '../helpers/raw.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const MAX_URI_BYTES = 256;
const MAX_HEADER_BYTES = 1024;
const MAX_HEADERS = 8;
const CLIENT_HEADER_MS = 500;

/** A valid request pipelined behind every bad one: it must never reach the upstream either. */
const PIPELINED = 'GET /pipelined HTTP/1.1\r\nHost: x\r\n\r\n';

interface Case {
  readonly name: string;
  readonly data: string | Buffer;
  readonly status: number;
  readonly code: string;
}

const BAD = 'FULCRUM_ERR_BAD_REQUEST';
const TOO_LARGE = 'FULCRUM_ERR_HEADERS_TOO_LARGE';

const post = (headers: string, body = ''): string => `POST /bad HTTP/1.1\r\nHost: x\r\n${headers}\r\n${body}`;

const CASES: Case[] = [
  // ---- Content-Length / Transfer-Encoding ambiguity ----
  {
    name: 'Content-Length and Transfer-Encoding together',
    data: post('Content-Length: 5\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
    status: 400,
    code: BAD,
  },
  {
    name: 'two differing Content-Length headers',
    data: post('Content-Length: 5\r\nContent-Length: 6\r\n', 'hello!'),
    status: 400,
    code: BAD,
  },
  {
    name: 'a Content-Length list with differing values',
    data: post('Content-Length: 5, 6\r\n', 'hello!'),
    status: 400,
    code: BAD,
  },
  {
    name: 'a non-numeric Content-Length',
    data: post('Content-Length: 5x\r\n', 'hello'),
    status: 400,
    code: BAD,
  },
  {
    name: 'Transfer-Encoding: gzip, chunked (a coding the proxy would silently drop)',
    data: post('Transfer-Encoding: gzip, chunked\r\n', '0\r\n\r\n'),
    status: 400,
    code: BAD,
  },
  {
    name: 'Transfer-Encoding: chunked, identity',
    data: post('Transfer-Encoding: chunked, identity\r\n', '0\r\n\r\n'),
    status: 400,
    code: BAD,
  },
  {
    name: 'Transfer-Encoding: chunked sent twice',
    data: post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\n'),
    status: 400,
    code: BAD,
  },
  {
    name: 'Transfer-Encoding: xchunked',
    data: post('Transfer-Encoding: xchunked\r\n', '0\r\n\r\n'),
    status: 400,
    code: BAD,
  },
  {
    name: 'Transfer-Encoding: identity',
    data: post('Transfer-Encoding: identity\r\n', ''),
    status: 400,
    code: BAD,
  },
  {
    name: 'Transfer-Encoding with a vertical tab before chunked',
    data: post('Transfer-Encoding: \x0bchunked\r\n', '0\r\n\r\n'),
    status: 400,
    code: BAD,
  },
  {
    name: 'a folded Transfer-Encoding line (" chunked" on a line of its own)',
    data: post('Transfer-Encoding:\r\n chunked\r\n', '0\r\n\r\n'),
    status: 400,
    code: BAD,
  },
  {
    name: 'Transfer-Encoding in an HTTP/1.0 request',
    data: 'POST /bad HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    status: 400,
    code: BAD,
  },
  // ---- chunk sizes ----
  {
    name: 'chunk size "zz"',
    data: post('Transfer-Encoding: chunked\r\n', 'zz\r\nhello\r\n0\r\n\r\n'),
    status: 400,
    code: BAD,
  },
  {
    name: 'a negative chunk size',
    data: post('Transfer-Encoding: chunked\r\n', '-5\r\nhello\r\n0\r\n\r\n'),
    status: 400,
    code: BAD,
  },
  {
    name: 'an overflowing chunk size',
    data: post('Transfer-Encoding: chunked\r\n', 'FFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n'),
    status: 400,
    code: BAD,
  },
  // ---- header field syntax ----
  {
    name: 'a bare CR inside a header value',
    data: 'GET /bad HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'a bare LF inside a header value',
    data: 'GET /bad HTTP/1.1\r\nHost: x\r\nX-A: a\nb\r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'a NUL inside a header value',
    data: 'GET /bad HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'obs-fold (a header line starting with a space)',
    data: 'GET /bad HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'obs-fold with a tab',
    data: 'GET /bad HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'whitespace between a header name and the colon',
    data: post('Transfer-Encoding : chunked\r\nContent-Length: 5\r\n', 'hello'),
    status: 400,
    code: BAD,
  },
  {
    name: 'a non-token character in a header name',
    data: 'GET /bad HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'a header line without a colon',
    data: 'GET /bad HTTP/1.1\r\nHost: x\r\nX-A\r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'bare LF line endings',
    data: 'GET /bad HTTP/1.1\nHost: x\n\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'a bad request line (no version)',
    data: 'GET /bad\r\nHost: x\r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'a space inside the request target',
    data: 'GET /b ad HTTP/1.1\r\nHost: x\r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'missing Host on HTTP/1.1',
    data: 'GET /bad HTTP/1.1\r\nX-A: 1\r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'two Host headers',
    data: 'GET /bad HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'a Host with a space (nginx: 400)',
    data: 'GET /bad HTTP/1.1\r\nHost: a b\r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'a Host with a slash',
    data: 'GET /bad HTTP/1.1\r\nHost: a/b\r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'an empty Host on HTTP/1.1',
    data: 'GET /bad HTTP/1.1\r\nHost: \r\n\r\n',
    status: 400,
    code: BAD,
  },
  {
    name: 'a Host with a port that is not a number',
    data: 'GET /bad HTTP/1.1\r\nHost: x:8o\r\n\r\n',
    status: 400,
    code: BAD,
  },
  // ---- limits ----
  {
    name: 'a request target over limits.max_uri_bytes',
    data: `GET /${'a'.repeat(MAX_URI_BYTES)} HTTP/1.1\r\nHost: x\r\n\r\n`,
    status: 414,
    code: 'FULCRUM_ERR_URI_TOO_LONG',
  },
  {
    name: 'a request head over limits.max_header_bytes',
    data: `GET /bad HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(MAX_HEADER_BYTES)}\r\n\r\n`,
    status: 431,
    code: TOO_LARGE,
  },
  {
    name: 'more header fields than limits.max_headers',
    data: `GET /bad HTTP/1.1\r\nHost: x\r\n${Array.from({ length: MAX_HEADERS }, (_, i) => `X-H${i}: ${i}\r\n`).join('')}\r\n`,
    status: 431,
    code: TOO_LARGE,
  },
  // ---- request smuggling ----
  {
    name: 'CL.TE smuggling (the front end would use Content-Length)',
    data: post(
      'Content-Length: 40\r\nTransfer-Encoding: chunked\r\n',
      '0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    ),
    status: 400,
    code: BAD,
  },
  {
    name: 'TE.CL smuggling (the front end would use Transfer-Encoding)',
    data: post(
      'Transfer-Encoding: chunked\r\nContent-Length: 4\r\n',
      '26\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n',
    ),
    status: 400,
    code: BAD,
  },
  {
    name: 'TE.TE smuggling with an obfuscated second Transfer-Encoding',
    data: post(
      'Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\nContent-Length: 4\r\n',
      '26\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n',
    ),
    status: 400,
    code: BAD,
  },
  {
    name: 'smuggling through a chunked body with a gzip coding in front',
    data: post(
      'Transfer-Encoding: gzip, chunked\r\n',
      '26\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n\r\n0\r\n\r\n',
    ),
    status: 400,
    code: BAD,
  },
];

function firstBody(r: RawResult): string {
  const head = r.text.indexOf('\r\n\r\n');
  assert.ok(head > 0, `no response head in ${JSON.stringify(r.text)}`);
  const m = /\r\ncontent-length: *(\d+)/i.exec(r.text.slice(0, head));
  assert.ok(m, `no content-length in ${JSON.stringify(r.text.slice(0, head))}`);
  return r.text.slice(head + 4, head + 4 + Number(m[1]));
}

function assertJsonError(r: RawResult, code: string): void {
  const head = r.text.slice(0, r.text.indexOf('\r\n\r\n'));
  assert.match(head, /\r\ncontent-type: application\/json/i);
  assert.match(head, /\r\nconnection: close/i);
  const body = JSON.parse(firstBody(r)) as { code: string };
  assert.equal(body.code, code);
}

describe('hostile HTTP/1.1 input', () => {
  let up: TestUpstream;
  let f: TestNode;

  /** A request on a fresh connection that does reach the upstream: whatever came before it has too. */
  async function barrier(): Promise<string[]> {
    const r = await request(`${f.url}/barrier`);
    assert.equal(r.statusCode, 200);
    await r.body.text();
    return up.seen.map((s) => s.url);
  }

  before(async () => {
    // '/delayed' answers after a moment, so that a request pipelined behind it arrives while its
    // response is still in flight.
    up = await startUpstream(
      'u',
      (req, res) => {
        const send = () => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('u');
        };
        if (req.url === '/delayed') setTimeout(send, 150);
        else send();
      },
      { stream: true },
    );
    f = await startFulcrum(`
limits:
  max_uri_bytes: ${MAX_URI_BYTES}
  max_header_bytes: ${MAX_HEADER_BYTES}
  max_headers: ${MAX_HEADERS}
timeouts:
  client_header_ms: ${CLIENT_HEADER_MS}
services:
  - name: s
    url: http://${up.target}
    routes:
      - name: r
        paths: ["/"]
        strip_path: false
`);
  });
  after(async () => {
    await f.stop();
    await up.close();
  });
  beforeEach(() => {
    up.seen.length = 0;
  });

  it('control: a valid request and one pipelined behind it both reach the upstream', async () => {
    // A third request asks to close, so that the answer is complete when the connection ends
    // (no idle wait that a loaded machine could outlast).
    const last = 'GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const r = await rawRequest(f.port, `GET /ok HTTP/1.1\r\nHost: x\r\n\r\n${PIPELINED}${last}`, {
      idleMs: 10000,
    });
    assert.deepEqual(r.statuses, [200, 200, 200]);
    assert.equal(r.closed, true);
    assert.deepEqual(await barrier(), ['/ok', '/pipelined', '/last', '/barrier']);
  });

  for (const c of CASES) {
    it(`${c.name} → ${c.status}, closed, nothing forwarded`, async () => {
      const data = Buffer.concat([
        typeof c.data === 'string' ? Buffer.from(c.data, 'latin1') : c.data,
        Buffer.from(PIPELINED),
      ]);
      const r = await rawRequest(f.port, data, { idleMs: 3000 });
      assert.deepEqual(r.statuses, [c.status], r.text);
      assert.equal(r.closed, true, 'the connection must be closed');
      assertJsonError(r, c.code);
      assert.deepEqual(await barrier(), ['/barrier']);
    });
  }

  it('a malformed request pipelined behind one in flight: the first is answered intact, then 400 and close', async () => {
    const r = await rawRequest(
      f.port,
      'GET /delayed HTTP/1.1\r\nHost: x\r\n\r\nGET /bad HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n',
      { idleMs: 3000 },
    );
    assert.deepEqual(r.statuses, [200, 400], r.text);
    assert.equal(r.closed, true);
    assert.match(r.text, /\r\n\r\n1\r\nu\r\n0\r\n\r\nHTTP\/1\.1 400 /);
    assert.deepEqual(await barrier(), ['/delayed', '/barrier']);
  });

  it('an over-limit request pipelined behind one in flight: 200 then 414, nothing after it forwarded', async () => {
    const r = await rawRequest(
      f.port,
      `GET /delayed HTTP/1.1\r\nHost: x\r\n\r\nGET /${'a'.repeat(MAX_URI_BYTES)} HTTP/1.1\r\nHost: x\r\n\r\n${PIPELINED}`,
      { idleMs: 3000 },
    );
    assert.deepEqual(r.statuses, [200, 414], r.text);
    assert.equal(r.closed, true);
    assert.deepEqual(await barrier(), ['/delayed', '/barrier']);
  });

  it('the same bad requests split across packets are refused too', async () => {
    // The head first, then the bad body a moment later: the head has been routed by then.
    const r = await rawRequest(
      f.port,
      [post('Transfer-Encoding: chunked\r\n'), `zz\r\nhello\r\n0\r\n\r\n${PIPELINED}`],
      { idleMs: 3000, gapMs: 50 },
    );
    assert.equal(r.closed, true);
    assert.ok(!r.statuses.includes(200), r.text);
    // The head was already on its way (bodies stream), but the pipelined request never is.
    const seen = await barrier();
    assert.ok(!seen.includes('/pipelined'), seen.join(' '));
  });

  it('a slowloris client gets 408 and is closed within ~1.5 s', async () => {
    const start = performance.now();
    const bytes = Buffer.from(`GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ${'s'.repeat(40)}\r\n\r\n`);
    const result = await new Promise<{ text: string; closed: boolean; elapsedMs: number; sent: number }>(
      (resolve, reject) => {
        const sock = connect(f.port, '127.0.0.1');
        const chunks: Buffer[] = [];
        let sent = 0;
        let timer: NodeJS.Timeout | undefined;
        const give = setTimeout(() => finish(false), 5000);
        const finish = (closed: boolean) => {
          clearInterval(timer);
          clearTimeout(give);
          sock.destroy();
          resolve({
            text: Buffer.concat(chunks).toString('latin1'),
            closed,
            elapsedMs: performance.now() - start,
            sent,
          });
        };
        sock.on('data', (c: Buffer) => chunks.push(c));
        sock.on('close', () => finish(true));
        sock.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
        });
        sock.on('connect', () => {
          timer = setInterval(() => {
            if (sent < bytes.length && !sock.destroyed) sock.write(bytes.subarray(sent, ++sent));
          }, 200);
        });
      },
    );
    assert.equal(result.closed, true);
    assert.ok(result.sent < bytes.length, 'the head must still be incomplete when the proxy gives up');
    assert.ok(result.elapsedMs >= CLIENT_HEADER_MS - 50, `closed too early: ${result.elapsedMs} ms`);
    assert.ok(result.elapsedMs < 1500, `closed too late: ${result.elapsedMs} ms`);
    assert.match(result.text, /^HTTP\/1\.1 408 /);
    assertJsonError({ text: result.text, statuses: [408], closed: true }, 'FULCRUM_ERR_REQUEST_TIMEOUT');
    assert.deepEqual(await barrier(), ['/barrier']);
  });
});
