/**
 * proxy-cache `strategy: redis` follows its `redis` settings across reloads: a real redis-server
 * requiring a password, one node (in-process) whose plugin first names the wrong password (every
 * request Bypass), then, reloaded, the right one (a Miss, then Hits); a reload changing only the
 * timeout opens a new connection and closes the old one, and removing the plugin closes the last.
 * The node's connections are seen from Redis itself (CLIENT LIST, by the connection's name).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { until } from '../../helpers/follow.ts';
import {
  REDIS_PASSWORD,
  type RedisSettingsFixture,
  redisSettingsFixture,
} from '../../helpers/redis-settings.ts';
import { getFresh } from '../../helpers/workers.ts';

describe('proxy-cache in Redis: a reload changing the redis settings takes effect', {
  timeout: 60_000,
}, () => {
  let x: RedisSettingsFixture;

  before(async () => {
    x = await redisSettingsFixture(
      (port, b) => `          - name: proxy-cache
            config:
              strategy: redis
              cache_ttl: 60
              redis: { host: 127.0.0.1, port: ${port}, password: ${b.password}, timeout: ${b.timeout} }
`,
      'fulcrum-proxy-cache',
      { password: 'wrong-password', timeout: 300 },
    );
  });

  after(async () => {
    await x?.stop();
  });

  it('bypasses with the wrong password, hits once reloaded with the right one', async () => {
    for (let i = 0; i < 3; i++)
      assert.equal((await getFresh(`${x.f.url}/one`)).headers['x-cache-status'], 'Bypass');
    assert.deepEqual(await x.clients(), []);

    await x.reload({ password: REDIS_PASSWORD, timeout: 300 });
    await until(async () => (await getFresh(`${x.f.url}/one`)).headers['x-cache-status'] === 'Hit');
    assert.equal((await x.clients()).length, 1);
  });

  it('opens a new connection for a new timeout and closes the one no instance uses', async () => {
    const [old] = await x.clients();
    await x.reload({ password: REDIS_PASSWORD, timeout: 400 });
    assert.equal((await getFresh(`${x.f.url}/one`)).headers['x-cache-status'], 'Hit');
    await until(async () => {
      const now = await x.clients();
      return now.length === 1 && now[0] !== old;
    });
    await x.reload(null);
    await until(async () => (await x.clients()).length === 0);
  });
});
