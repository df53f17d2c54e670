/**
 * rate-limiting: limit requests per second, minute, hour, day, month (30 days) and year (365
 * days) (Kong's rate-limiting fields, headers and message), counted by a sliding window counter
 * (rate-limit-policy.ts states the algorithm and its error bound). Kong's `redis` policy shares
 * counters between nodes (below); its `cluster` policy (counters in Kong's database) is counted
 * by each node on its own (a warning says so).
 *
 * Counters belong to the plugin instance and survive configuration reloads (BuildEnv.state). The
 * key is what `limit_by` names; a request without it (no consumer, no credential, no header, or
 * another path) is counted by its client address, as Kong does.
 *
 * Where counts live is the policy: `local` counts in this process, or, when the node runs several
 * worker processes, in the node's primary so that the limit holds across them (src/workers/);
 * `redis` counts in Redis for every node of a cluster (src/cluster/rate-limit-redis.ts), with
 * Kong's `redis_*` fields or the nested `redis` block (Kong 3.8's form). A shared policy answers
 * asynchronously: the hook then returns a Wait and is called again with the decision. The local
 * policy stays synchronous.
 */
import { ignored, native } from '../config/kong-fields.ts';
import type { Clock } from '../core/clock.ts';
import {
  type Decision,
  type Limit,
  LocalPolicy,
  type RateLimitPolicy,
  type RedisSettings,
} from './rate-limit-policy.ts';
import { REDIS_FIELDS, redisSettings, redisStore } from './redis-settings.ts';
import { bool, int, obj, optStr } from './schema-kit.ts';
import type { ConfigProblem, LocalReply, PluginDef, PluginRequest } from './types.ts';

const PERIODS = [
  ['second', 1000],
  ['minute', 60_000],
  ['hour', 3_600_000],
  ['day', 86_400_000],
  ['month', 30 * 86_400_000],
  ['year', 365 * 86_400_000],
] as const;

/** Kong's `cluster` policy keeps counters in Kong's database, which Fulcrum does not have. */
const NODE_LOCAL =
  'the cluster policy is counted by each node on its own (the local policy); `redis` shares counters between nodes';
/** A Redis field's example needs `policy: redis` beside it to mean anything. */
const redisField = (example: unknown) => native(example, { policy: 'redis' });

const LIMIT_BY = ['consumer', 'credential', 'ip', 'header', 'path', 'service'] as const;

export interface RateLimitingConfig {
  readonly limits: readonly Limit[];
  readonly limit_by: (typeof LIMIT_BY)[number];
  readonly header_name: string | null;
  readonly path: string | null;
  readonly policy: 'local' | 'cluster' | 'redis';
  /** `policy: redis`: where Redis is; host null: the node's cluster store (`cluster`). */
  readonly redis: RedisSettings;
  readonly hide_client_headers: boolean;
  readonly error_code: number;
  readonly error_message: string;
}

interface Built {
  readonly conf: RateLimitingConfig;
  readonly policy: RateLimitPolicy;
  readonly clock: Clock;
  readonly header: string;
  /**
   * `X-RateLimit-Limit-Second`, ... per limit: Kong's names in Kong's spelling (field names are
   * case-insensitive, but people grep `curl -i` output for them, as Kong's guide does).
   */
  readonly limitNames: readonly string[];
  readonly remainingNames: readonly string[];
  readonly limitValues: readonly string[];
  /** The policy answers with a promise (workers, Redis): the hook waits. */
  readonly shared: boolean;
}

/** The request's decision, kept between the hook's two calls when the policy answered later. */
const DECISION = 'rate-limiting';

const capitalized = (w: string) => w.charAt(0).toUpperCase() + w.slice(1);

/**
 * The counter keys of configured objects (consumers, credentials, services), made once per object:
 * the same string every request, whose hash the counters' Map keeps, not a new one to hash.
 */
const KEYS = new WeakMap<object, string>();

function keyOf(prefix: string, o: { readonly id: string }): string {
  let k = KEYS.get(o);
  if (k === undefined) {
    k = `${prefix}${o.id}`;
    KEYS.set(o, k);
  }
  return k;
}

