/**
 * Passive outlier detection through a running proxy, against real servers on 127.0.0.1:
 * success-rate ejection of the one target in five that fails 30 % of its requests, and
 * max_ejection_percent holding back the ejection of a second failing target.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';

interface Rig {
  f: TestNode;
  targets: string[];
  served: number[];
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** `n` servers; server i answers 500 when `fails(i, k)` for its k-th request, else 200. */
async function rig(n: number, fails: (i: number, k: number) => boolean, passive: string): Promise<Rig> {
  const targets: string[] = [];
  const served: number[] = [];
  for (let i = 0; i < n; i++) {
    served.push(0);
    const server: Server = createServer((_req, res) => {
      const k = served[i]!++;
      res.statusCode = fails(i, k) ? 500 : 200;
      res.end(String(i));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    );
    targets.push(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  }
  const f = await startFulcrum(`
services:
  - name: s
    host: u
    retry_policy: { retry_on: [connect-failure] }
    routes: [{ paths: ["/"] }]
upstreams:
  - name: u
    healthchecks:
      threshold: 0
      passive:
${passive}    targets:
${targets.map((t) => `      - target: ${t}\n`).join('')}`);
  cleanup.push(() => f.stop());
  return { f, targets, served };
}

const health = (r: Rig) => r.targets.map((t) => r.f.node.runtime.live.targets.get(`u/${t}`)!.health);

/** Send GETs one after the other until `done()` or `max` requests; the statuses. */
async function sendUntil(r: Rig, done: () => boolean, max: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < max && !done(); i++) {
    const res = await request(`${r.f.url}/`);
    await res.body.text();
    statuses.push(res.statusCode);
  }
  return statuses;
}

describe('passive success-rate ejection', () => {
  it('ejects the one target of five failing 30 % of requests; the others stay', async () => {
    // Target 4 fails requests 0, 3, 6 of every 10: 30 %.
    const r = await rig(
      5,
      (i, k) => i === 4 && [0, 3, 6].includes(k % 10),
      `        success_rate: { interval: 0.2, minimum_hosts: 5, request_volume: 10, stdev_factor: 1900 }
        base_ejection_time: 30
`,
    );
    const statuses = await sendUntil(r, () => health(r)[4] === 'unhealthy', 3000);
    assert.deepEqual(
      health(r),
      ['healthy', 'healthy', 'healthy', 'healthy', 'unhealthy'],
      `after ${statuses.length} requests`,
    );
    assert.ok(r.served[4]! >= 10, 'judged on at least request_volume requests');
    const before = r.served[4]!;
    const after = await sendUntil(r, () => false, 40);
    assert.deepEqual([...new Set(after)], [200], 'the others answer everything');
    assert.equal(r.served[4], before, 'the ejected target gets no traffic');
    assert.deepEqual(health(r).slice(0, 4), ['healthy', 'healthy', 'healthy', 'healthy']);
    const status = (await (await request(`${r.f.adminUrl}/status`)).body.json()) as {
      upstreams: { name: string; targets: { ejections: number }[] }[];
    };
    assert.equal(status.upstreams.find((u) => u.name === 'u')!.targets[4]!.ejections, 1);
  });
});

describe('passive max_ejection_percent', () => {
  it('holds back an ejection once that share of the targets is out, and says so in metrics', async () => {
    // Targets 3 and 4 always fail; with max_ejection_percent 20, only the first to fail twice goes.
    const r = await rig(
      5,
      (i) => i >= 3,
      `        unhealthy: { http_failures: 2 }
        max_ejection_percent: 20
`,
    );
    await sendUntil(r, () => false, 30);
    const h = health(r);
    assert.equal(h.filter((x) => x === 'unhealthy').length, 1, JSON.stringify(h));
    assert.deepEqual(h.slice(0, 3), ['healthy', 'healthy', 'healthy']);
    const m = await (await request(`${r.f.adminUrl}/metrics`)).body.text();
    assert.match(m, /fulcrum_health_ejections_overflow_total\{upstream="u"\} [1-9]/);
  });
});
