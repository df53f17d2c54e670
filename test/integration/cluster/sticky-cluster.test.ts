/**
 * Sticky cookies on any node of a cluster: the upstream's `sticky.secret` travels with the shared
 * configuration, so a cookie one node signed pins the client on the other node too (two real
 * nodes, child processes, one real Redis). Without a secret each process signs with a random key
 * of its own and the other node ignores the cookie: the page says to set one.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ChildFulcrum, spawnFulcrum, writeConfig } from '../../helpers/child.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';
import { getFresh } from '../../helpers/workers.ts';

describe('sticky cookies across the nodes of a cluster', { timeout: 60_000 }, () => {
  let redis: TestRedis;
  const ups: TestUpstream[] = [];
  const nodes: ChildFulcrum[] = [];

  before(async () => {
    redis = await startRedis();
    for (const n of ['a', 'b', 'c', 'd']) ups.push(await startUpstream(n));
    const file = writeConfig(`cluster:
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
services:
  - name: s
    host: shop
    routes: [{ name: r, paths: ["/"] }]
`);
    for (let i = 0; i < 2; i++) nodes.push(await spawnFulcrum(file, { startTimeoutMs: 20_000 }));
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    await Promise.all(ups.map((u) => u.close()));
  });

  it('pins a client on node B with the cookie node A set', async () => {
    for (let i = 0; i < 4; i++) {
      // A first visit on node A: a target picked round robin, and a cookie naming it.
      const first = await getFresh(`${nodes[0]!.url}/`);
      const pin = /^SRV=[^;]+/.exec(String(first.headers['set-cookie']?.[0] ?? ''))?.[0];
      assert.ok(pin !== undefined, 'the first visit got a cookie');
      // Every later request on node B goes to that target, though B's round robin moves on.
      for (let j = 0; j < 6; j++)
        assert.equal((await getFresh(`${nodes[1]!.url}/`, { cookie: pin })).body, first.body);
    }
  });
});
