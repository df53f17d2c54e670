import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { type Handler, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const reporting =
  (name: string, load: string): Handler =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-backend-load': load });
    res.end(name);
  };

describe('resource balancing through a running proxy', () => {
  const ups: TestUpstream[] = [];
  let f: TestNode;
  let agent: Agent;
  before(async () => {
    ups.push(await startUpstream('busy', reporting('busy', '0.9')));
    ups.push(await startUpstream('idle1', reporting('idle1', '10%')));
    ups.push(await startUpstream('idle2', reporting('idle2', '0.1')));
    f = await startFulcrum(`
services:
  - name: s
    host: u
    routes: [{ paths: ["/"] }]
  - name: rr
    host: rr
    routes: [{ paths: ["/rr"] }]
upstreams:
  - name: u
    algorithm: resource
    load_header: X-Backend-Load
    targets:
${ups.map((u) => `      - target: ${u.target}\n`).join('')}  - name: rr
    algorithm: round-robin
    targets:
${ups.map((u) => `      - target: ${u.target}\n`).join('')}`);
    agent = new Agent({ connections: 4 });
  });
  after(async () => {
    await agent.close();
    await f.stop();
    for (const u of ups) await u.close();
  });

  async function busyShare(path: string, n: number): Promise<number> {
    let busy = 0;
    for (let i = 0; i < n; i++) {
      const r = await request(`${f.url}${path}`, { dispatcher: agent });
      if ((await r.body.text()) === 'busy') busy++;
    }
    return busy / n;
  }

  it('sends a target that reports high load measurably less traffic than round robin does', async (t) => {
    const rr = await busyShare('/rr', 300);
    const res = await busyShare('/', 400);
    t.diagnostic(`busy target's share: round-robin ${rr.toFixed(3)}, resource ${res.toFixed(3)}`);
    assert.ok(Math.abs(rr - 1 / 3) < 0.01, `round robin: ${rr}`);
    // Weights 0.1 : 0.9 : 0.9 once each target has reported: about 5%.
    assert.ok(res < 0.12, `resource: ${res}`);
    const reported = f.node.runtime.live.targets.get(`u/${ups[0]!.target}`)!;
    assert.equal(reported.reportedLoad, 0.9);
    const status = (await (await request(`${f.adminUrl}/status`)).body.json()) as {
      upstreams: { name: string; targets: { target: string; load: number | null }[] }[];
    };
    const loads = status.upstreams.find((u) => u.name === 'u')!.targets.map((x) => x.load);
    assert.deepEqual(loads, [0.9, 0.1, 0.1], 'the admin status shows the reported loads');
    assert.equal(
      f.node.runtime.live.targets.get(`rr/${ups[0]!.target}`)!.reportedLoad,
      -1,
      'only resource upstreams read reports',
    );
  });
});
