/**
 * proxy-cache `strategy: redis` follows its `redis` settings across reloads: a real redis-server
 * requiring a password, one node (in-process) whose plugin first names the wrong password (every
 * request Bypass), then, reloaded, the right one (a Miss, then Hits); a reload changing only the
 * timeout opens a new connection and closes the old one, and removing the plugin closes the last.
 * The node's connections are seen from Redis itself (CLIENT LIST, by the connection's name).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { until } from '../../helpers/follow.ts';
import { startFulcrum, type TestNode } from '../../helpers/fulcrum.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';
import { getFresh } from '../../helpers/workers.ts';

const PASSWORD = 'right-password';

describe('proxy-cache in Redis: a reload changing the redis settings takes effect', {
  timeout: 60_000,
}, () => {
  let redis: TestRedis;
  let peek: Redis;
  let up: TestUpstream;
  let f: TestNode;

  /** The node's configuration: the plugin with this password and timeout, or none. */
  const body = (redisBlock: { password: string; timeout: number } | null) => `
services:
  - name: api
    url: http://${up.target}
    routes:
      - name: r
        paths: [/]
${
  redisBlock === null
    ? ''
    : `        plugins:
          - name: proxy-cache
            config:
              strategy: redis
              cache_ttl: 60
              redis: { host: 127.0.0.1, port: ${redis.port}, password: ${redisBlock.password}, timeout: ${redisBlock.timeout} }
`
}`;

  /** The ids of the node's proxy-cache connections Redis holds (authenticated ones). */
  async function cacheClients(): Promise<string[]> {
    const list = (await peek.call('CLIENT', 'LIST')) as string;
    return list
      .split('\n')
      .filter((l) => / name=fulcrum-proxy-cache /.test(l))
      .map((l) => /^id=(\d+)/.exec(l)![1]!);
  }

  async function reload(text: string): Promise<void> {
    f.write(text);
    const r = await f.node.reload();
    assert.equal(r.ok, true, JSON.stringify(r));
  }

  before(async () => {
    redis = await startRedis({ password: PASSWORD });
    peek = new Redis({ port: redis.port, host: '127.0.0.1', password: PASSWORD });
    up = await startUpstream('a');
    f = await startFulcrum(body({ password: 'wrong-password', timeout: 300 }));
  });

  after(async () => {
    await f?.stop();
    peek?.disconnect();
    await redis?.stop();
    await up?.close();
  });

  it('bypasses with the wrong password, hits once reloaded with the right one', async () => {
    for (let i = 0; i < 3; i++)
      assert.equal((await getFresh(`${f.url}/one`)).headers['x-cache-status'], 'Bypass');
    assert.deepEqual(await cacheClients(), []);

    await reload(body({ password: PASSWORD, timeout: 300 }));
    await until(async () => (await getFresh(`${f.url}/one`)).headers['x-cache-status'] === 'Hit');
    assert.equal((await cacheClients()).length, 1);
  });

  it('opens a new connection for a new timeout and closes the one no instance uses', async () => {
    const [old] = await cacheClients();
    await reload(body({ password: PASSWORD, timeout: 400 }));
    assert.equal((await getFresh(`${f.url}/one`)).headers['x-cache-status'], 'Hit');
    await until(async () => {
      const now = await cacheClients();
      return now.length === 1 && now[0] !== old;
    });
    await reload(body(null));
    await until(async () => (await cacheClients()).length === 0);
  });
});
