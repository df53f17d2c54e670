/**
 * Three nodes sharing one Redis (a real redis-server on loopback): an admin write on one node is
 * served by the others; `policy: redis` admits exactly the limit across the three; with Redis
 * killed the nodes keep serving (no failed request), admit by their local share and refuse admin
 * writes with 503; with Redis back they take writes again and converge on one version; a node
 * restarted while Redis is away serves the configuration from its cache file.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { admin } from '../../helpers/admin.ts';
import { type ChildFulcrum, spawnFulcrum, writeConfig } from '../../helpers/child.ts';
import { until } from '../../helpers/follow.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';
import { getFresh } from '../../helpers/workers.ts';

const LIMIT = 30;

/** GET until `ok` says the answer is the one awaited (a change propagating). */
function served(url: string, ok: (r: { status: number; body: string }) => boolean): Promise<void> {
  return until(async () => ok(await getFresh(url)));
}

async function clusterStatus(n: ChildFulcrum): Promise<{ version: number; connected: boolean }> {
  const r = await admin(`http://127.0.0.1:${n.adminPort}`, 'GET', '/status');
  return r.body.cluster;
}

describe('three nodes sharing one Redis', { timeout: 90_000 }, () => {
  let redis: TestRedis;
  let a: TestUpstream;
  let b: TestUpstream;
  const files: string[] = [];
  const nodes: ChildFulcrum[] = [];

  before(async () => {
    redis = await startRedis();
    a = await startUpstream('a');
    b = await startUpstream('b');
    for (let i = 0; i < 3; i++) {
      files.push(
        writeConfig(`cluster:
  redis: ${redis.url}
  node_id: n${i}
  timeout: 200
services:
  - name: s
    url: http://${a.target}/
    routes:
      - name: r
        paths: ["/a"]
      - name: limited
        paths: ["/limited"]
        plugins:
          - name: rate-limiting
            config: { hour: ${LIMIT}, policy: redis, limit_by: ip }
`),
      );
      // One after another: the first seeds the cluster, the others take its version.
      nodes.push(await spawnFulcrum(files[i]!, { startTimeoutMs: 20_000 }));
    }
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    await a?.close();
    await b?.close();
  });

  it('starts every node on the version the first one seeded', async () => {
    for (const n of nodes) {
      const c = await clusterStatus(n);
      assert.equal(c.version, 1);
      assert.equal(c.connected, true);
      assert.equal((await getFresh(`${n.url}/a`)).body, 'a');
    }
  });

  it('serves an admin write made on one node from the others', async () => {
    const base = `http://127.0.0.1:${nodes[0]!.adminPort}`;
    const s = await admin(base, 'POST', '/services', { name: 'sb', url: `http://${b.target}/` });
    assert.equal(s.status, 201, s.text);
    const r = await admin(base, 'POST', '/services/sb/routes', { name: 'rb', paths: ['/b'] });
    assert.equal(r.status, 201, r.text);
    for (const n of nodes.slice(1)) await served(`${n.url}/b`, (x) => x.status === 200 && x.body === 'b');
    for (const n of nodes) assert.equal((await clusterStatus(n)).version, 3);
  });

  it('admits exactly the limit across the three nodes (policy: redis)', async () => {
    const statuses = await Promise.all(
      Array.from({ length: LIMIT * 3 }, (_, i) =>
        getFresh(`${nodes[i % 3]!.url}/limited`).then((r) => r.status),
      ),
    );
    assert.equal(statuses.filter((s) => s === 200).length, LIMIT);
    assert.equal(statuses.filter((s) => s === 429).length, LIMIT * 2);
  });

  it('keeps serving with Redis killed, refuses admin writes with 503, and converges when it is back', async () => {
    await redis.kill();
    // Traffic on every node: nothing fails, the rate-limited route answers (counted locally).
    const answers = await Promise.all(
      Array.from({ length: 60 }, (_, i) => getFresh(`${nodes[i % 3]!.url}/${i % 2 ? 'a' : 'b'}`)),
    );
    assert.deepEqual(
      answers.filter((r) => r.status !== 200),
      [],
    );
    const limited = await getFresh(`${nodes[1]!.url}/limited`);
    assert.ok([200, 429].includes(limited.status), `the limited route answers: ${limited.status}`);
    const refused = await admin(`http://127.0.0.1:${nodes[1]!.adminPort}`, 'POST', '/services', {
      name: 'sc',
      url: `http://${a.target}/`,
    });
    assert.equal(refused.status, 503, refused.text);
    assert.match(
      refused.body.message,
      /cluster store \(Redis at redis:\/\/127\.0\.0\.1:\d+\) cannot be reached/,
    );
    assert.equal((await clusterStatus(nodes[1]!)).connected, false);

    // A node restarted now serves what its cache file holds.
    await nodes[2]!.stop();
    nodes[2] = await spawnFulcrum(files[2]!, { startTimeoutMs: 20_000 });
    assert.equal((await getFresh(`${nodes[2]!.url}/b`)).body, 'b');
    assert.ok(nodes[2]!.logs.some((l) => String(l.msg).includes('serving the configuration last received')));

    // Redis is back (empty, as after a restart without persistence): the next write on any node
    // publishes, and the others follow it.
    await redis.restart();
    await until(async () => (await clusterStatus(nodes[1]!)).connected);
    const base = `http://127.0.0.1:${nodes[1]!.adminPort}`;
    const s = await admin(base, 'POST', '/services', { name: 'sc', url: `http://${a.target}/` });
    assert.equal(s.status, 201, s.text);
    const r = await admin(base, 'POST', '/services/sc/routes', { name: 'rc', paths: ['/c'] });
    assert.equal(r.status, 201, r.text);
    for (const n of nodes) await served(`${n.url}/c`, (x) => x.status === 200 && x.body === 'a');
    const versions = await Promise.all(nodes.map(async (n) => (await clusterStatus(n)).version));
    assert.deepEqual(versions, [versions[0], versions[0], versions[0]]);
  });
});
