/**
 * A node that joins a cluster gets the verdicts in force (src/cluster/verdicts.ts), not only the
 * events published after it subscribed: node A marks a target down by its probes and two more by
 * its admin API (unhealthy, draining); node B, with two workers, starts afterwards and sends none of
 * its requests to them, from its first one. Real nodes (child processes), one real Redis.
 *
 * A target removed from the configuration leaves the recorded verdicts (every node deletes its
 * entry as it applies the change), so one added again later is not held down by an old verdict.
 *
 * Nothing probes the downed targets once B is up: the probed one is on an ejection timer (no
 * unhealthy loop: `unhealthy.interval: 0`) and now answers its health check, so B would take it as
 * healthy (and keep it so with its own probes) had it not read the verdict; the others have no
 * checks at all.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { admin } from '../../helpers/admin.ts';
import { type ChildFulcrum, spawnFulcrum, writeConfig } from '../../helpers/child.ts';
import { until } from '../../helpers/follow.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';
import { getFresh } from '../../helpers/workers.ts';

interface Status {
  upstreams: { name: string; targets: { target: string; health: string; draining: boolean }[] }[];
}

describe("a node that joins gets the cluster's verdicts in force", { timeout: 90_000 }, () => {
  let redis: TestRedis;
  let a: ChildFulcrum;
  let b: ChildFulcrum;
  /** What bad's /health answers. */
  let badHealth = 500;
  let bad: TestUpstream;
  let good: TestUpstream;
  let down: TestUpstream;
  let drained: TestUpstream;
  let fine: TestUpstream;

  before(async () => {
    redis = await startRedis();
    bad = await startUpstream('bad', (req, res) => {
      res.writeHead(req.url === '/health' ? badHealth : 200);
      res.end('bad');
    });
    good = await startUpstream('good');
    down = await startUpstream('down');
    drained = await startUpstream('drained');
    fine = await startUpstream('fine');
    const body = `cluster:
  redis: ${redis.url}
  timeout: 500
upstreams:
  - name: u
    algorithm: round-robin
    healthchecks:
      active:
        http_path: /health
        healthy: { interval: 0.2, successes: 1 }
        unhealthy: { interval: 0, http_failures: 1 }
      passive:
        base_ejection_time: 60
    targets:
      - target: ${bad.target}
      - target: ${good.target}
  - name: m
    algorithm: round-robin
    targets:
      - target: ${down.target}
      - target: ${drained.target}
      - target: ${fine.target}
services:
  - name: s
    host: u
    routes: [{ name: r, paths: ["/u"] }]
  - name: sm
    host: m
    routes: [{ name: rm, paths: ["/m"] }]
`;
    a = await spawnFulcrum(writeConfig(body), { startTimeoutMs: 20_000 });
    const adminA = `http://127.0.0.1:${a.adminPort}`;
    // A's probes find bad failing; then bad answers again, but nothing probes an ejected target.
    await until(async () => {
      const s = (await admin(adminA, 'GET', '/status')).body as Status;
      return s.upstreams.find((u) => u.name === 'u')!.targets.some((t) => t.health === 'unhealthy');
    });
    badHealth = 200;
    assert.equal((await admin(adminA, 'PUT', `/upstreams/m/targets/${down.target}/unhealthy`)).status, 204);
    assert.equal((await admin(adminA, 'PUT', `/upstreams/m/targets/${drained.target}/draining`)).status, 204);
    b = await spawnFulcrum(writeConfig(`workers: 2\n${body}`), { startTimeoutMs: 30_000 });
  });

  after(async () => {
    await b?.stop();
    await a?.stop();
    await redis?.stop();
    for (const u of [bad, good, down, drained, fine]) await u?.close();
  });

  it('sends none of its first requests to a target another node marked down', async () => {
    // Each on a connection of its own: both workers serve some.
    const bodies = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        getFresh(`${b.url}${i % 2 === 0 ? '/u' : '/m'}`).then((r) => r.body),
      ),
    );
    assert.deepEqual(
      bodies.filter((x) => x !== 'good' && x !== 'fine'),
      [],
      `bodies: ${bodies.join(' ')}; B: ${JSON.stringify(b.logs.filter((l) => /health|verdict|started/.test(String(l.msg))).map((l) => [l.time, l.msg, l.verdicts]))}`,
    );
    const s = (await admin(`http://127.0.0.1:${b.adminPort}`, 'GET', '/status')).body as Status;
    const state = (u: string, t: TestUpstream) =>
      s.upstreams.find((x) => x.name === u)!.targets.find((x) => x.target === t.target)!;
    assert.equal(state('u', bad).health, 'unhealthy');
    assert.equal(state('m', down).health, 'unhealthy');
    assert.equal(state('m', drained).draining, true);
    await b.waitForLog((l) => String(l.msg).includes("applied the cluster's verdicts in force"), 1000);
  });

  it('keeps in Redis only the targets out of their default state, with source, node and time', async () => {
    const peek = new Redis(redis.port, '127.0.0.1', { lazyConnect: true });
    await peek.connect();
    const hash = await peek.hgetall('fulcrum:health:verdicts');
    peek.disconnect();
    const entries = Object.entries(hash).map(([k, v]) => ({
      key: JSON.parse(k) as string[],
      ...JSON.parse(v),
    }));
    const of = (t: TestUpstream) => entries.find((e) => e.key[1] === t.target);
    assert.equal(entries.length, 3, JSON.stringify(hash));
    assert.equal(of(bad)?.source, 'active');
    assert.ok(of(bad)?.until > of(bad)?.at, 'an ejection on a timer says when it ends');
    assert.deepEqual([of(down)?.source, of(down)?.health], ['admin', 'unhealthy']);
    assert.deepEqual([of(drained)?.source, of(drained)?.draining], ['admin', true]);
    assert.ok(typeof of(down)?.node === 'string' && of(down)?.node.length > 0);
  });

  it('drops the verdict of a target removed from the configuration; re-added, it starts healthy', async () => {
    const adminA = `http://127.0.0.1:${a.adminPort}`;
    const adminB = `http://127.0.0.1:${b.adminPort}`;
    const peek = new Redis(redis.port, '127.0.0.1');
    const field = JSON.stringify(['m', down.target]);
    const targetsOf = async (base: string) =>
      ((await admin(base, 'GET', '/status')).body as Status).upstreams
        .find((u) => u.name === 'm')!
        .targets.map((t) => t.target);
    try {
      assert.ok((await peek.hget('fulcrum:health:verdicts', field)) !== null, 'the verdict is recorded');
      const del = await admin(adminA, 'DELETE', `/upstreams/m/targets/${down.target}`);
      assert.equal(del.status, 204, del.text);
      await until(async () => !(await targetsOf(adminB)).includes(down.target));
      await until(async () => (await peek.hget('fulcrum:health:verdicts', field)) === null);
      // Back in the configuration: nothing recorded holds it down, so a node that joins (or
      // reads the verdicts again) finds it in its default state; B serves it.
      const add = await admin(adminA, 'POST', '/upstreams/m/targets', { target: down.target });
      assert.equal(add.status, 201, add.text);
      await until(async () => (await targetsOf(adminB)).includes(down.target));
      assert.equal(await peek.hget('fulcrum:health:verdicts', field), null);
      const s = (await admin(adminB, 'GET', '/status')).body as Status;
      const t = s.upstreams.find((u) => u.name === 'm')!.targets.find((x) => x.target === down.target)!;
      assert.equal(t.health, 'healthy');
    } finally {
      peek.disconnect();
    }
  });
});
