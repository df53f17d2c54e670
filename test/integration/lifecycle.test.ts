/**
 * Lifecycle: graceful shutdown with requests in flight (and the drain timeout that cuts them
 * short), SIGHUP reload that moves traffic or, for an invalid file, logs every error with
 * file:line:col and keeps the old configuration serving; and reloads under continuous keep-alive
 * load that lose no request.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Pool, request } from 'undici';
import { CHILD_NODE_HEADER, type ChildFulcrum, spawnFulcrum, writeConfig } from '../helpers/child.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const routeTo = (target: string) => `
services:
  - name: s
    url: http://${target}
    routes:
      - name: r
        paths: ["/"]
`;

/** An upstream that answers each request after `delayMs`; `arrived(n)` resolves once it has
 * received `n` requests in all. */
async function slowUpstream(delayMs: number) {
  const arrivals: Array<() => void> = [];
  let count = 0;
  const up = await startUpstream('slow', (_req, res) => {
    count++;
    for (const f of arrivals.splice(0)) f();
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('slow');
    }, delayMs);
  });
  const arrived = async (n: number, timeoutMs = 5000) => {
    const deadline = performance.now() + timeoutMs;
    while (count < n) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`only ${count} of ${n} requests reached the upstream`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        arrivals.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  };
  return { up, arrived, count: () => count };
}

/**
 * Whether a new connection to the port goes unserved: refused outright, or (when it raced the
 * listening socket's close, which libuv finishes at the end of a loop turn) accepted by the kernel
 * and then closed without any response to the request sent on it.
 */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.once('connect', () => s.write('GET /slow HTTP/1.1\r\nHost: x\r\n\r\n'));
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.startsWith('HTTP/1.1')) {
        s.destroy();
        resolve(false);
      }
    });
    s.once('close', () => resolve(got === ''));
    s.once('error', (err: NodeJS.ErrnoException) =>
      resolve(err.code === 'ECONNREFUSED' || err.code === 'ECONNRESET' || err.code === 'EPIPE'),
    );
  });
}

async function fire(url: string, n: number) {
  // One connection per request (a fresh pool each), so none waits behind another.
  return Promise.allSettled(
    Array.from({ length: n }, async () => {
      const pool = new Pool(url, { connections: 1 });
      try {
        const r = await pool.request({ path: '/slow', method: 'GET' });
        return { status: r.statusCode, body: await r.body.text() };
      } finally {
        void pool.destroy();
      }
    }),
  );
}

describe('graceful shutdown (child process)', () => {
  let slow: Awaited<ReturnType<typeof slowUpstream>>;
  before(async () => {
    slow = await slowUpstream(1000);
  });
  after(() => slow.up.close());

  it('lets 20 in-flight requests finish after SIGTERM, refuses new connections, exits 0', async () => {
    const f = await spawnFulcrum(writeConfig(routeTo(slow.up.target)));
    try {
      const t0 = performance.now();
      const base = slow.count();
      const results = fire(f.url, 20);
      await slow.arrived(base + 20);
      const signalAt = performance.now() - t0;
      f.signal('SIGTERM');
      await f.waitForLog((l) => l.msg === 'stopping: draining in-flight requests');
      assert.equal(await refused(f.port), true, 'a new connection after SIGTERM is refused');
      const settled = await results;
      const exit = await f.exited;
      const total = performance.now() - t0;
      console.log(
        `# SIGTERM at ${signalAt.toFixed(0)} ms with 20 in flight; all done and exited at ${total.toFixed(0)} ms`,
      );
      for (const s of settled) {
        assert.equal(s.status, 'fulfilled', s.status === 'rejected' ? String(s.reason) : '');
        if (s.status === 'fulfilled') assert.deepEqual(s.value, { status: 200, body: 'slow' });
      }
      assert.deepEqual(exit, { code: 0, signal: null });
      const stopped = await f.waitForLog((l) => l.msg === 'fulcrum stopped');
      assert.equal(stopped.outcome, 'drained');
    } finally {
      await f.stop();
    }
  });

  it('exits 0 once drain_ms passes, even with requests still in flight', async () => {
    const f = await spawnFulcrum(writeConfig(`${routeTo(slow.up.target)}timeouts:\n  drain_ms: 300\n`));
    try {
      const base = slow.count();
      const results = fire(f.url, 5);
      await slow.arrived(base + 5);
      const t0 = performance.now();
      f.signal('SIGTERM');
      const exit = await f.exited;
      const ms = performance.now() - t0;
      console.log(`# drain_ms 300 with a 1000 ms request in flight: exited after ${ms.toFixed(0)} ms`);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(ms >= 250, `exited after ${ms.toFixed(0)} ms, before the drain timeout`);
      assert.ok(
        ms < 900,
        `exited after ${ms.toFixed(0)} ms, expected soon after drain_ms 300 (the request needs 1000)`,
      );
      const stopped = await f.waitForLog((l) => l.msg === 'fulcrum stopped');
      assert.equal(stopped.outcome, 'timeout');
      const settled = await results;
      assert.ok(
        settled.every((s) => s.status === 'rejected'),
        'the cut-off requests fail at the client (the connection closes before a response)',
      );
    } finally {
      await f.stop();
    }
  });
});

