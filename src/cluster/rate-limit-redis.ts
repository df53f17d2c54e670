/**
 * `policy: redis`: the sliding window counter of rate-limit-policy.ts, kept in Redis so that every
 * node of a cluster counts against one limit. One decision is one round trip: a Lua script reads
 * the current and previous window of each limit, decides, and counts the request when admitted,
 * atomically (Kong's redis policy reads and increments in separate calls, so concurrent nodes
 * overshoot: kong#5311). Time is Redis's own (TIME), so the nodes' clocks need not agree.
 *
 * When Redis is slow (no answer within `redis.timeout`) or away, the node decides locally with
 * its share of the limit (the limit divided by the live nodes it last saw, src/cluster/membership.ts;
 * in a node with workers, counted by the primary for all of them, src/workers/counters.ts), logs
 * the switch and sets `fulcrum_rate_limit_fallback`; a PING every FALLBACK_PROBE_MS brings it
 * back to Redis once Redis answers in time.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { Collected, Counter, type Registry } from '../observability/registry.ts';
import {
  type Decision,
  type Limit,
  LocalPolicy,
  type PolicyRequest,
  type RateLimitPolicy,
  type RedisSettings,
  type Usage,
  waitMs,
} from '../plugins/rate-limit-policy.ts';
import { connectRedis, type Redis, type RedisTarget, ready } from './redis.ts';

/** While counting locally, how often Redis is asked whether it is back. */
export const FALLBACK_PROBE_MS = 500;

/**
 * KEYS[1]: the key prefix of one instance and identifier. ARGV: windowMs, limit pairs.
 * Returns: admitted (1/0), Redis's time in ms, then prev and cur count per limit (before this one).
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #ARGV / 2
local ok = 1
local out = {0, now}
local keys = {}
for i = 1, n do
  local W = tonumber(ARGV[2 * i - 1])
  local L = tonumber(ARGV[2 * i])
  local w = math.floor(now / W)
  local k = KEYS[1] .. ':' .. W .. ':'
  local cur = tonumber(redis.call('GET', k .. w) or '0')
  local prev = tonumber(redis.call('GET', k .. (w - 1)) or '0')
  local est = prev * (1 - (now - w * W) / W) + cur
  if est + 1 > L then ok = 0 end
  out[2 * i + 1] = prev
  out[2 * i + 2] = cur
  keys[i] = {k .. w, W}
end
if ok == 1 then
  for i = 1, n do
    redis.call('INCR', keys[i][1])
    redis.call('PEXPIRE', keys[i][1], 2 * keys[i][2] + 1000)
  end
end
out[1] = ok
return out
`;

type Client = Redis & {
  fulcrumRateLimit(key: string, ...args: (string | number)[]): Promise<number[]>;
};

/** The decision from the script's reply, on Redis's clock. */
function decide(reply: readonly number[], limits: readonly Limit[]): Decision {
  const allowed = reply[0] === 1;
  const now = reply[1]!;
  let retryAfterMs = 0;
  const usage: Usage[] = [];
  for (let i = 0; i < limits.length; i++) {
    const l = limits[i]!;
    const prev = reply[2 + 2 * i]!;
    const cur = reply[3 + 2 * i]!;
    const w = Math.floor(now / l.windowMs);
    const elapsed = now - w * l.windowMs;
    const est = prev * (1 - elapsed / l.windowMs) + cur;
    if (!allowed && est + 1 > l.limit) retryAfterMs = Math.max(retryAfterMs, waitMs(l, prev, cur, elapsed));
    usage.push({
      limit: l,
      remaining: Math.max(0, Math.floor(l.limit - est - (allowed ? 1 : 0))),
      resetMs: (w + 1) * l.windowMs - now,
    });
  }
  return { allowed, usage, retryAfterMs };
}

export interface RedisCountersDeps {
  readonly clock: Clock;
  readonly log: Logger;
  /** The cluster's Redis URL, for `policy: redis` without a host; null when the node has none. */
  readonly clusterUrl: string | null;
  /** The cluster's key prefix (`cluster.prefix`); `fulcrum` without a cluster. */
  readonly prefix?: string | undefined;
  /** How many nodes share a limit when Redis fails (the live nodes last seen); read at each decision. */
  share(): number;
  /**
   * Where the local fallback counts (a worker: its primary, exact across the node's workers); absent:
   * in this process.
   */
  localPolicy?(key: string, longestMs: number): RateLimitPolicy;
}

/** One connection per Redis the policies name, for the life of the node; and the fallback state. */
export class RedisCounters {
  private readonly deps: RedisCountersDeps;
  private readonly clients = new Map<string, Promise<Client>>();
  private readonly fallbacks = new Map<
    string,
    { policy: RateLimitPolicy; limits: readonly Limit[]; scaled: Limit[] }
  >();
  /** Per connection: counting locally since (monoMs), or absent. */
  private readonly local = new Map<string, number>();
  private readonly switches: Counter;
  private probing: ReturnType<Clock['setTimer']> | null = null;
  /** Decisions taken locally because Redis was slow or away (for tests and status). */
  localDecisions = 0;
  redisDecisions = 0;

  constructor(deps: RedisCountersDeps) {
    this.deps = deps;
    this.switches = new Counter(
      'fulcrum_rate_limit_policy_switches_total',
      'Switches of the redis rate-limit policy between counting in Redis and counting locally, by direction.',
    );
  }

  /** Put the policy's metrics on the node's registry (made after the counters: its runtime needs them). */
  register(registry: Registry): void {
    registry.add(this.switches);
    const local = this.local;
    registry.add(
      new Collected(
        'fulcrum_rate_limit_fallback',
        '1 while the redis rate-limit policy counts locally (Redis slow or away), per Redis.',
        'gauge',
        function* () {
          for (const k of local.keys()) yield [{ redis: k }, 1];
        },
      ),
    );
  }

