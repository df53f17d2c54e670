/**
 * A node with `workers: 2` in a cluster of two nodes (child processes, one real Redis): its
 * primary probes only the targets whose lease it holds and its workers learn the verdicts of
 * probes made by the other node; with Redis killed, a `policy: redis` limit falls back to the
 * node's share (the limit / 2 live nodes), counted by the primary exactly across its two workers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
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
  let withWorkers: ChildFulcrum;
  let plain: ChildFulcrum;

  before(async () => {
    redis = await startRedis();
    good = await startUpstream('good');
    bad = await startUpstream('bad', (req, res) => {
      res.writeHead(req.url === '/health' ? 500 : 200);
      res.end('bad');
    });
    const body = `cluster:
  redis: ${redis.url}
  timeout: 200
upstreams:
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
