/**
 * The live-configuration scenario (issue 4's proof), shared by test/integration/admin-live.test.ts
 * (that nothing fails and every change lands) and bench/admin/live-changes.ts (how soon each change
 * is visible, a wall-clock figure that belongs in a benchmark): continuous load through the proxy
 * (keep-alive and new connections, streamed uploads and downloads) while admin changes are applied
 * (targets added and removed, weights changed, routes added and removed, the whole configuration
 * replaced), with invalid changes in between that must be refused and change nothing.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { Pool, request } from 'undici';
import { systemClock } from '../../src/core/clock.ts';
import { admin, type ManagedNode, startManaged } from './admin.ts';
import { startUpstream, type TestUpstream } from './upstream.ts';

const STREAM_CHUNKS = 16;
const CHUNK_BYTES = 4096;
const LOAD_DEADLINE_MS = 90_000;

function handler(name: string) {
  return (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const url = req.url ?? '';
    if (url.startsWith('/stable/stream')) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      let i = 0;
      const next = () => {
        if (i++ === STREAM_CHUNKS) return res.end();
        res.write(Buffer.alloc(CHUNK_BYTES, 120), () => setImmediate(next));
      };
      next();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(url.startsWith('/stable/echo') ? `len:${body.length}` : `ok:${name}`);
  };
}

/** A managed node proxying /stable to two of three upstreams (the third is added and removed). */
export async function startLiveNode(): Promise<{
  f: ManagedNode;
  ups: TestUpstream[];
  close(): Promise<void>;
}> {
  const ups = await Promise.all(['u1', 'u2', 'u3'].map((n) => startUpstream(n, handler(n))));
  const f = await startManaged({
    seedBody: `services:
  - name: main
    host: pool
    routes:
      - name: stable
        paths: [/stable]
        strip_path: false
upstreams:
  - name: pool
    targets:
      - target: 127.0.0.1:${ups[0]!.port}
      - target: 127.0.0.1:${ups[1]!.port}
`,
  });
  return {
    f,
    ups,
    close: async () => {
      await f.stop();
      await Promise.all(ups.map((u) => u.close()));
    },
  };
}

export interface LiveResult {
  readonly failures: string[];
  readonly counts: { keepalive: number; fresh: number; upload: number; download: number };
  /** Milliseconds from sending each change to seeing it in effect. */
  readonly visibleMs: number[];
  readonly kinds: Record<string, number>;
  readonly refused: number;
}