describe('SIGHUP reload (child process)', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let f: ChildFulcrum;
  let file: string;
  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    file = writeConfig(routeTo(a.target));
    f = await spawnFulcrum(file);
  });
  after(async () => {
    const e = await f?.stop();
    await a?.close();
    await b?.close();
    if (e) assert.equal(e.code, 0);
  });

  const get = async () => {
    const r = await request(`${f.url}/x`);
    return { status: r.statusCode, body: await r.body.text() };
  };
  const countLogs = (msg: string) => f.logs.filter((l) => l.msg === msg).length;
  /** Send SIGHUP and wait for the `n`-th log line with `msg`. */
  const hup = async (msg: string) => {
    const n = countLogs(msg) + 1;
    f.signal('SIGHUP');
    await f.waitForLog(() => countLogs(msg) >= n);
  };

  it('moves traffic to the upstream the new file names', async () => {
    assert.deepEqual(await get(), { status: 200, body: 'a' });
    writeFileSync(file, CHILD_NODE_HEADER + routeTo(b.target));
    await hup('configuration applied');
    for (let i = 0; i < 3; i++) assert.deepEqual(await get(), { status: 200, body: 'b' });
  });

  it('refuses an invalid file, logs every error with file:line:col, keeps serving', async () => {
    const bad = `${CHILD_NODE_HEADER}services:
  - name: s
    url: http://${a.target}
    retries: "three"
    routes:
      - name: r
        paths: ["/"]
        bogus: 1
`;
    writeFileSync(file, bad);
    const headerLines = CHILD_NODE_HEADER.split('\n').length - 1;
    const before = f.logs.length;
    await hup('configuration refused; the previous configuration keeps serving');
    const errors = f.logs.slice(before).filter((l) => l.level === 50 && typeof l.line === 'number');
    const where = errors.map((e) => `${e.file}:${e.line}:${e.column} ${e.path}`).sort();
    assert.deepEqual(where, [
      `${file}:${headerLines + 4}:14 services[0].retries`,
      `${file}:${headerLines + 8}:9 services[0].routes[0].bogus`,
    ]);
    for (let i = 0; i < 3; i++) assert.deepEqual(await get(), { status: 200, body: 'b' });
  });
});

describe('reload under continuous keep-alive load (in process)', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let f: TestNode;
  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    f = await startFulcrum(routeTo(a.target));
  });
  after(async () => {
    await f?.stop();
    await a?.close();
    await b?.close();
  });

  it('reloads 20 times with zero failed requests', { timeout: 30000 }, async () => {
    const pool = new Pool(f.url, { connections: 4, pipelining: 1 });
    const seen = { a: 0, b: 0 };
    const failures: string[] = [];
    let total = 0;
    let running = true;
    const worker = async () => {
      // Bounded: stops when the reloads are done or after 20,000 requests.
      while (running && total < 20000) {
        total++;
        try {
          const r = await pool.request({ path: '/load', method: 'GET' });
          const body = await r.body.text();
          if (r.statusCode !== 200 || (body !== 'a' && body !== 'b'))
            failures.push(`${r.statusCode} ${body.slice(0, 100)}`);
          else seen[body]++;
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    const generations: number[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const before = total;
        // Let some requests through on each generation (bounded by time).
        const deadline = performance.now() + 2000;
        while (total < before + 50 && performance.now() < deadline) await new Promise((r) => setImmediate(r));
        f.write(routeTo(i % 2 === 0 ? b.target : a.target));
        const r = await f.node.reload();
        assert.equal(r.ok, true, JSON.stringify(r));
        if (r.ok) generations.push(r.generation);
      }
    } finally {
      running = false;
      await Promise.all(workers);
      await pool.close();
    }
    console.log(
      `# 20 reloads under load: ${total} requests, a=${seen.a} b=${seen.b}, ${failures.length} failed`,
    );
    assert.deepEqual(failures, []);
    assert.equal(new Set(generations).size, 20);
    assert.ok(seen.a > 0 && seen.b > 0, 'traffic followed the reloads to both upstreams');
    assert.ok(total >= 1000, `only ${total} requests ran during the reloads`);
  });
});
