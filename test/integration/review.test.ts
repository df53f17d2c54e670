/**
 * Adversarial review of the data path: accounting that must balance on every path (the
 * generation's in-flight count, each target's in-flight count), requests that must get a clear
 * answer instead of a silent close, and pins of behaviour compared with nginx (a non-WebSocket Upgrade without
 * WebSocket support, a body on GET, absolute-form targets, encoded path tricks).
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { rawRequest } from '../helpers/raw.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const WAIT_MS = 3000;

/** Poll `cond` until it holds or WAIT_MS pass (counters have no event to await). */
async function waitFor(cond: () => boolean): Promise<boolean> {
  const deadline = Date.now() + WAIT_MS;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

describe('review: accounting on pipelined connections', () => {
  let f: TestNode;
  let held: TestUpstream;
  let reset: TestUpstream;
  /** Responses the held upstream has not answered yet, and whether each saw its request aborted. */
  const pending: ServerResponse[] = [];
  let aborted = 0;

  before(async () => {
    held = await startUpstream(
      'held',
      (_req, res) => {
        pending.push(res);
        res.on('close', () => {
          if (!res.writableFinished) aborted++;
        });
      },
      { stream: true },
    );
    // Closes the connection without answering: the proxy answers 502 and, since the request had a
    // body, closes the client connection (Connection: close).
    reset = await startUpstream('reset', (req) => req.socket.destroy());
    f = await startFulcrum(`services:
  - name: held
    url: http://${held.target}
    retries: 0
    routes:
      - name: held
        paths: [/held]
  - name: reset
    url: http://${reset.target}
    retries: 0
    routes:
      - name: reset
        paths: [/reset]
`);
  });

  after(async () => {
    for (const r of pending) r.destroy();
    await f.stop();
    await held.close();
    await reset.close();
  });

  const heldTarget = () => [...f.node.runtime.live.targets.values()].find((t) => t.target === held.target)!;

  async function settle(): Promise<void> {
    const ok = await waitFor(() => f.node.runtime.inflight() === 0 && heldTarget().inflight === 0);
    assert.ok(
      ok,
      `in flight after the client left: generation ${f.node.runtime.inflight()}, target ${heldTarget().inflight}`,
    );
  }

  it('a client that closes with two pipelined requests in flight ends both exchanges', async () => {
    pending.length = 0;
    aborted = 0;
    const s = await openSocket(f.port);
    s.write('GET /held/1 HTTP/1.1\r\nHost: x\r\n\r\nGET /held/2 HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(await waitFor(() => pending.length === 2), 'both requests reach the upstream');
    assert.equal(f.node.runtime.inflight(), 2);
    s.destroy();
    await settle();
    // The second upstream request is aborted too, not left to run to its read timeout.
    assert.ok(await waitFor(() => aborted === 2), `upstream requests aborted: ${aborted}`);
  });

  it('a request pipelined behind one answered with Connection: close is ended when the socket closes', async () => {
    pending.length = 0;
    const s = await openSocket(f.port);
    const closed = new Promise<string>((resolve) => {
      let text = '';
      s.on('data', (c: Buffer) => {
        text += c.toString('latin1');
      });
      s.on('close', () => resolve(text));
      s.on('error', () => {});
    });
    // The GET is parsed, routed and dispatched while the POST is still waiting for its upstream.
    s.write(
      'POST /reset HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /held/3 HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const text = await closed;
    assert.match(text, /^HTTP\/1\.1 502 /);
    await settle();
  });

  it('a request pipelined behind Connection: close is dropped without touching the counts', async () => {
    pending.length = 0;
    const done = rawRequest(
      f.port,
      'GET /held/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /held/d HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    assert.ok(await waitFor(() => pending.length === 1));
    assert.equal(f.node.runtime.inflight(), 1);
    pending[0]!.end('ok');
    const r = await done;
    assert.deepEqual(r.statuses, [200]);
    assert.ok(r.closed);
    assert.equal(pending.length, 1, 'the pipelined request never reaches the target');
    await settle();
  });

  it('deep pipelining does not trip the EventEmitter leak warning', async () => {
    pending.length = 0;
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const s = await openSocket(f.port);
      const one = 'GET /held/p HTTP/1.1\r\nHost: x\r\n\r\n';
      s.write(one.repeat(20));
      assert.ok(await waitFor(() => pending.length === 20), `reached the upstream: ${pending.length}`);
      s.destroy();
      await settle();
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(
        warnings.filter((w) => w === 'MaxListenersExceededWarning'),
        [],
      );
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('review: methods and upgrades the proxy does not tunnel', () => {
  let f: TestNode;
  let up: TestUpstream;

  before(async () => {
    up = await startUpstream('echo', (req, res, body) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          method: req.method,
          url: req.url,
          upgrade: req.headers.upgrade ?? null,
          connection: req.headers.connection ?? null,
          body: body.toString(),
        }),
      );
    });
    f = await startFulcrum(`services:
  - name: echo
    url: http://${up.target}
    routes:
      - name: all
        paths: [/]
`);
  });

  after(async () => {
    await f.stop();
    await up.close();
  });

  it('CONNECT is answered 400 with a JSON body, not a silent close, and nothing is forwarded', async () => {
    const before = up.seen.length;
    const r = await rawRequest(f.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    assert.deepEqual(r.statuses, [400]);
    assert.match(r.text, /"code":"FULCRUM_ERR_BAD_REQUEST"/);
    assert.match(r.text, /connection: close/i);
    assert.ok(r.closed);
    assert.equal(up.seen.length, before);
  });

  it('CONNECT pipelined behind a request is answered after that response', async () => {
    const r = await rawRequest(
      f.port,
      'GET /first HTTP/1.1\r\nHost: x\r\n\r\nCONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    );
    assert.deepEqual(r.statuses, [200, 400]);
    assert.ok(r.closed);
    assert.equal(f.node.runtime.inflight(), 0);
  });

  it('an Upgrade other than WebSocket (h2c) is forwarded as a plain request without Upgrade', async () => {
    // WebSocket upgrades are tunnelled (websocket.test.ts); any other protocol switch is declined.
    const r = await rawRequest(
      f.port,
      'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
        'HTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n',
    );
    assert.deepEqual(r.statuses, [200]);
    assert.doesNotMatch(r.text, /^upgrade:/im);
    const seen = up.seen.at(-1)!;
    assert.equal(seen.url, '/ws');
    assert.equal(seen.headers.upgrade, undefined);
    assert.notEqual(seen.headers.connection?.toLowerCase(), 'upgrade');
  });

  it('a body on GET is forwarded with the request (as nginx does)', async () => {
    const r = await rawRequest(f.port, 'GET /g HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
    assert.deepEqual(r.statuses, [200]);
    const seen = up.seen.at(-1)!;
    assert.equal(seen.method, 'GET');
    assert.equal(seen.body.toString(), 'hello');
    assert.equal(f.node.runtime.inflight(), 0);
  });
});

describe('review: the router and the target see the same path', () => {
  let f: TestNode;
  let pub: TestUpstream;
  let admin: TestUpstream;
  let internal: TestUpstream;

  before(async () => {
    pub = await startUpstream('public');
    admin = await startUpstream('admin');
    internal = await startUpstream('internal');
    f = await startFulcrum(`services:
  - name: public
    url: http://${pub.target}
    routes:
      - name: public
        paths: [/public]
        strip_path: false
  - name: admin
    url: http://${admin.target}
    routes:
      - name: admin
        paths: [/admin]
        strip_path: false
  - name: internal
    url: http://${internal.target}
    routes:
      - name: internal
        hosts: [internal.example]
`);
  });

  after(async () => {
    await f.stop();
    await pub.close();
    await admin.close();
    await internal.close();
  });

  async function get(target: string, host = 'x'): Promise<{ status: number; by: string; url: string }> {
    const counts = [pub.seen.length, admin.seen.length, internal.seen.length];
    const r = await rawRequest(
      f.port,
      `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    const ups = [pub, admin, internal];
    const i = ups.findIndex((u, k) => u.seen.length > counts[k]!);
    return {
      status: r.statuses[0] ?? 0,
      by: i < 0 ? '' : ups[i]!.name,
      url: i < 0 ? '' : ups[i]!.seen.at(-1)!.url,
    };
  }

  it('encoded dot segments are resolved before routing, and the target gets the resolved path', async () => {
    assert.deepEqual(await get('/public/%2e%2e/admin/x'), { status: 200, by: 'admin', url: '/admin/x' });
    assert.deepEqual(await get('/public/.%2E/admin'), { status: 200, by: 'admin', url: '/admin' });
  });

  it('an encoded slash and a ;-parameter are left alone: routed and forwarded unchanged', async () => {
    assert.deepEqual(await get('/public%2F..%2Fadmin'), {
      status: 200,
      by: 'public',
      url: '/public%2F..%2Fadmin',
    });
    assert.deepEqual(await get('/public/%2F..%2Fadmin'), {
      status: 200,
      by: 'public',
      url: '/public/%2F..%2Fadmin',
    });
    assert.deepEqual(await get('/public/..;/admin'), { status: 200, by: 'public', url: '/public/..;/admin' });
  });

  it('a backslash is not a separator in origin-form (nginx on Unix agrees)', async () => {
    assert.deepEqual(await get('/public\\..\\admin'), {
      status: 200,
      by: 'public',
      url: '/public\\..\\admin',
    });
  });

  it('absolute-form: the URL authority replaces Host (RFC 9112 §3.2.2, as nginx)', async () => {
    const r = await get('http://internal.example/x', 'public.example');
    assert.deepEqual(r, { status: 200, by: 'internal', url: '/x' });
    assert.equal(internal.seen.at(-1)!.headers['x-forwarded-host'], 'internal.example');
  });
});

describe('review: header injection through configuration', () => {
  it('a host_header with CR/LF is refused when the configuration loads, with its position', async () => {
    await assert.rejects(
      startFulcrum(`upstreams:
  - name: u
    host_header: "a\\r\\nx-injected: 1"
    targets:
      - target: 127.0.0.1:9
`),
      (err: Error) => /:11:18: upstreams\[0\]\.host_header: expected a string matching/.test(err.message),
    );
  });
  // Should such a value reach undici anyway, it refuses to send it (UND_ERR_INVALID_ARG), which
  // maps to 500 FULCRUM_ERR_INTERNAL and is never retried: see test/unit/proxy/errors.test.ts.
});

describe('review: an informational response the client cannot be sent', () => {
  let f: TestNode;
  let srv: Server;

  before(async () => {
    // A 103 whose Link value Node refuses to write (not `<uri>; params`), then a good 200.
    srv = createServer((s) => {
      s.on('error', () => {});
      s.once('data', () =>
        s.write(
          'HTTP/1.1 103 Early Hints\r\nLink: not a link\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
        ),
      );
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    f = await startFulcrum(`services:
  - name: s
    url: http://127.0.0.1:${(srv.address() as AddressInfo).port}
    retries: 0
    routes:
      - name: r
        paths: [/]
`);
  });

  after(async () => {
    await f.stop();
    await new Promise<void>((r) => srv.close(() => r()));
  });

  it('drops the 103 and forwards the final response (early hints are optional)', async () => {
    const r = await rawRequest(f.port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.deepEqual(r.statuses, [200]);
    assert.match(r.text, /\r\n\r\nok$/);
    const t = [...f.node.runtime.live.targets.values()][0]!;
    assert.equal(t.failures, 0);
  });
});
