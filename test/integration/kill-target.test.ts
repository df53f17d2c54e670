/**
 * Steady load through three targets, one of which is killed mid-run (its listener closed and every
 * connection reset): with retries on, no idempotent request fails; with retries off, the failures
 * are the requests that were in flight on the dead target. Then the target comes back, passes its
 * active checks and takes traffic again (ramping, with slow start). Figures are printed as test
 * diagnostics (`node scripts/run-tests.js kill-target`).
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { type FaultyUpstream, startFaultyUpstream, waitFor } from '../helpers/faulty-upstream.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';

const started: { f: TestNode | null; ups: FaultyUpstream[]; agent: Agent | null } = {
  f: null,
  ups: [],
  agent: null,
};

afterEach(async () => {
  await started.agent?.close();
  started.agent = null;
  await started.f?.stop();
  started.f = null;
  for (const u of started.ups.splice(0)) await u.close();
});

async function rig(retries: number): Promise<TestNode> {
  for (const n of ['a', 'b', 'c']) {
    const u = await startFaultyUpstream(n);
    u.delayMs = 20;
    started.ups.push(u);
  }
  started.f = await startFulcrum(`
services:
  - name: s
    host: u
    retries: ${retries}
    routes: [{ paths: ["/"] }]
upstreams:
  - name: u
    slow_start: 0.5
    healthchecks:
      active:
        type: tcp
        timeout: 0.5
        healthy: { interval: 0.1, successes: 1 }
        unhealthy: { interval: 0.1, tcp_failures: 1 }
      passive:
        unhealthy: { tcp_failures: 1, timeouts: 1 }
        base_ejection_time: 30
      threshold: 0
    targets:
${started.ups.map((u) => `      - target: ${u.target}\n`).join('')}`);
  started.agent = new Agent({ connections: 8 });
  return started.f;
}

interface Run {
  ok: number;
  failed: number;
  byTarget: Record<string, number>;
}

/** 8 concurrent GET loops until `stop()` returns true (at most 20 s). */
async function load(f: TestNode, stop: () => boolean): Promise<Run> {
  const run: Run = { ok: 0, failed: 0, byTarget: {} };
  const deadline = performance.now() + 20_000;
  const worker = async () => {
    while (!stop() && performance.now() < deadline) {
      try {
        const r = await request(`${f.url}/x`, { dispatcher: started.agent! });
        const body = await r.body.text();
        if (r.statusCode === 200) {
          run.ok++;
          run.byTarget[body] = (run.byTarget[body] ?? 0) + 1;
        } else run.failed++;
      } catch {
        run.failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return run;
}

async function killUnderLoad(f: TestNode) {
  const c = started.ups[2]!;
  const state = f.node.runtime.live.targets.get(`u/${c.target}`)!;
  let phase: 'before' | 'after' | 'done' = 'before';
  const running = load(f, () => phase === 'done');
  await waitFor(() => c.counts.requests >= 30, 'c serving traffic');
  const inflightAtDeath = state.inflight;
  const killedAt = performance.now();
  await c.set('refuse');
  phase = 'after';
  await waitFor(() => state.health === 'unhealthy', 'c ejected', 5000, 1);
  const ejectMs = performance.now() - killedAt;
  const servedAfterEjection = c.counts.requests;
  await new Promise((r) => setTimeout(r, 300));
  phase = 'done';
  const run = await running;
  return { run, inflightAtDeath, ejectMs, c, state, servedAfterEjection };
}

describe('killing one of three targets under steady load', () => {
  it('with retries on: no failed request, the dead target ejected at once; it returns and ramps', async (t) => {
    const f = await rig(2);
    const k = await killUnderLoad(f);
    t.diagnostic(
      `retries on: ${k.run.ok} ok, ${k.run.failed} failed, ${k.inflightAtDeath} in flight on c at death, ejected after ${k.ejectMs.toFixed(1)} ms; by target ${JSON.stringify(k.run.byTarget)}`,
    );
    assert.equal(k.run.failed, 0);
    assert.ok(k.ejectMs < 1000, `ejected after ${k.ejectMs.toFixed(0)} ms`);
    assert.equal(k.c.counts.requests, k.servedAfterEjection, 'no request reached c once dead');

    // Recovery: c listens again, passes an active check, and takes a ramping share of traffic.
    await k.c.set('ok');
    await waitFor(() => k.state.health === 'healthy', 'c healthy again', 3000);
    assert.ok(k.state.effectiveWeight < k.state.weight, 'c ramps back (slow start)');
    const before = k.c.counts.requests;
    let phase = false;
    const again = load(f, () => phase);
    await waitFor(() => k.c.counts.requests > before + 20, 'c serving again', 5000);
    phase = true;
    const run = await again;
    t.diagnostic(`after recovery: ${JSON.stringify(run.byTarget)}`);
    assert.equal(run.failed, 0);
  });

  it('with retries off: the failures are the requests in flight on the dead target', async (t) => {
    const f = await rig(0);
    const k = await killUnderLoad(f);
    t.diagnostic(
      `retries off: ${k.run.ok} ok, ${k.run.failed} failed, ${k.inflightAtDeath} in flight on c at death, ejected after ${k.ejectMs.toFixed(1)} ms`,
    );
    assert.ok(k.run.failed >= 1, 'the requests held by c failed');
    // A request dispatched to c between its death and the first failure report can fail too.
    assert.ok(
      k.run.failed <= k.inflightAtDeath + 2,
      `${k.run.failed} failures for ${k.inflightAtDeath} in flight at death`,
    );
  });
});
