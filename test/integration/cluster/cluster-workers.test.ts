/**
 * A node with `workers: 2` in a cluster of two nodes (child processes, one real Redis, the
 * cluster's keys under `prefix: fw`): its primary probes only the targets whose lease it holds
 * and its workers learn the verdicts of probes made by the other node; a passive ejection decided
 * by the other node's traffic takes the target out of its workers too; every key is under the
 * prefix; with Redis killed, a `policy: redis` limit falls back to the node's share (the limit / 2
 * live nodes), counted by the primary exactly across its two workers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { admin } from '../../helpers/admin.ts';
import { type ChildFulcrum, spawnFulcrum, writeConfig } from '../../helpers/child.ts';
import { until } from '../../helpers/follow.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';
import { getFresh, requestsByWorker } from '../../helpers/workers.ts';

const LIMIT = 20;

describe('a node with workers in a cluster', { timeout: 90_000 }, () => {
  let redis: TestRedis;
  let good: TestUpstream;
  let bad: TestUpstream;
  /** Answers 500 to proxied requests (passive checks only): how many each got. */
  let failing: TestUpstream;
  let fine: TestUpstream;
  const hits = { failing: 0, fine: 0 };
  let withWorkers: ChildFulcrum;
  let plain: ChildFulcrum;

  before(async () => {
    redis = await startRedis();
    good = await startUpstream('good');
    bad = await startUpstream('bad', (req, res) => {
      res.writeHead(req.url === '/health' ? 500 : 200);
      res.end('bad');
    });
    failing = await startUpstream('failing', (_req, res) => {
      hits.failing++;
      res.writeHead(500);
      res.end('failing');
    });
    fine = await startUpstream('fine', (_req, res) => {
      hits.fine++;
      res.writeHead(200);
      res.end('fine');
    });
    const body = `cluster:
  redis: ${redis.url}
  prefix: fw
  timeout: 200
upstreams:
  - name: p
    healthchecks:
      passive:
        unhealthy: { http_failures: 1 }
    targets:
      - target: ${failing.target}
      - target: ${fine.target}
  - name: u
    healthchecks:
      active:
        http_path: /health
        healthy: { interval: 0.2, successes: 1 }
        unhealthy: { interval: 0.2, http_failures: 1 }
    targets:
      - target: ${good.target}
      - target: ${bad.target}
services:
  - name: passive
    host: p
    routes: [{ name: p, paths: ["/p"] }]
  - name: s
    host: u
    routes:
      - name: r
        paths: ["/"]
      - name: limited
        paths: ["/limited"]
        plugins:
          - name: rate-limiting
            config: { hour: ${LIMIT}, policy: redis, limit_by: ip, redis_timeout: 200 }
`;
    plain = await spawnFulcrum(writeConfig(body), { startTimeoutMs: 20_000 });
    withWorkers = await spawnFulcrum(writeConfig(`workers: 2\n${body}`), { startTimeoutMs: 30_000 });
    await until(async () => {
      const s = (await admin(`http://127.0.0.1:${withWorkers.adminPort}`, 'GET', '/status')).body;
      return s.cluster.nodes.length === 2;
    });
  });

  after(async () => {
    await withWorkers?.stop();
    await plain?.stop();
    await redis?.stop();
    await good?.close();
    await bad?.close();
    await failing?.close();
    await fine?.close();
  });

  it("takes a target out of both workers' rotation, whichever node probes it", async () => {
    // Both nodes together probe each target; the workers serve only the good one.
    await until(async () => {
      const answers = await Promise.all(Array.from({ length: 10 }, () => getFresh(`${withWorkers.url}/`)));
      return answers.every((r) => r.body === 'good');
    });
    const byWorker = await requestsByWorker(withWorkers.adminPort);
    assert.equal(byWorker.size, 2);
    const leases = await Promise.all(
      [withWorkers, plain].map(
        async (n) =>
          (await admin(`http://127.0.0.1:${n.adminPort}`, 'GET', '/status')).body.cluster.health
            .leases as number,
      ),
    );
    // One lease per target and loop, over the two nodes.
    assert.equal(
      leases.reduce((a, b) => a + b, 0),
      2,
      `leases: ${leases}`,
    );
  });

  it("ejects a target on every node when one node's traffic fails on it", async () => {
    // Round robin on the plain node: the failing target answers 500 once and is ejected there.
    for (let i = 0; i < 2; i++) await getFresh(`${plain.url}/p`);
    assert.equal(hits.failing, 1);
    await until(async () => {
      const s = (await admin(`http://127.0.0.1:${withWorkers.adminPort}`, 'GET', '/status')).body;
      const p = s.upstreams.find((u: { name: string }) => u.name === 'p');
      return p.targets.find((t: { target: string }) => t.target === failing.target).health === 'unhealthy';
    });
    // The workers of the other node never send it a request.
    for (let i = 0; i < 10; i++) assert.equal((await getFresh(`${withWorkers.url}/p`)).body, 'fine');
    assert.equal(hits.failing, 1);
  });

  it('keeps every key under the cluster prefix', async () => {
    // One request counted in Redis (a rate-limit window key), within the limit the next test uses.
    assert.equal((await getFresh(`${plain.url}/limited`)).status, 200);
    const peek = new Redis(redis.port, '127.0.0.1', { lazyConnect: true });
    await peek.connect();
    const keys = await peek.keys('*');
    peek.disconnect();
    assert.ok(keys.length > 0);
    assert.deepEqual(
      keys.filter((k) => !k.startsWith('fw:')),
      [],
    );
    for (const k of ['fw:config', 'fw:config:log', 'fw:nodes']) assert.ok(keys.includes(k), k);
    assert.ok(keys.some((k) => k.startsWith('fw:hc:u:')));
    assert.ok(
      keys.some((k) => k.startsWith('fw:rl:')),
      keys.join(' '),
    );
  });

  it('falls back to its share of a limit with Redis away, exact across its workers', async () => {
    await redis.kill();
    await until(
      async () =>
        !(await admin(`http://127.0.0.1:${withWorkers.adminPort}`, 'GET', '/status')).body.database.reachable,
    );
    const statuses = await Promise.all(
      Array.from({ length: LIMIT }, () => getFresh(`${withWorkers.url}/limited`).then((r) => r.status)),
    );
    assert.equal(statuses.filter((s) => s === 200).length, LIMIT / 2, statuses.join(' '));
  });
});