  /** A policy for one instance, or null when it names no Redis (no host and no cluster). */
  policy(req: PolicyRequest): RateLimitPolicy | null {
    const r = req.conf.redis;
    const target: RedisTarget | null =
      r.host !== null
        ? {
            host: r.host,
            port: r.port,
            username: r.username,
            password: r.password,
            database: r.database,
            tls: r.ssl ? { verify: r.ssl_verify, serverName: r.server_name } : null,
          }
        : this.deps.clusterUrl !== null
          ? { url: this.deps.clusterUrl }
          : null;
    if (target === null) {
      this.deps.log.warn(
        { instance: req.key },
        'rate-limiting: policy redis without redis.host on a node without `cluster`: counting locally',
      );
      return null;
    }
    const name = target.url ?? `${target.host}:${target.port}/${target.database}`;
    const client = this.client(name, target, r);
    const key = `${this.deps.prefix ?? 'fulcrum'}:rl:${req.key}`;
    return {
      take: (who, nowMs, limits) =>
        this.take(name, client, r, `${key}:{${who}}`, req.key, who, nowMs, limits),
    };
  }

  private client(name: string, target: RedisTarget, r: RedisSettings): Promise<Client> {
    let c = this.clients.get(name);
    if (c === undefined) {
      c = connectRedis(target, { timeoutMs: r.timeout, name: 'fulcrum-rate-limit' }).then((client) => {
        client.defineCommand('fulcrumRateLimit', { numberOfKeys: 1, lua: SCRIPT });
        return client as Client;
      });
      this.clients.set(name, c);
    }
    return c;
  }

  private async take(
    name: string,
    client: Promise<Client>,
    r: RedisSettings,
    redisKey: string,
    instance: string,
    who: string,
    nowMs: number,
    limits: readonly Limit[],
  ): Promise<Decision> {
    if (!this.local.has(name)) {
      const c = await client;
      if (ready(c)) {
        const args: number[] = [];
        for (const l of limits) args.push(l.windowMs, l.limit);
        const reply = await this.within(c.fulcrumRateLimit(redisKey, ...args), r.timeout);
        if (Array.isArray(reply)) {
          this.redisDecisions++;
          return decide(reply, limits);
        }
        this.toLocal(name, c, reply === 'timeout' ? `no answer within ${r.timeout} ms` : reply);
      } else this.toLocal(name, c, 'not connected');
    }
    this.localDecisions++;
    return this.fallback(instance, limits).take(who, nowMs, this.scaled(instance, limits));
  }

  /** The reply, or `timeout`, or the error's message. */
  private within(p: Promise<number[]>, ms: number): Promise<number[] | string> {
    return new Promise((resolve) => {
      const timer = this.deps.clock.setTimer(ms, resolve, 'timeout');
      p.then(
        (v) => {
          this.deps.clock.clearTimer(timer);
          resolve(v);
        },
        (err: Error) => {
          this.deps.clock.clearTimer(timer);
          resolve(err.message);
        },
      );
    });
  }

  private fallback(instance: string, limits: readonly Limit[]): RateLimitPolicy {
    let f = this.fallbacks.get(instance);
    if (f === undefined) {
      const longestMs = Math.max(...limits.map((l) => l.windowMs));
      const policy = this.deps.localPolicy?.(`${instance}:fallback`, longestMs) ?? new LocalPolicy(longestMs);
      f = { policy, limits, scaled: [] };
      this.fallbacks.set(instance, f);
    }
    return f.policy;
  }

  /** Each process's share of the limits while Redis is away (at least 1 request per window). */
  private scaled(instance: string, limits: readonly Limit[]): Limit[] {
    const f = this.fallbacks.get(instance)!;
    const share = Math.max(1, this.deps.share());
    if (
      f.limits !== limits ||
      f.scaled.length === 0 ||
      f.scaled[0]!.limit !== Math.max(1, limits[0]!.limit / share)
    ) {
      f.limits = limits;
      f.scaled = limits.map((l) => ({ ...l, limit: Math.max(1, l.limit / share) }));
    }
    return f.scaled;
  }

  private toLocal(name: string, client: Redis, why: string): void {
    if (this.local.has(name)) return;
    this.local.set(name, this.deps.clock.monoMs());
    this.switches.labels({ to: 'local' }).inc();
    this.deps.log.warn(
      { redis: name, why, share: this.deps.share() },
      'rate limits: Redis is slow or away: counting locally, each node its share of the limit',
    );
    this.probe(name, client);
  }

  /** While local, ask Redis whether it is back; then count there again. */
  private probe(name: string, client: Redis): void {
    this.probing = this.deps.clock.setTimer(
      FALLBACK_PROBE_MS,
      () => {
        this.probing = null;
        if (!ready(client)) return this.probe(name, client);
        void this.within(client.ping() as unknown as Promise<number[]>, FALLBACK_PROBE_MS).then((r) => {
          if (r !== 'PONG' && (r as unknown) !== 'PONG') return this.probe(name, client);
          const since = this.local.get(name) ?? this.deps.clock.monoMs();
          this.local.delete(name);
          this.switches.labels({ to: 'redis' }).inc();
          this.deps.log.info(
            { redis: name, local_ms: Math.round(this.deps.clock.monoMs() - since) },
            'rate limits: Redis answers again: counting in Redis',
          );
        });
      },
      null,
    );
  }

  close(): void {
    if (this.probing !== null) this.deps.clock.clearTimer(this.probing);
    for (const c of this.clients.values()) void c.then((x) => x.disconnect());
    this.clients.clear();
  }
}
