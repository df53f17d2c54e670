/**
 * Sticky cookies on any node of a cluster (two real nodes, child processes, one real Redis): the
 * upstream's `sticky.secret` travels with the shared configuration, and without a secret the nodes
 * sign with the cluster's default key, kept in Redis (src/cluster/sticky-key.ts); either way a
 * cookie one node signed pins the client on the other node too. A node started while Redis is
 * away signs with a key of its own, and joins the cluster's key once Redis is back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ChildFulcrum, spawnFulcrum, writeConfig } from '../../helpers/child.ts';
import { until } from '../../helpers/follow.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';
import { getFresh } from '../../helpers/workers.ts';

describe('sticky cookies across the nodes of a cluster', { timeout: 60_000 }, () => {
  let redis: TestRedis;
  const ups: TestUpstream[] = [];
  const nodes: ChildFulcrum[] = [];
  let file = '';

  before(async () => {
    redis = await startRedis();
    for (const n of ['a', 'b', 'c', 'd']) ups.push(await startUpstream(n));
    file = writeConfig(`cluster:
  redis: ${redis.url}
upstreams:
  - name: shop
    algorithm: round-robin
    sticky:
      mode: cookie
      secret: "a-secret-every-node-shares"
      cookie: { name: SRV }
    targets:
${ups.map((u) => `      - target: ${u.target}`).join('\n')}
  - name: nosecret
    algorithm: round-robin
    sticky:
      mode: cookie
      cookie: { name: SRV }
    targets:
${ups.map((u) => `      - target: ${u.target}`).join('\n')}
services:
  - name: s
    host: shop
    routes: [{ name: r, paths: ["/"] }]
  - name: n
    host: nosecret
    routes: [{ name: rn, paths: ["/n"] }]
`);
    for (let i = 0; i < 2; i++) nodes.push(await spawnFulcrum(file, { startTimeoutMs: 20_000 }));
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    await Promise.all(ups.map((u) => u.close()));
  });

  /** A first visit on `from` (a target picked round robin, and a cookie naming it) pins on `to`. */
  async function pins(path: string, from: ChildFulcrum, to: ChildFulcrum): Promise<void> {
    for (let i = 0; i < 4; i++) {
      const first = await getFresh(`${from.url}${path}`);
      const cookie = String(first.headers['set-cookie']?.[0] ?? '');
      const pin = /^SRV=[^;]+/.exec(cookie)?.[0];
      assert.ok(pin !== undefined, 'the first visit got a cookie');
      // Every later request on the other node goes to that target, though its round robin moves
      // on (4 targets: a node ignoring the cookie would send 5 of these 6 elsewhere), and the
      // cookie is not replaced.
      for (let j = 0; j < 6; j++) {
        const r = await getFresh(`${to.url}${path}`, { cookie: pin });
        assert.equal(r.body, first.body, `request ${j} on the other node, pinned by ${pin}`);
        assert.equal(r.headers['set-cookie'], undefined);
      }
    }
  }

  it('pins a client on node B with the cookie node A set (a configured secret)', async () => {
    await pins('/', nodes[0]!, nodes[1]!);
  });

  it("pins a client on either node without a secret: both sign with the cluster's key", async () => {
    await pins('/n', nodes[0]!, nodes[1]!);
    await pins('/n', nodes[1]!, nodes[0]!);
    for (const n of nodes) await n.waitForLog((l) => String(l.msg).includes("cluster's default key"), 1000);
  });

  it('a node started while Redis is away adopts one key with the others once Redis is back', async () => {
    await redis.kill();
    // It starts from the cache file the others wrote, and signs with a key of its own.
    const late = await spawnFulcrum(file, { startTimeoutMs: 30_000 });
    nodes.push(late);
    await late.waitForLog((l) => String(l.msg).includes("signing with this node's own key"), 1000);
    const early = await getFresh(`${late.url}/n`);
    const earlyPin = /^SRV=[^;]+/.exec(String(early.headers['set-cookie']?.[0] ?? ''))?.[0];
    assert.ok(earlyPin !== undefined);
    // Redis back, empty: each node offers its key again, the first offer wins, all adopt it.
    await redis.restart();
    await late.waitForLog((l) => String(l.msg).includes("cluster's default key"), 15_000);
    const pinned = async (from: ChildFulcrum, to: ChildFulcrum) => {
      const first = await getFresh(`${from.url}/n`);
      const pin = /^SRV=[^;]+/.exec(String(first.headers['set-cookie']?.[0] ?? ''))?.[0] ?? '';
      for (let j = 0; j < 4; j++)
        if ((await getFresh(`${to.url}/n`, { cookie: pin })).body !== first.body) return false;
      return true;
    };
    await until(
      async () =>
        (await pinned(late, nodes[0]!)) && (await pinned(nodes[0]!, late)) && (await pinned(nodes[1]!, late)),
    );
    // The cookie it signed alone still pins the client on it.
    for (let j = 0; j < 4; j++)
      assert.equal((await getFresh(`${late.url}/n`, { cookie: earlyPin })).body, early.body);
  });
});
