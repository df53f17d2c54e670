/**
 * rate-limiting `policy: redis` follows its `redis` settings across reloads: a real redis-server
 * requiring a password, one node (in-process) whose plugin first names the wrong password (it
 * counts locally, as while Redis is away: the switch logged and counted, the fallback gauge 1, no
 * counter in Redis), then, reloaded, the right one (the windows' counters appear in Redis); a
 * reload changing only the timeout opens a new connection and closes the old one, and removing the
 * plugin closes the last (CLIENT LIST, by the connection's name) and drops its local counts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { until } from '../../helpers/follow.ts';
import {
  REDIS_PASSWORD,
  type RedisSettingsFixture,
  redisSettingsFixture,
} from '../../helpers/redis-settings.ts';
import { getFresh } from '../../helpers/workers.ts';

describe('rate-limiting in Redis: a reload changing the redis settings takes effect', {
  timeout: 60_000,
}, () => {
  let x: RedisSettingsFixture;

  before(async () => {
    x = await redisSettingsFixture(
      (port, b) => `          - name: rate-limiting
            config:
              minute: 1000
              limit_by: ip
              policy: redis
              redis: { host: 127.0.0.1, port: ${port}, password: ${b.password}, timeout: ${b.timeout} }
`,
      'fulcrum-rate-limit',
      { password: 'wrong-password', timeout: 300 },
    );
  });

  after(async () => {
    await x?.stop();
  });

  const counters = async () => (await x.peek.keys('fulcrum:rl:*')).length;
  /** The requests counted in Redis: the sum of every window's counter. */
  const counted = async () => {
    let n = 0;
    for (const k of await x.peek.keys('fulcrum:rl:*')) n += Number(await x.peek.get(k));
    return n;
  };
  const metrics = async () => (await request(`${x.f.adminUrl}/metrics`)).body.text();
  const fallback = () => `fulcrum_rate_limit_fallback{redis="127.0.0.1:${x.redis.port}/0"} 1`;

  it('counts locally with the wrong password, in Redis once reloaded with the right one', async () => {
    const remaining: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await getFresh(`${x.f.url}/one`);
      assert.equal(r.status, 200);
      remaining.push(Number(r.headers['x-ratelimit-remaining-minute']));
    }
    // The local fallback counted them (one node: its share is the whole limit).
    assert.deepEqual(remaining, [999, 998, 997]);
    assert.equal(await counters(), 0);
    assert.deepEqual(await x.clients(), []);
    const m = await metrics();
    assert.ok(m.includes(fallback()), m);
    assert.ok(m.includes('fulcrum_rate_limit_policy_switches_total{to="local"} 1'), m);

    await x.reload({ password: REDIS_PASSWORD, timeout: 300 });
    await until(async () => {
      assert.equal((await getFresh(`${x.f.url}/one`)).status, 200);
      return (await counters()) > 0;
    });
    assert.equal((await x.clients()).length, 1);
    assert.ok(!(await metrics()).includes(fallback()));
  });

  it('opens a new connection for a new timeout and closes the one no instance uses', async () => {
    const [old] = await x.clients();
    const before = await counted();
    await x.reload({ password: REDIS_PASSWORD, timeout: 400 });
    await until(async () => {
      assert.equal((await getFresh(`${x.f.url}/one`)).status, 200);
      const now = await x.clients();
      return now.length === 1 && now[0] !== old;
    });
    // Still counted in Redis.
    await until(async () => {
      await getFresh(`${x.f.url}/one`);
      return (await counted()) > before;
    });
    await x.reload(null);
    await until(async () => (await x.clients()).length === 0);

    // Added back, with the wrong password again: its local counts went with it, it starts afresh.
    await x.reload({ password: 'wrong-password', timeout: 300 });
    const r = await getFresh(`${x.f.url}/one`);
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-ratelimit-remaining-minute'], '999');
  });
});
