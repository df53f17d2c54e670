import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { ManualClock } from '../../src/core/clock.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

describe('slow start through a running proxy', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let f: TestNode;
  let agent: Agent;
  const clock = new ManualClock(1_000_000);
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
    f = await startFulcrum(config([a]), { clock });
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
    const warm = await share(20, performance.now() + 5000);
    assert.equal(warm.b, 0, 'b is not a target yet');
    f.write(config([a, b]));
    const reloaded = await f.node.reload();
    assert.ok(reloaded.ok);
    const state = f.node.runtime.live.targets.get(`u/${b.target}`)!;
    // The node runs on a manual clock: the ramp moves only when the test moves time, so a loaded
    // machine (slow requests, late timers) cannot blur the windows.
    assert.ok(Math.abs(state.effectiveWeight / state.weight - 0.1) < 0.01, 'b starts at 10% of its weight');
    const early = await share(220, performance.now() + 20_000);
    clock.advance(500);
    f.node.runtime.live.slowStart.tick();
    assert.ok(
      Math.abs(state.effectiveWeight / state.weight - 0.5) < 0.01,
      'halfway: 50% of its weight (Envoy: max(min, elapsed / window))',
    );
    const half = await share(220, performance.now() + 20_000);
    clock.advance(600);
    f.node.runtime.live.slowStart.tick();
    assert.equal(state.effectiveWeight, state.weight, 'b at full weight after slow_start');
    const late = await share(400, performance.now() + 20_000);
    t.diagnostic(
      `b's share: at 10% ${early.b.toFixed(3)} (${early.total}), at 50% ${half.b.toFixed(3)}, at 100% ${late.b.toFixed(3)} (${late.total})`,
    );
    assert.equal(early.total, 220);
    // Weights 100 : 10 → 1/11 ≈ 0.091; 100 : 50 → 1/3; equal → 0.5 (smooth round-robin is exact).
    assert.ok(Math.abs(early.b - 1 / 11) < 0.03, `early share ${early.b} should be about 0.09`);
    assert.ok(Math.abs(half.b - 1 / 3) < 0.03, `half-way share ${half.b} should be about 0.33`);
    assert.ok(Math.abs(late.b - 0.5) < 0.03, `late share ${late.b} should be about 0.5`);
  });
});
