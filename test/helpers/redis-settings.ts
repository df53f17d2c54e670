/**
 * For the tests of a plugin that names a Redis of its own across reloads (proxy-cache's
 * `strategy: redis`, rate-limiting's `policy: redis`): a real redis-server requiring a password,
 * a target, and one node (in-process) whose route carries the plugin with a given password and
 * timeout, or no plugin. The node's connections are seen from Redis itself (CLIENT LIST, by the
 * connection's name).
 */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { startFulcrum, type TestNode } from './fulcrum.ts';
import { startRedis, type TestRedis } from './redis.ts';
import { startUpstream } from './upstream.ts';

export const REDIS_PASSWORD = 'right-password';

/** The plugin's `redis` settings in a test configuration. */
export interface RedisBlock {
  readonly password: string;
  readonly timeout: number;
}

export interface RedisSettingsFixture {
  readonly redis: TestRedis;
  /** A client of the test's own, authenticated. */
  readonly peek: Redis;
  readonly f: TestNode;
  /** Reload the node with the plugin naming Redis with these settings, or without the plugin. */
  reload(block: RedisBlock | null): Promise<void>;
  /** The ids of the node's connections named `name` that Redis holds (authenticated ones). */
  clients(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * `plugin` gives the route's plugin list item (YAML at the indentation of `plugins:` items) for the
 * Redis on `port`; `name` is the connection name the node gives the plugin's connections.
 */
export async function redisSettingsFixture(
  plugin: (port: number, block: RedisBlock) => string,
  name: string,
  first: RedisBlock,
): Promise<RedisSettingsFixture> {
  const redis = await startRedis({ password: REDIS_PASSWORD });
  const peek = new Redis({ port: redis.port, host: '127.0.0.1', password: REDIS_PASSWORD });
  const up = await startUpstream('a');
  const body = (block: RedisBlock | null) => `
services:
  - name: api
    url: http://${up.target}
    routes:
      - name: r
        paths: [/]
${block === null ? '' : `        plugins:\n${plugin(redis.port, block)}`}`;
  const f = await startFulcrum(body(first));
  return {
    redis,
    peek,
    f,
    async reload(block) {
      f.write(body(block));
      const r = await f.node.reload();
      assert.equal(r.ok, true, JSON.stringify(r));
    },
    async clients() {
      const list = (await peek.call('CLIENT', 'LIST')) as string;
      return list
        .split('\n')
        .filter((l) => l.includes(` name=${name} `))
        .map((l) => /^id=(\d+)/.exec(l)![1]!);
    },
    async stop() {
      await f.stop();
      peek.disconnect();
      await redis.stop();
      await up.close();
    },
  };
}