/** Apply `changes` admin changes under load; each is checked to be in effect before the next. */
export async function runLiveChanges(
  f: ManagedNode,
  ups: TestUpstream[],
  changes: number,
): Promise<LiveResult> {
  const api = (m: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', p: string, b?: unknown) =>
    admin(f.adminUrl, m, p, b);
  const failures: string[] = [];
  const counts = { keepalive: 0, fresh: 0, upload: 0, download: 0 };
  let stop = false;
  const deadline = systemClock.monoMs() + LOAD_DEADLINE_MS;
  const running = () => !stop && systemClock.monoMs() < deadline;
  const keepalive = new Pool(f.url, { connections: 2 });

  const loops = [
    (async () => {
      while (running()) {
        const r = await keepalive.request({ path: '/stable/small', method: 'GET' });
        const t = await r.body.text();
        if (r.statusCode !== 200 || !t.startsWith('ok:')) failures.push(`keepalive ${r.statusCode} ${t}`);
        counts.keepalive++;
      }
    })(),
    (async () => {
      while (running()) {
        const r = await request(`${f.url}/stable/small`, { reset: true });
        const t = await r.body.text();
        if (r.statusCode !== 200 || !t.startsWith('ok:')) failures.push(`fresh ${r.statusCode} ${t}`);
        counts.fresh++;
      }
    })(),
    (async () => {
      while (running()) {
        async function* chunks() {
          for (let i = 0; i < 8; i++) {
            yield Buffer.alloc(8192, 97);
            await tick();
          }
        }
        const r = await keepalive.request({
          path: '/stable/echo',
          method: 'POST',
          body: Readable.from(chunks()),
        });
        const t = await r.body.text();
        if (r.statusCode !== 200 || t !== 'len:65536') failures.push(`upload ${r.statusCode} ${t}`);
        counts.upload++;
      }
    })(),
    (async () => {
      while (running()) {
        const r = await request(`${f.url}/stable/stream`);
        let n = 0;
        for await (const c of r.body) n += (c as Buffer).length;
        if (r.statusCode !== 200 || n !== STREAM_CHUNKS * CHUNK_BYTES)
          failures.push(`download ${r.statusCode} ${n}`);
        counts.download++;
      }
    })(),
  ].map((p) => p.catch((err: Error) => failures.push(`transport: ${err.message}`)));

  const visibleMs: number[] = [];
  const kinds: Record<string, number> = {};
  const t3 = `127.0.0.1:${ups[2]!.port}`;
  const t1 = `127.0.0.1:${ups[0]!.port}`;
  const health = async () =>
    (await api('GET', '/upstreams/pool/health')).body.data as { target: string; weight: number }[];
  let refused = 0;

  for (let i = 0; i < changes; i++) {
    const step = i % 10;
    const t0 = systemClock.monoMs();
    let kind: string;
    if (step === 0) {
      kind = 'add-target';
      assert.equal((await api('POST', '/upstreams/pool/targets', { target: t3 })).status, 201);
      assert.ok((await health()).some((t) => t.target === t3));
    } else if (step === 1 || step === 5) {
      kind = 'weight';
      const w = 1 + ((i * 37) % 200);
      assert.equal((await api('PATCH', `/upstreams/pool/targets/${t1}`, { weight: w })).status, 200);
      assert.equal((await health()).find((t) => t.target === t1)?.weight, w);
    } else if (step === 2) {
      kind = 'remove-target';
      assert.equal((await api('DELETE', `/upstreams/pool/targets/${t3}`)).status, 204);
      assert.equal(
        (await health()).some((t) => t.target === t3),
        false,
      );
    } else if (step === 3 || step === 6) {
      kind = 'add-route';
      const r = await api('POST', '/services/main/routes', { name: `temp-${i}`, paths: [`/temp-${i}`] });
      assert.equal(r.status, 201, r.text);
      const probe = await request(`${f.url}/temp-${i}`);
      assert.equal(probe.statusCode, 200);
      await probe.body.text();
    } else if (step === 4 || step === 7) {
      kind = 'remove-route';
      assert.equal((await api('DELETE', `/routes/temp-${i - 1}`)).status, 204);
      const probe = await request(`${f.url}/temp-${i - 1}`);
      assert.equal(probe.statusCode, 404);
      await probe.body.text();
    } else if (step === 8) {
      kind = 'replace-config';
      const doc = (await api('GET', '/config')).body;
      doc.upstreams[0].algorithm = i % 20 === 8 ? 'least-connections' : 'round-robin';
      const r = await api('POST', '/config', doc);
      assert.equal(r.status, 200, r.text);
      assert.equal((await api('GET', '/upstreams/pool')).body.algorithm, doc.upstreams[0].algorithm);
    } else {
      kind = 'service-timeout';
      assert.equal((await api('PATCH', '/services/main', { read_timeout: 30000 + i })).status, 200);
      assert.equal(f.node.runtime.current.snapshot.services[0]!.readTimeoutMs, 30000 + i);
    }
    visibleMs.push(systemClock.monoMs() - t0);
    kinds[kind] = (kinds[kind] ?? 0) + 1;

    if (i % 25 === 0) {
      // An invalid change in between: refused, and nothing moves.
      const before = await api('GET', '/config');
      const bad = await api('POST', '/services/main/routes', { paths: ['~(unclosed'] });
      assert.equal(bad.status, 400);
      const badConfig = await api('POST', '/config', { _format_version: '3.0', services: [{ name: 'x' }] });
      assert.equal(badConfig.status, 400);
      const afterBad = await api('GET', '/config');
      assert.equal(afterBad.headers['x-fulcrum-config-version'], before.headers['x-fulcrum-config-version']);
      assert.deepEqual(afterBad.body, before.body);
      refused += 2;
    }
  }
  stop = true;
  await Promise.all(loops);
  await keepalive.close();

  return { failures, counts, visibleMs, kinds, refused };
}

export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** One line: the changes, how soon they were visible, the load carried. */
export function liveSummary(r: LiveResult, changes: number): string {
  const sorted = [...r.visibleMs].sort((x, y) => x - y);
  const c = r.counts;
  const total = c.keepalive + c.fresh + c.upload + c.download;
  return (
    `${changes} changes (${JSON.stringify(r.kinds)}), ${r.refused} refused; visible after p50 ${quantile(sorted, 0.5).toFixed(1)} ms, ` +
    `p95 ${quantile(sorted, 0.95).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms; ` +
    `${total} proxied requests ${JSON.stringify(c)}, ${r.failures.length} failed`
  );
}
