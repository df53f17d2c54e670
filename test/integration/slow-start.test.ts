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

  /** Requests to `/` (4 at a time) from now until `untilMs` (performance.now), at most 5,000. */
  async function share(untilMs: number): Promise<{ b: number; total: number }> {
    let total = 0;
    let onB = 0;
    const worker = async () => {
      while (performance.now() < untilMs && total < 5000) {
        total++;
        const r = await request(`${f.url}/`, { dispatcher: agent });
        if ((await r.body.text()) === 'b') onB++;
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    return { b: onB / total, total };
  }

  it('a target added by a reload starts near 10% of its share and reaches its full share after slow_start', async (t) => {
    const warm = await share(performance.now() + 50);
    assert.equal(warm.b, 0, 'b is not a target yet');
    f.write(config([a, b]));
    const reloaded = await f.node.reload();
    assert.ok(reloaded.ok);
    const t0 = performance.now();
    // 0-200 ms: b's weight is 10% of a's until the first tick (250 ms): about 1/11 of requests.
    const early = await share(t0 + 200);
    // Past the 1 s window (and a tick), both weigh the same: half each.
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 1300 - performance.now())));
    const late = await share(performance.now() + 300);
    t.diagnostic(
      `b's share: early ${early.b.toFixed(3)} (${early.total}), late ${late.b.toFixed(3)} (${late.total})`,
    );
    assert.ok(early.total >= 20 && late.total >= 20, 'enough requests in each window');
    assert.ok(early.b > 0 && early.b < 0.2, `early share ${early.b} should be about 0.09`);
    assert.ok(Math.abs(late.b - 0.5) < 0.05, `late share ${late.b} should be about 0.5`);
  });
});
