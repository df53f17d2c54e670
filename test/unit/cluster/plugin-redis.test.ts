/**
 * plugin-redis.ts: the connections plugin instances name are shared by way of naming a Redis
 * (every setting in the key), made when the first user goes into service, closed with the last;
 * and the probe that asks until Redis is back stops for good once stopped.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { namedRedis, PluginRedis, probeUntilBack } from '../../../src/cluster/plugin-redis.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import type { RedisSettings } from '../../../src/plugins/rate-limit-policy.ts';

const SETTINGS: RedisSettings = {
  host: '127.0.0.1',
  port: 6379,
  username: null,
  password: 'a',
  database: 0,
  timeout: 300,
  ssl: false,
  ssl_verify: false,
  server_name: null,
};

/** A holder that records what was made and closed (the connection itself is redis.ts's). */
function pool() {
  const made: string[] = [];
  const closed: string[] = [];
  const p = new PluginRedis((n) => {
    made.push(n.id);
    return { name: n.name, id: n.id, close: () => closed.push(n.id) };
  });
  return { p, made, closed };
}

/** Once the promises already settled have run their callbacks (the probe's answers settle at once). */
const turn = () => new Promise((r) => setImmediate(r));

describe('plugin-redis', () => {
  it('names by every setting; the cluster URL by itself and the timeout', () => {
    const a = namedRedis(SETTINGS, null)!;
    assert.equal(a.name, '127.0.0.1:6379/0');
    for (const change of [
      { password: 'b' },
      { username: 'u' },
      { timeout: 400 },
      { ssl: true },
      { ssl_verify: true },
      { server_name: 'r' },
      { database: 1 },
    ])
      assert.notEqual(namedRedis({ ...SETTINGS, ...change }, null)!.id, a.id, JSON.stringify(change));
    assert.equal(namedRedis({ ...SETTINGS, host: null }, null), null);
    const c = namedRedis({ ...SETTINGS, host: null }, 'redis://h:1')!;
    assert.equal(c.name, 'redis://h:1');
    assert.equal(namedRedis({ ...SETTINGS, host: null, password: 'z' }, 'redis://h:1')!.id, c.id);
  });

  it('makes nothing at build, shares by way of naming, closes with the last user', () => {
    const { p, made, closed } = pool();
    const n = namedRedis(SETTINGS, null)!;
    const one = p.lease(n);
    const two = p.lease(n);
    const other = p.lease(namedRedis({ ...SETTINGS, password: 'b' }, null)!);
    const abandoned = p.lease(namedRedis({ ...SETTINGS, timeout: 9 }, null)!);
    assert.equal(made.length, 0);
    assert.equal(one.held, null);
    one.open();
    two.open();
    other.open();
    assert.equal(made.length, 2);
    assert.equal(one.held, two.held);
    assert.notEqual(one.held, other.held);
    abandoned.dispose();
    one.dispose();
    assert.equal(one.held, null);
    assert.deepEqual(closed, []);
    two.dispose();
    assert.deepEqual(closed, [n.id]);
    one.open(); // once: a disposed lease stays so
    assert.equal(one.held, null);
    assert.deepEqual([...p.names(() => true)], ['127.0.0.1:6379/0']);
    p.close();
    assert.equal(closed.length, 2);
    const late = p.lease(n);
    late.open();
    assert.equal(late.held, null);
    assert.equal(made.length, 2);
  });

  it('probes until an answer, and not after stop', async () => {
    const clock = new ManualClock();
    let answer = false;
    let asked = 0;
    let back = 0;
    const probe = probeUntilBack(
      clock,
      500,
      async () => {
        asked++;
        return answer;
      },
      () => back++,
    );
    clock.advance(500);
    await turn();
    assert.equal(asked, 1);
    assert.equal(clock.pending, 1);
    answer = true;
    clock.advance(500);
    await turn();
    assert.deepEqual([asked, back, clock.pending], [2, 1, 0]);

    const stopped = probeUntilBack(
      clock,
      500,
      async () => true,
      () => back++,
    );
    clock.advance(500);
    stopped.stop();
    await turn();
    assert.deepEqual([back, clock.pending], [1, 0]);
    probe.stop();
  });
});
