/**
 * Manual target control through the admin API: Kong's `PUT /upstreams/{u}/targets/{t}/healthy` and
 * `…/unhealthy`, and Fulcrum's `…/draining` (in-flight requests finish, no new ones).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { request } from 'undici';
import { serviceOverUpstream } from '../helpers/config.ts';
import { type FaultyUpstream, startFaultyUpstream, waitFor } from '../helpers/faulty-upstream.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';

const started: { f: TestNode | null; ups: FaultyUpstream[] } = { f: null, ups: [] };

afterEach(async () => {
  await started.f?.stop();
  started.f = null;
  for (const u of started.ups.splice(0)) await u.close();
});

async function rig(healthchecks: string): Promise<TestNode> {
  for (const n of ['a', 'b']) started.ups.push(await startFaultyUpstream(n));
  started.f = await startFulcrum(
    serviceOverUpstream(
      started.ups.map((u) => u.target),
      { upstream: healthchecks },
    ),
  );
  return started.f;
}

async function who(f: TestNode, n: number): Promise<Record<string, number>> {
  const by: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await request(`${f.url}/x`);
    const body = await r.body.text();
    by[body] = (by[body] ?? 0) + 1;
  }
  return by;
}

async function put(f: TestNode, path: string, method: 'PUT' | 'POST' = 'PUT'): Promise<number> {
  const r = await request(`${f.adminUrl}${path}`, { method });
  await r.body.text();
  return r.statusCode;
}

async function healthOf(f: TestNode): Promise<Record<string, string>> {
  const r = await request(`${f.adminUrl}/upstreams/u/health`);
  const body = (await r.body.json()) as { data: { target: string; health: string }[] };
  return Object.fromEntries(body.data.map((t) => [t.target, t.health]));
}

describe('manual target state (admin API)', () => {
  it('marks a target unhealthy and healthy again, without health checks', async () => {
    const f = await rig('');
    const [a, b] = started.ups as [FaultyUpstream, FaultyUpstream];
    assert.equal(await put(f, `/upstreams/u/targets/${b.target}/unhealthy`), 204);
    assert.deepEqual(await who(f, 6), { a: 6 });
    assert.equal((await healthOf(f))[b.target], 'UNHEALTHY');
    assert.equal((await healthOf(f))[a.target], 'HEALTHCHECKS_OFF');
    assert.equal(
      await put(f, `/upstreams/u/targets/${b.target}/healthy`, 'POST'),
      204,
      'POST, as older Kong',
    );
    assert.deepEqual(await who(f, 6), { a: 3, b: 3 });
  });

  it('survives a reload that keeps the target, and answers 404 for unknown ones', async () => {
    const f = await rig('');
    const [, b] = started.ups as [FaultyUpstream, FaultyUpstream];
    assert.equal(await put(f, `/upstreams/u/targets/${b.target}/unhealthy`), 204);
    assert.equal((await f.node.reload()).ok, true);
    assert.deepEqual(await who(f, 4), { a: 4 });
    assert.equal(await put(f, '/upstreams/u/targets/127.0.0.1:1/healthy'), 404);
    assert.equal(await put(f, `/upstreams/nope/targets/${b.target}/healthy`), 404);
  });

  it('with active checks: a manual unhealthy is undone by passing probes', async () => {
    const f = await rig(`    healthchecks:
      active:
        http_path: /health
        healthy: { interval: 0.05, successes: 2 }
        unhealthy: { interval: 0.05, http_failures: 1 }
`);
    const [, b] = started.ups as [FaultyUpstream, FaultyUpstream];
    const t = f.node.runtime.live.targets.get(`u/${b.target}`)!;
    assert.equal(await put(f, `/upstreams/u/targets/${b.target}/unhealthy`), 204);
    assert.equal(t.healthy, false);
    await waitFor(() => t.health === 'healthy', 'probes bring b back', 3000);
    assert.equal(t.healthy, true);
  });

  it('draining: in-flight requests finish, new ones go elsewhere, even in panic; healthy ends it', async () => {
    const f = await rig(
      '    healthchecks: { threshold: 100, passive: { unhealthy: { http_failures: 5 } } }\n',
    );
    const [a, b] = started.ups as [FaultyUpstream, FaultyUpstream];
    b.delayMs = 300;
    a.delayMs = 300;
    const inflight = [request(`${f.url}/x`), request(`${f.url}/x`)];
    await waitFor(() => b.concurrency.now === 1, 'a request held by b');
    assert.equal(await put(f, `/upstreams/u/targets/${b.target}/draining`), 204);
    assert.equal((await healthOf(f))[b.target], 'DRAINING');
    const bodies = await Promise.all(inflight.map(async (p) => (await (await p).body.text()).trim()));
    assert.deepEqual(bodies.sort(), ['a', 'b'], 'the request on b finished');
    b.delayMs = 0;
    a.delayMs = 0;
    assert.deepEqual(await who(f, 6), { a: 6 }, 'no new request to a draining target');
    // a unhealthy too: below the 100% threshold the upstream panics and sends to every target,
    // but not to the draining one.
    assert.equal(await put(f, `/upstreams/u/targets/${a.target}/unhealthy`), 204);
    assert.equal(f.node.runtime.health.get('u')!.panic, true);
    assert.deepEqual(await who(f, 4), { a: 4 }, 'panic does not undo draining');
    assert.equal(await put(f, `/upstreams/u/targets/${a.target}/healthy`), 204);
    assert.equal(await put(f, `/upstreams/u/targets/${b.target}/healthy`), 204);
    assert.deepEqual(await who(f, 6), { a: 3, b: 3 });
  });
});
