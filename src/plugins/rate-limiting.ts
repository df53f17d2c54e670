/**
 * rate-limiting: limit requests per second, minute, hour, day, month (30 days) and year (365
 * days) (Kong's rate-limiting fields, headers and message), counted by a sliding window counter
 * (rate-limit-policy.ts states the algorithm and its error bound). Kong's `cluster` and `redis`
 * policies share counters between nodes; here every node counts on its own (a warning says so).
 *
 * Counters belong to the plugin instance and survive configuration reloads (BuildEnv.state). The
 * key is what `limit_by` names; a request without it (no consumer, no credential, no header, or
 * another path) is counted by its client address, as Kong does.
 */
import { ignored, native } from '../config/kong-fields.ts';
import type { Clock } from '../core/clock.ts';
import { type Limit, LocalPolicy, type RateLimitPolicy } from './rate-limit-policy.ts';
import { bool, int, optStr } from './schema-kit.ts';
import type { ConfigProblem, LocalReply, PluginDef, PluginRequest } from './types.ts';

const PERIODS = [
  ['second', 1000],
  ['minute', 60_000],
  ['hour', 3_600_000],
  ['day', 86_400_000],
  ['month', 30 * 86_400_000],
  ['year', 365 * 86_400_000],
] as const;

/** Kong's shared Redis settings (the `redis` record, 3.6+), as a dump writes their defaults. */
const REDIS_DEFAULTS = { port: 6379, timeout: 2000, database: 0, ssl: false, ssl_verify: false };
const NODE_LOCAL = 'counters are kept by each node (the local policy); Redis is not used';
const redisField = (dflt: unknown, example: unknown) => ignored(NODE_LOCAL, dflt, example);

const LIMIT_BY = ['consumer', 'credential', 'ip', 'header', 'path', 'service'] as const;

export interface RateLimitingConfig {
  readonly limits: readonly Limit[];
  readonly limit_by: (typeof LIMIT_BY)[number];
  readonly header_name: string | null;
  readonly path: string | null;
  readonly policy: 'local' | 'cluster' | 'redis';
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
}

const capitalized = (w: string) => w.charAt(0).toUpperCase() + w.slice(1);

function identifier(r: PluginRequest, c: RateLimitingConfig, header: string): string {
  switch (c.limit_by) {
    case 'consumer':
      if (r.consumer !== null) return `c:${r.consumer.id}`;
      break;
    case 'credential':
      if (r.credential !== null) return `k:${r.credential.id}`;
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
      return `s:${r.service.id}`;
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
          "Where counters live: `local` (this process). Kong's `cluster` and `redis` are accepted and counted locally too, with a warning: each node enforces the limit on its own.",
      },
      fault_tolerant: bool('Accepted for Kong compatibility (the local policy cannot fail).', true),
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
    policy: ignored(NODE_LOCAL, 'local', 'redis'),
    fault_tolerant: native(false),
    hide_client_headers: native(true),
    error_code: native(503),
    error_message: native('slow down'),
    sync_rate: ignored('counters are local and always exact', -1, 10),
    redis_host: redisField(undefined, 'redis.internal'),
    redis_port: redisField(6379, 6380),
    redis_password: redisField(undefined, 'secret'),
    redis_username: redisField(undefined, 'kong'),
    redis_ssl: redisField(false, true),
    redis_ssl_verify: redisField(false, true),
    redis_server_name: redisField(undefined, 'redis.internal'),
    redis_timeout: redisField(2000, 1000),
    redis_database: redisField(0, 1),
    redis: {
      ...redisField(REDIS_DEFAULTS, { host: 'redis.internal', port: 6379 }),
      schema: { type: 'object' },
    },
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
      hide_client_headers: (raw.hide_client_headers as boolean | undefined) ?? false,
      error_code: (raw.error_code as number | undefined) ?? 429,
      error_message: (raw.error_message as string | undefined) ?? 'API rate limit exceeded',
    };
  },
  build(conf, env, id) {
    const longest = Math.max(...conf.limits.map((l) => l.windowMs));
    // Counters survive a reload when the limits keep their periods; new periods start afresh.
    const key = `${id}|${conf.limits.map((l) => l.period).join(',')}`;
    return {
      conf,
      policy: env.state(key, () => new LocalPolicy(longest)),
      clock: env.clock,
      header: (conf.header_name ?? '').toLowerCase(),
      limitNames: conf.limits.map((l) => `X-RateLimit-Limit-${capitalized(l.period)}`),
      remainingNames: conf.limits.map((l) => `X-RateLimit-Remaining-${capitalized(l.period)}`),
      limitValues: conf.limits.map((l) => String(l.limit)),
    };
  },
  access(r, b) {
    const c = b.conf;
    const d = b.policy.take(identifier(r, c, b.header), b.clock.nowMs(), c.limits);
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
