/**
 * A node that can send commands to Redis but cannot hear the cluster's health events (its
 * subscription to `<prefix>:health` never comes up) must not stop probing: it started while Redis
 * was away (serving its cache file, probing alone), then Redis came back for every connection but
 * the subscriber's (a TCP proxy in front of a real redis-server drops the connection that names
 * itself `fulcrum-health`, as a Redis at `maxclients` refuses the latest one). Before, such a node
 * waited for the cluster's verdicts forever and claimed no probing round: its targets were probed
 * by nobody. Now, once the wait (`cluster.timeout`, at least 2 s) is over, it probes every target
 * itself, says so in its log and in `fulcrum_cluster_health_probing_alone`, and shares again once
 * the subscription comes up. One real node (a child process), one real Redis.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { admin } from '../../helpers/admin.ts';
import { type ChildFulcrum, spawnFulcrum, writeConfig } from '../../helpers/child.ts';
import { probedClusterBody } from '../../helpers/cluster-config.ts';
import { until } from '../../helpers/follow.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';
import { getFresh } from '../../helpers/workers.ts';

/** What the proxy does with connections: none at all, all but the health subscriber's, all. */
type Mode = 'down' | 'no-subscriber' | 'pass';

describe('a node whose health subscription never comes up', { timeout: 90_000 }, () => {
  let redis: TestRedis;
  let proxy: Server;
  let mode: Mode = 'pass';
  const open = new Set<Socket>();
  let target: TestUpstream;
  let probes = 0;
  let file = '';
  let node: ChildFulcrum | null = null;

  const health = async () =>
    (
      (await admin(`http://127.0.0.1:${node!.adminPort}`, 'GET', '/status')).body as {
        cluster: { health: { probing_alone: boolean; leases: number } };
      }
    ).cluster.health;
  const aloneGauge = async () =>
    /^fulcrum_cluster_health_probing_alone (\d+)/m.exec(
      (await getFresh(`http://127.0.0.1:${node!.adminPort}/metrics`)).body,
    )?.[1];

  before(async () => {
    redis = await startRedis();
    proxy = createServer((client) => {
      if (mode === 'down') return void client.destroy();
      const upstream = connect(redis.port, '127.0.0.1');
      open.add(client);
      client.on('close', () => {
        open.delete(client);
        upstream.destroy();
      });
      upstream.on('close', () => client.destroy());
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      client.on('data', (chunk: Buffer) => {
        // ioredis names a connection first thing (CLIENT SETNAME): the subscriber's is dropped.
        if (mode === 'no-subscriber' && chunk.includes('fulcrum-health')) return void client.destroy();
        upstream.write(chunk);
      });
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    target = await startUpstream('t', (req, res) => {
      if (req.url === '/health') probes++;
      res.end('t');
    });
    file = writeConfig(
      probedClusterBody(`redis://127.0.0.1:${(proxy.address() as AddressInfo).port}`, [target.target], 0.2),
    );
    // A first run seeds the cluster and leaves the cache file the node restarts from.
    const first = await spawnFulcrum(file, { startTimeoutMs: 30_000 });
    await first.stop();
  });

  after(async () => {
    await node?.stop();
    for (const s of open) s.destroy();
    await new Promise((resolve) => proxy?.close(resolve));
    await redis?.stop();
    await target?.close();
  });

  it('probes its targets itself once the wait is over, and shares again once subscribed', async () => {
    mode = 'down';
    node = await spawnFulcrum(file, { startTimeoutMs: 30_000 });
    await node.waitForLog((l) => String(l.msg).includes('this node probes every target itself'));

    mode = 'no-subscriber';
    // The node's command connection is back (seen from Redis itself, not through the proxy).
    const peek = new Redis(redis.port, '127.0.0.1');
    try {
      await until(async () => / name=fulcrum-cluster /.test((await peek.call('CLIENT', 'LIST')) as string));
    } finally {
      peek.disconnect();
    }
    // Commands pass, the subscription does not: the node still probes (alone).
    const before = probes;
    await until(async () => probes >= before + 5);
    await node.waitForLog((l) => String(l.msg).includes('not subscribed'));
    assert.equal((await health()).probing_alone, true);
    assert.equal(await aloneGauge(), '1');

    mode = 'pass';
    // Subscribed: the verdicts read, the node claims rounds again (one node: it holds the lease).
    await until(async () => (await health()).leases === 1 && (await aloneGauge()) === '0');
    const then = probes;
    await until(async () => probes >= then + 3);
  });
});
