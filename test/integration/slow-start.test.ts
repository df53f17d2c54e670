import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

describe('slow start through a running proxy', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let f: TestNode;
  let agent: Agent;
  const config = (targets: TestUpstream[]) => `
services:
  - name: s
    host: u
    routes: [{ paths: ["/"] }]
upstreams:
  - name: u
    algorithm: round-robin
    slow_start: 1
    targets:
${targets.map((t) => `      - target: ${t.target}\n`).join('')}`;

  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    f = await startFulcrum(config([a]));
    agent = new Agent({ connections: 4 });
  });
  after(async () => {
    await agent.close();
    await f.stop();
    await a.close();
    await b.close();
  });

  /** `count` requests to `/` (4 at a time), stopping early at `untilMs` (performance.now). */
  async function share(count: number, untilMs: number): Promise<{ b: number; total: number }> {
    let total = 0;
    let onB = 0;
    const worker = async () => {
      while (performance.now() < untilMs && total < count) {
        total++;
        const r = await request(`${f.url}/`, { dispatcher: agent });
        if ((await r.body.text()) === 'b') onB++;
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    return { b: onB / total, total };
  }

  it('a target added by a reload starts near 10% of its share and reaches its full share after slow_start', async (t) => {
    const warm = await share(20, performance.now() + 2000);
    assert.equal(warm.b, 0, 'b is not a target yet');
    f.write(config([a, b]));
    const reloaded = await f.node.reload();
    assert.ok(reloaded.ok);
    const t0 = performance.now();
    const state = f.node.runtime.live.targets.get(`u/${b.target}`)!;
    assert.ok(Math.abs(state.effectiveWeight / state.weight - 0.1) < 0.01, 'b starts at 10% of its weight');
    // The first 60 requests: b weighs 10% of a until the first tick (250 ms), a little more after,
    // so it gets about 1/11 of them; counted, not timed, so a loaded machine cannot starve the window.
    const early = await share(60, t0 + 5000);
    const earlyMs = performance.now() - t0;
    // Past the 1 s window (and a tick), both weigh the same: half each.
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 1300 - performance.now())));
    for (let i = 0; i < 60 && state.effectiveWeight < state.weight; i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.equal(state.effectiveWeight, state.weight, 'b at full weight after slow_start');
    const late = await share(400, performance.now() + 5000);
    t.diagnostic(
      `b's share: early ${early.b.toFixed(3)} (${early.total} in ${earlyMs.toFixed(0)} ms), late ${late.b.toFixed(3)} (${late.total})`,
    );
    assert.equal(early.total, 60);
    assert.ok(earlyMs < 1000 ? early.b < 0.25 : early.b < 0.5, `early share ${early.b} should be about 0.09`);
    assert.ok(Math.abs(late.b - 0.5) < 0.08, `late share ${late.b} should be about 0.5`);
  });
});
