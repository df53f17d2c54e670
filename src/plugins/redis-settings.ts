/**
 * Where Redis is, for the plugins that use it (rate-limiting's `policy: redis`, proxy-cache's
 * `strategy: redis`): Kong's nested `redis` block (Kong 3.8's form) and, for rate-limiting, its flat
 * `redis_<name>` fields. Host unset: the Redis of the node's `cluster` setting.
 */
import type { InService, RedisSettings } from './rate-limit-policy.ts';
import { bool, int, optStr } from './schema-kit.ts';
import type { BuildEnv } from './types.ts';

export const REDIS_FIELDS = {
  host: optStr("The Redis host (`policy: redis`). Unset: the Redis of the node's `cluster` setting."),
  port: int('The Redis port.', 0, 65535, { default: 6379 }),
  username: optStr('The Redis ACL user name.'),
  password: optStr('The Redis password.'),
  database: int('The Redis database number.', 0, 1000000, { default: 0 }),
  timeout: int(
    'Milliseconds a decision may wait for Redis; slower, the node counts locally until Redis answers in time again.',
    1,
    60000,
    { default: 2000 },
  ),
  ssl: bool('Connect to Redis over TLS.', false),
  ssl_verify: bool("Verify Redis's TLS certificate.", false),
  server_name: optStr('The SNI and name to verify for Redis over TLS.'),
} as const;

const REDIS_DEFAULTS: RedisSettings = {
  host: null,
  port: 6379,
  username: null,
  password: null,
  database: 0,
  timeout: 2000,
  ssl: false,
  ssl_verify: false,
  server_name: null,
};

/** Kong's flat `redis_<name>` fields over the nested `redis` block (the flat form wins, as Kong's shorthand). */
export function redisSettings(raw: Record<string, unknown>): RedisSettings {
  const nested = (raw.redis as Record<string, unknown> | null | undefined) ?? {};
  const out: Record<string, unknown> = { ...REDIS_DEFAULTS };
  for (const k of Object.keys(REDIS_FIELDS)) {
    const flat = raw[`redis_${k}`];
    const v = flat !== undefined && flat !== null ? flat : nested[k];
    if (v !== undefined && v !== null) out[k] = v;
  }
  return out as unknown as RedisSettings;
}

/**
 * The instance's store in Redis (`make`), kept as plugin state while the instance names the same
 * Redis the same way (every setting is in the key), and opened when the instance goes into service:
 * a reload changing the password or the timeout gets a store of its own, and the one it replaces is
 * disposed of at the swap (BuildEnv.state), which closes its connection with its last user.
 */
export function redisStore<T extends InService>(
  env: BuildEnv,
  id: string,
  redis: RedisSettings,
  make: () => T | null,
): T | null {
  const store = env.state(`${id}|redis|${JSON.stringify(redis)}`, make);
  if (store?.open !== undefined) env.atSwap(() => store.open!());
  return store;
}
