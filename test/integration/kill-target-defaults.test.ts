/**
 * Issue 12: with Fulcrum's defaults (no health checks, Kong's `retries` of 5), killing one of three
 * targets for real (`kill -9` of its process) under 16 concurrent keep-alive clients loses no GET,
 * as nginx (`proxy_next_upstream error`) and Kong (`retries`) lose none. The burst of resets and
 * refused connections one dead target causes must not be cut short by the retry budget.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { type ProcessUpstream, startProcessUpstream } from '../helpers/process-upstream.ts';

describe('kill -9 of one of three targets under load, default settings', () => {
  const ups: ProcessUpstream[] = [];
  let f: TestNode | null = null;
  const agent = new Agent({ connections: 16 });
  after(async () => {
    await agent.close();
    await f?.stop();
    for (const u of ups) await u.kill();
  });

  it('fails no GET', async (t) => {
    for (const n of ['a', 'b', 'c']) ups.push(await startProcessUpstream(n, 5));
    f = await startFulcrum(`
services:
  - name: s
    host: u
    routes: [{ paths: ["/"] }]
upstreams:
  - name: u
    targets:
${ups.map((u) => `      - target: ${u.target}\n`).join('')}`);
    const url = `${f.url}/x`;
    let ok = 0;
    const failures: string[] = [];
    let stop = false;
    const worker = async () => {
      while (!stop) {
        try {
          const r = await request(url, { dispatcher: agent });
          const body = await r.body.text();
          if (r.statusCode === 200) ok++;
          else failures.push(`${r.statusCode} ${body}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
    };
    const workers = Promise.all(Array.from({ length: 16 }, worker));
    const victim = ups[2]!;
    // Let every client hold keep-alive connections through all three targets, then kill one.
    while (victim.served() < 200) await new Promise((r) => setTimeout(r, 10));
    await victim.kill();
    const okAtKill = ok;
    // Keep the load on until the survivors have served plenty more.
    while (ok < okAtKill + 2000 && failures.length < 100) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await workers;
    t.diagnostic(`${ok} ok, ${failures.length} failed: ${failures.slice(0, 5).join(', ')}`);
    assert.deepEqual(failures, []);
  });
});