function identifier(r: PluginRequest, c: RateLimitingConfig, header: string): string {
  switch (c.limit_by) {
    case 'consumer':
      if (r.consumer !== null) return keyOf('c:', r.consumer);
      break;
    case 'credential':
      if (r.credential !== null) return keyOf('k:', r.credential);
      break;
    case 'header': {
      const v = r.header(header);
      if (typeof v === 'string') return `h:${v}`;
      break;
    }
    case 'path':
      if (r.path === c.path) return `p:${r.path}`;
      break;
    case 'service':
      return keyOf('s:', r.service);
  }
  return `i:${r.realIp()}`;
}

export const rateLimiting: PluginDef<RateLimitingConfig, Built> = {
  name: 'rate-limiting',
  priority: 910,
  noConsumer: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      second: { type: ['number', 'null'], exclusiveMinimum: 0, description: 'Requests allowed per second.' },
      minute: { type: ['number', 'null'], exclusiveMinimum: 0, description: 'Requests allowed per minute.' },
      hour: { type: ['number', 'null'], exclusiveMinimum: 0, description: 'Requests allowed per hour.' },
      day: { type: ['number', 'null'], exclusiveMinimum: 0, description: 'Requests allowed per day.' },
      month: {
        type: ['number', 'null'],
        exclusiveMinimum: 0,
        description: 'Requests allowed per month (a sliding 30 days).',
      },
      year: {
        type: ['number', 'null'],
        exclusiveMinimum: 0,
        description: 'Requests allowed per year (a sliding 365 days).',
      },
      limit_by: {
        type: 'string',
        enum: [...LIMIT_BY],
        default: 'consumer',
        description:
          'What is counted: each consumer, credential, client address, header value, the `path`, or the whole service.',
      },
      header_name: optStr('The header counted by `limit_by: header`.'),
      path: optStr('The path counted by `limit_by: path` (other paths are counted by client address).'),
      policy: {
        type: 'string',
        enum: ['local', 'cluster', 'redis'],
        default: 'local',
        description:
          "Where counters live: `local` (this node: exact across its worker processes) or `redis` (shared by every node through Redis, with a local fallback while Redis is slow or away; docs/cluster.md). Kong's `cluster` (counters in Kong's database) is accepted and counted as `local`, with a warning: each node enforces the limit on its own.",
      },
      redis: obj(
        "Where Redis is, for `policy: redis` (Kong 3.8's nested form of the `redis_*` fields).",
        REDIS_FIELDS,
      ),
      ...Object.fromEntries(
        Object.entries(REDIS_FIELDS).map(([k, v]) => [
          `redis_${k}`,
          {
            ...(v as Record<string, unknown>),
            default: undefined,
            description: `Kong's flat form of \`redis.${k}\`.`,
          },
        ]),
      ),
      fault_tolerant: bool(
        'Accepted for Kong compatibility: a decision never fails (the redis policy falls back to local counting).',
        true,
      ),
      hide_client_headers: bool('Do not send the RateLimit-* and X-RateLimit-* headers.', false),
      error_code: int('The status of a refusal.', 100, 599, { default: 429 }),
      error_message: {
        type: 'string',
        description: 'The message of a refusal.',
        default: 'API rate limit exceeded',
      },
      sync_rate: { type: ['number', 'null'], description: 'Accepted for Kong compatibility; no effect.' },
    },
  },
  kong: {
    second: native(5),
    minute: native(100),
    hour: native(1000),
    day: native(10000),
    month: native(100000),
    year: native(1000000),
    limit_by: native('header', { header_name: 'x-user' }),
    header_name: native('x-user'),
    path: native('/v1'),
    policy: ignored(NODE_LOCAL, 'local', 'cluster', {}, ['redis']),
    fault_tolerant: native(false),
    hide_client_headers: native(true),
    error_code: native(503),
    error_message: native('slow down'),
    sync_rate: ignored(
      'counters are exact (counted per request, locally or in Redis); there is no periodic sync',
      -1,
      10,
    ),
    redis_host: redisField('redis.internal'),
    redis_port: redisField(6380),
    redis_password: redisField('secret'),
    redis_username: redisField('kong'),
    redis_ssl: redisField(true),
    redis_ssl_verify: redisField(true),
    redis_server_name: redisField('redis.internal'),
    redis_timeout: redisField(1000),
    redis_database: redisField(1),
    redis: redisField({ host: 'redis.internal', port: 6379 }),
  },
  check(raw, problems: ConfigProblem[]): RateLimitingConfig {
    const limits: Limit[] = [];
    for (const [period, windowMs] of PERIODS) {
      const v = raw[period] as number | null | undefined;
      if (v !== undefined && v !== null) limits.push({ period, windowMs, limit: v });
    }
    if (limits.length === 0)
      problems.push({
        path: [],
        message: 'give at least one limit: second, minute, hour, day, month or year',
      });
    const limitBy = (raw.limit_by as RateLimitingConfig['limit_by'] | undefined) ?? 'consumer';
    const headerName = (raw.header_name as string | null | undefined) ?? null;
    const path = (raw.path as string | null | undefined) ?? null;
    if (limitBy === 'header' && !headerName)
      problems.push({ path: ['header_name'], message: 'limit_by "header" needs a header_name' });
    if (limitBy === 'path' && !path)
      problems.push({ path: ['path'], message: 'limit_by "path" needs a path' });
    return {
      limits,
      limit_by: limitBy,
      header_name: headerName,
      path,
      policy: (raw.policy as RateLimitingConfig['policy'] | undefined) ?? 'local',
      redis: redisSettings(raw),
      hide_client_headers: (raw.hide_client_headers as boolean | undefined) ?? false,
      error_code: (raw.error_code as number | undefined) ?? 429,
      error_message: (raw.error_message as string | undefined) ?? 'API rate limit exceeded',
    };
  },
  build(conf, env, id) {
    const longest = Math.max(...conf.limits.map((l) => l.windowMs));
    // Counters survive a reload when the limits keep their periods; new periods start afresh.
    const key = `${id}|${conf.limits.map((l) => l.period).join(',')}`;
    const ask = () => env.counters?.policy({ key, longestMs: longest, conf }) ?? null;
    // A Redis connection is kept while the instance names that Redis the same way (redisStore).
    const shared = conf.policy === 'redis' ? redisStore(env, key, conf.redis, ask) : ask();
    const policy = shared ?? env.state(key, () => new LocalPolicy(longest));
    return {
      conf,
      policy,
      shared: shared !== null,
      clock: env.clock,
      header: (conf.header_name ?? '').toLowerCase(),
      limitNames: conf.limits.map((l) => `X-RateLimit-Limit-${capitalized(l.period)}`),
      remainingNames: conf.limits.map((l) => `X-RateLimit-Remaining-${capitalized(l.period)}`),
      limitValues: conf.limits.map((l) => String(l.limit)),
    };
  },
  access(r, b) {
    const c = b.conf;
    let d: Decision;
    if (b.shared) {
      // Called again once the policy has answered (types.ts: Wait).
      const kept = r.data(DECISION) as Decision | undefined;
      if (kept === undefined) {
        const asked = b.policy.take(identifier(r, c, b.header), b.clock.nowMs(), c.limits);
        if (asked instanceof Promise) return { wait: asked.then((x) => r.setData(DECISION, x)) };
        d = asked;
      } else d = kept;
    } else d = b.policy.take(identifier(r, c, b.header), b.clock.nowMs(), c.limits) as Decision;
    if (!c.hide_client_headers) {
      // RateLimit-* (draft-ietf-httpapi-ratelimit-headers) describe the tightest limit.
      let tight = d.usage[0]!;
      for (let i = 0; i < d.usage.length; i++) {
        const u = d.usage[i]!;
        if (u.remaining < tight.remaining) tight = u;
        r.addResponseHeader(b.limitNames[i]!, b.limitValues[i]!);
        r.addResponseHeader(b.remainingNames[i]!, String(u.remaining));
      }
      r.addResponseHeader('RateLimit-Limit', String(tight.limit.limit));
      r.addResponseHeader('RateLimit-Remaining', String(tight.remaining));
      r.addResponseHeader('RateLimit-Reset', String(Math.max(1, Math.ceil(tight.resetMs / 1000))));
    }
    if (d.allowed) return null;
    const reply: LocalReply = {
      status: c.error_code,
      reason: 'rate-limited',
      headers: { 'retry-after': String(Math.max(1, Math.ceil(d.retryAfterMs / 1000))) },
      body: { message: c.error_message },
    };
    return reply;
  },
};
