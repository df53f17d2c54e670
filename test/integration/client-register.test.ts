/**
 * `register()` of the client library (docs/discovery.md#from-the-application) against a real etcd
 * and a real Redis, read by a real cluster node whose upstream takes registrations from both: a
 * registration is served, outlives its TTL through the heartbeat, and leaves at `close()`; the
 * page's example runs and prints what the page says.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { register } from '../../src/client/register.ts';
import { admin } from '../helpers/admin.ts';
import { matches, runDocExample } from '../helpers/doc-examples.ts';
import { hasEtcd, startEtcd, type TestEtcd } from '../helpers/etcd.ts';
import { answers, until } from '../helpers/follow.ts';
import { startFulcrum, type TestNode, testHeader } from '../helpers/fulcrum.ts';
import { startRedis, type TestRedis } from '../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

describe('register() from the application', {
  skip: hasEtcd ? false : 'etcd is not installed',
  timeout: 120_000,
}, () => {
  let etcd: TestEtcd;
  let redis: TestRedis;
  let one: TestUpstream;
  let two: TestUpstream;
  let fulcrum: TestNode;
  const registered = async () =>
    ((await admin(fulcrum.adminUrl, 'GET', '/upstreams/api/targets')).body.data as Record<string, unknown>[])
      .filter((r) => r.source === 'registry')
      .map((r) => `${r.target} ${r.origin}`);

  before(async () => {
    etcd = await startEtcd();
    redis = await startRedis();
    one = await startUpstream('one');
    two = await startUpstream('two');
    fulcrum = await startFulcrum(
      `cluster:
  redis: ${redis.url}
registry:
  etcd:
    endpoints: ["${etcd.endpoint}"]
  redis: {}
upstreams:
  - name: api
    registry: true
services:
  - name: api
    host: api
    routes: [{ paths: [/] }]
`,
      { header: testHeader() },
    );
  });

  after(async () => {
    await fulcrum?.stop();
    await etcd?.close();
    await redis?.stop();
    await one?.close();
    await two?.close();
  });

  it("runs docs/discovery.md's example: it prints the key, and leaves nothing behind", async () => {
    const { stdout, prints } = await runDocExample('docs/discovery.md', 'runnable with etcd', {
      ETCD_ENDPOINT: etcd.endpoint,
    });
    assert.ok(matches(prints, stdout), `printed:\n${stdout}\nexpected:\n${prints}`);
    assert.equal(await etcd.etcdctl(['get', '--prefix', 'fulcrum/']), '');
  });

  it('etcd: served, kept alive past its TTL, gone at close()', async () => {
    const r = await register({
      etcd: { endpoints: [etcd.endpoint] },
      upstream: 'api',
      address: '127.0.0.1',
      port: one.port,
      weight: 20,
      ttl: 2,
    });
    assert.equal(r.key, `fulcrum/upstreams/api/targets/${one.target}`);
    await until(async () => (await answers(fulcrum.url, 1)).has('one'));
    // Heartbeats (about every 2/3 s) well past the TTL: still registered.
    await until(async () => r.heartbeats >= 5);
    assert.deepEqual(await registered(), [`${one.target} etcd ${r.key}`]);
    await r.close();
    await until(async () => (await registered()).length === 0);
  });

  it('redis: served, kept past its TTL by the heartbeat, gone at close()', async () => {
    const reads = () => (fulcrum.node.discovery as unknown as { redis: { reads: number } }).redis.reads;
    const t0 = Date.now();
    const r = await register({
      redis: { url: redis.url },
      upstream: 'api',
      address: '127.0.0.1',
      port: two.port,
      tags: ['b'],
      ttl: 2,
    });
    assert.equal(r.key, `fulcrum:registry:api:${two.target}`);
    await until(async () => (await answers(fulcrum.url, 1)).has('two'));
    const servedMs = Date.now() - t0;
    // Heartbeats past the TTL, and the node has read the registrations since: still there.
    await until(async () => r.heartbeats >= 4);
    const before = reads();
    await until(async () => reads() > before);
    assert.deepEqual(await registered(), [`${two.target} redis ${r.key}`]);
    await r.close();
    await until(async () => (await registered()).length === 0);
    console.log(`# register() on Redis: served ${servedMs} ms after the call`);
  });
});
