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
  type Usage,
  waitMs,
} from '../plugins/rate-limit-policy.ts';
import { type NamedRedis, namedRedis, PluginRedis, probeUntilBack, redisTarget } from './plugin-redis.ts';
import { connectRedis, type Redis, ready } from './redis.ts';

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

/**
 * One Redis as the policies name it (address and every connection setting): its connection, made
 * when a plugin instance using it goes into service (plugin-redis.ts), and whether the node counts
 * locally for it.
 */
class Connection {
  readonly name: string;
  readonly timeoutMs: number;
  readonly client: Promise<Client>;
  /** Counting locally since (monoMs), or null: counting in Redis. */
  localSince: number | null = null;
  /** While local: the PING that brings it back. */
  probing: { stop(): void } | null = null;
  /** No instance in service uses it any more: decisions still asking it are taken locally, quietly. */
  closed = false;

  constructor(n: NamedRedis) {
    this.name = n.name;
    this.timeoutMs = n.settings.timeout;
    this.client = connectRedis(redisTarget(n), {
      timeoutMs: this.timeoutMs,
      name: 'fulcrum-rate-limit',
    }).then((client) => {
      client.defineCommand('fulcrumRateLimit', { numberOfKeys: 1, lua: SCRIPT });
      return client as Client;
    });
  }

  close(): void {
    this.closed = true;
    this.probing?.stop();
    this.probing = null;
    void this.client.then((c) => c.disconnect());
  }
}

/** An instance's local fallback (made when first needed), kept while a policy of it is in service. */
interface Instance {
  users: number;
  fallback: { policy: RateLimitPolicy; limits: readonly Limit[]; scaled: Limit[] } | null;
}

/**
 * The node's `policy: redis` counting: one connection per Redis named (and per way of naming it:
 * another password or timeout is another connection), open while a plugin instance in service uses
 * it; and the local fallback, per instance.
 */
export class RedisCounters {
  private readonly deps: RedisCountersDeps;
  private readonly connections = new PluginRedis<Connection>((n) => new Connection(n));
  /** Per instance in service (by its state key): its policies in service, and its local fallback. */
  private readonly instances = new Map<string, Instance>();
  private readonly switches: Counter;
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
    const connections = this.connections;
    registry.add(
      new Collected(
        'fulcrum_rate_limit_fallback',
        '1 while the redis rate-limit policy counts locally (Redis slow or away), per Redis.',
        'gauge',
        function* () {
          for (const name of connections.names((c) => c.localSince !== null)) yield [{ redis: name }, 1];
        },
      ),
    );
  }

  /**
   * A policy for one instance, or null when it names no Redis (no host and no cluster). Its
   * connection is taken when the instance goes into service (`open`, at the swap) and given back
   * when it is dropped (`dispose`); decisions asked outside that time (requests of a generation
   * retired since) are taken by the local fallback.
   */
  policy(req: PolicyRequest): RateLimitPolicy | null {
    const n = namedRedis(req.conf.redis, this.deps.clusterUrl);
    if (n === null) {
      this.deps.log.warn(
        { instance: req.key },
        'rate-limiting: policy redis without redis.host on a node without `cluster`: counting locally',
      );
      return null;
    }
    const lease = this.connections.lease(n);
    const key = `${this.deps.prefix ?? 'fulcrum'}:rl:${req.key}`;
    return {
      take: (who, nowMs, limits) => this.take(lease.held, `${key}:{${who}}`, req.key, who, nowMs, limits),
      open: () => {
        lease.open();
        if (lease.held === null) return;
        const i = this.instances.get(req.key) ?? { users: 0, fallback: null };
        i.users++;
        this.instances.set(req.key, i);
      },
      dispose: () => {
        const was = lease.held !== null;
        lease.dispose();
        const i = this.instances.get(req.key);
        // The instance's local counts go with its last policy in service (a reload onto another
        // connection opens the new policy before it disposes of the old one: they are kept).
        if (was && i !== undefined && --i.users === 0) this.instances.delete(req.key);
      },
    };
  }

  private async take(
    c: Connection | null,
    redisKey: string,
    instance: string,
    who: string,
    nowMs: number,
    limits: readonly Limit[],
  ): Promise<Decision> {
    if (c !== null && c.localSince === null) {
      const client = await c.client;
      if (ready(client)) {
        const args: number[] = [];
        for (const l of limits) args.push(l.windowMs, l.limit);
        const reply = await this.within(client.fulcrumRateLimit(redisKey, ...args), c.timeoutMs);
        if (Array.isArray(reply)) {
          this.redisDecisions++;
          return decide(reply, limits);
        }
        this.toLocal(c, client, reply === 'timeout' ? `no answer within ${c.timeoutMs} ms` : reply);
      } else this.toLocal(c, client, 'not connected');
    }
    this.localDecisions++;
    const f = this.fallback(instance, limits);
    return f.policy.take(who, nowMs, this.scaled(f, limits));
  }
  /** The reply, or `timeout`, or the error's message. */
  private within<T>(p: Promise<T>, ms: number): Promise<T | string> {
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

  /**
   * The instance's local fallback; one of its own for a decision outside its time in service (a
   * request of a generation retired since), which is not kept.
   */
  private fallback(instance: string, limits: readonly Limit[]): NonNullable<Instance['fallback']> {
    const i = this.instances.get(instance);
    if (i !== undefined && i.fallback !== null) return i.fallback;
    const longestMs = Math.max(...limits.map((l) => l.windowMs));
    const policy = this.deps.localPolicy?.(`${instance}:fallback`, longestMs) ?? new LocalPolicy(longestMs);
    const f = { policy, limits, scaled: [] };
    if (i !== undefined) i.fallback = f;
    return f;
  }

  /** Each process's share of the limits while Redis is away (at least 1 request per window). */
  private scaled(f: NonNullable<Instance['fallback']>, limits: readonly Limit[]): Limit[] {
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

  private toLocal(c: Connection, client: Redis, why: string): void {
    // A connection closed while a decision waited on it (its last instance was dropped) failed
    // because it was closed, not because Redis is away: nothing to switch or probe.
    if (c.localSince !== null || c.closed) return;
    c.localSince = this.deps.clock.monoMs();
    this.switches.labels({ to: 'local' }).inc();
    this.deps.log.warn(
      { redis: c.name, why, share: this.deps.share() },
      'rate limits: Redis is slow or away: counting locally, each node its share of the limit',
    );
    // While local, ask Redis whether it is back; then count there again.
    c.probing = probeUntilBack(
      this.deps.clock,
      FALLBACK_PROBE_MS,
      async () => ready(client) && (await this.within(client.ping(), FALLBACK_PROBE_MS)) === 'PONG',
      () => {
        const since = c.localSince ?? this.deps.clock.monoMs();
        c.localSince = null;
        c.probing = null;
        this.switches.labels({ to: 'redis' }).inc();
        this.deps.log.info(
          { redis: c.name, local_ms: Math.round(this.deps.clock.monoMs() - since) },
          'rate limits: Redis answers again: counting in Redis',
        );
      },
    );
  }

  close(): void {
    this.connections.close();
  }
}
