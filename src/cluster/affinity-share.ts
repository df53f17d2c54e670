/**
 * Source-IP affinity tables shared by the nodes of a cluster (`sticky.source_ip.store: cluster`),
 * in the spirit of HAProxy's peers replicating stick tables: each node picks from its own table,
 * synchronously, as without sharing (src/upstreams/affinity-table.ts); what it assigns is written
 * to Redis and published, and every node applies what is published to its own table.
 *
 * In Redis, per upstream: a hash `<prefix>:affinity:{<upstream>}` (address → target id) and a
 * sorted set `<prefix>:affinity:{<upstream>}:at` (address → last use, on Redis's clock), both
 * expiring after the idle time without writes. Redis 7.0 has no per-field expiry (HEXPIRE came in
 * 7.4), so each write also forgets a few idle entries and, past the table size, the least recently
 * used ones (bounded work per write, as the local table's sweep). One Lua script writes and
 * publishes on `<prefix>:affinity`, atomically, so every node sees the writes in Redis's order.
 *
 * Conflicts: two nodes assigning one address at once both write; the later write wins in Redis,
 * and every node (the writers included: a node applies its own messages too) applies both
 * messages in that order, so all end on the later one. An entry still in use is refreshed at most
 * once per half idle time per node ("used": written only if Redis still names the same target, so
 * a refresh never undoes a newer assignment).
 *
 * A node reads the entries in force once after subscribing, and again after each reconnection
 * (what was published meanwhile is lost to it). Redis away: writes fail at once (the connection
 * queues nothing), each node keeps its own table, and one log line says so; writes waiting for an
 * answer are bounded (past MAX_PENDING, new ones are dropped and counted).
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { Counter, type Registry } from '../observability/registry.ts';
import type { AffinityShareChannel, AffinitySharing, AffinityTable } from '../upstreams/affinity-table.ts';
import { connectRedis, type Redis, ready, whenReady } from './redis.ts';

/** Writes sent and not yet answered, at most; past it new ones are dropped (counted). */
export const MAX_PENDING = 1000;
/** Entries read per round trip when a node loads a table. */
const LOAD_BATCH = 1000;
/** Idle or surplus entries forgotten in Redis per write, at most. */
const SWEEP_PER_WRITE = 32;

/**
 * KEYS: hash, sorted set. ARGV: address, target id, idle ms, table size, channel, message,
 * `used` (1: write only if the hash still names this target). Returns 1 when written.
 */
const WRITE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[7] == '1' and redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
local idle = tonumber(ARGV[3])
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now - idle, 'LIMIT', 0, ${SWEEP_PER_WRITE})
local over = redis.call('ZCARD', KEYS[2]) - #gone - tonumber(ARGV[4])
if over > 0 then
  -- The idle ones just found are the lowest scored: the least recently used come after them.
  local lru = redis.call('ZRANGE', KEYS[2], #gone, #gone + math.min(over, ${SWEEP_PER_WRITE}) - 1)
  for i = 1, #lru do gone[#gone + 1] = lru[i] end
end
for i = 1, #gone do
  redis.call('HDEL', KEYS[1], gone[i])
  redis.call('ZREM', KEYS[2], gone[i])
end
redis.call('PEXPIRE', KEYS[1], idle)
redis.call('PEXPIRE', KEYS[2], idle)
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
`;

/**
 * KEYS: hash, sorted set. ARGV: idle ms, offset, count. Returns Redis's time (ms), the number of
 * entries scanned, then address, target id and age (ms) of each entry used within the idle time,
 * most recent first.
 */
const LOAD = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local z = redis.call('ZRANGE', KEYS[2], '+inf', '(' .. (now - tonumber(ARGV[1])), 'BYSCORE', 'REV',
  'LIMIT', tonumber(ARGV[2]), tonumber(ARGV[3]), 'WITHSCORES')
local out = {now, #z / 2}
for i = 1, #z, 2 do
  local id = redis.call('HGET', KEYS[1], z[i])
  if id then
    out[#out + 1] = z[i]
    out[#out + 1] = id
    out[#out + 1] = now - tonumber(z[i + 1])
  end
end
return out
`;

type Client = Redis & {
  fulcrumAffinityWrite(hash: string, set: string, ...args: (string | number)[]): Promise<number>;
  fulcrumAffinityLoad(hash: string, set: string, ...args: (string | number)[]): Promise<(string | number)[]>;
};

export interface AffinityShareDeps {
  /** The cluster's Redis. */
  readonly url: string;
  readonly prefix: string;
  readonly timeoutMs: number;
  /** The clock the tables run on (their `monoMs`). */
  readonly clock: Clock;
  readonly log: Logger;
}

interface Shared {
  readonly table: AffinityTable;
  tableSize: number;
  idleMs: number;
}

export class AffinityShare implements AffinitySharing {
  private readonly deps: AffinityShareDeps;
  private readonly tables = new Map<string, Shared>();
  private readonly channel: string;
  private client: Client | null = null;
  private subscriber: Redis | null = null;
  private pending = 0;
  /** Whether the last write failed (the log says so once per outage). */
  private failing = false;
  /** Whether the connection has been ready once (before, a write that cannot go is not an outage). */
  private connected = false;
  private closed = false;
  readonly events: Counter;

  constructor(deps: AffinityShareDeps) {
    this.deps = deps;
    this.channel = `${deps.prefix}:affinity`;
    this.events = new Counter(
      'fulcrum_affinity_share_total',
      'Shared source-ip affinity entries, by event: written (to Redis and published), applied (from a message), loaded (read at start or reconnection), failed (a write Redis refused or did not answer), dropped (too many writes waiting).',
    );
  }

  register(registry: Registry): void {
    registry.add(this.events);
  }

  /** Share `table` (upstream `name`'s) from now on; the entries in force are read once connected. */
  attach(name: string, table: AffinityTable, tableSize: number, idleMs: number): void {
    if (this.closed) return;
    const had = this.tables.get(name);
    if (had !== undefined && had.table === table) {
      had.tableSize = tableSize;
      had.idleMs = idleMs;
      return;
    }
    this.tables.set(name, { table, tableSize, idleMs });
    table.share = this.channelFor(name);
    if (this.client === null) this.connect();
    else if (this.subscriber !== null && ready(this.subscriber)) void this.load(name);
  }

  /** Stop sharing upstream `name`'s table (the upstream is gone, or its table is local now). */
  detach(name: string): void {
    const s = this.tables.get(name);
    if (s === undefined) return;
    s.table.share = null;
    this.tables.delete(name);
  }

  private keys(name: string): [string, string] {
    const hash = `${this.deps.prefix}:affinity:{${name}}`;
    return [hash, `${hash}:at`];
  }

  private channelFor(name: string): AffinityShareChannel {
    return {
      assigned: (key, id) => this.write(name, key, id, false),
      used: (key, id) => this.write(name, key, id, true),
    };
  }

  private connect(): void {
    const o = { timeoutMs: this.deps.timeoutMs };
    void connectRedis({ url: this.deps.url }, { ...o, name: 'fulcrum-affinity' }).then((c) => {
      c.defineCommand('fulcrumAffinityWrite', { numberOfKeys: 2, lua: WRITE });
      c.defineCommand('fulcrumAffinityLoad', { numberOfKeys: 2, lua: LOAD });
      if (this.closed) return c.disconnect();
      this.client = c as Client;
      if (ready(c)) this.connected = true;
      else
        c.once('ready', () => {
          this.connected = true;
        });
    });
    void connectRedis({ url: this.deps.url }, { ...o, name: 'fulcrum-affinity-sub', blocking: true }).then(
      (sub) => {
        if (this.closed) return sub.disconnect();
        this.subscriber = sub;
        sub.on('message', (_ch: string, m: string) => this.receive(m));
        // At the first connection and at each reconnection (ioredis subscribes again by itself):
        // what was published while this node was not listening is read from the tables.
        sub.on('ready', () => this.subscribed(sub));
        if (ready(sub)) this.subscribed(sub);
      },
    );
  }

  private subscribed(sub: Redis): void {
    void sub.subscribe(this.channel).then(
      () => {
        for (const name of this.tables.keys()) void this.load(name);
      },
      () => {
        // Not connected after all: the next 'ready' tries again.
      },
    );
  }

  private write(name: string, key: string, id: string, used: boolean): void {
    const c = this.client;
    const s = this.tables.get(name);
    if (c === null || s === undefined || !ready(c)) return this.failed('not connected');
    if (this.pending >= MAX_PENDING) {
      this.events.labels({ event: 'dropped' }).inc();
      return;
    }
    this.pending++;
    const [hash, at] = this.keys(name);
    const message = JSON.stringify([name, key, id]);
    c.fulcrumAffinityWrite(
      hash,
      at,
      key,
      id,
      s.idleMs,
      s.tableSize,
      this.channel,
      message,
      used ? 1 : 0,
    ).then(
      (n) => {
        this.pending--;
        if (n === 1) this.events.labels({ event: 'written' }).inc();
        if (this.failing) {
          this.failing = false;
          this.deps.log.info('affinity: Redis answers again: source-ip assignments shared again');
        }
      },
      (err: Error) => {
        this.pending--;
        this.failed(err.message);
      },
    );
  }

  private failed(why: string): void {
    if (!this.connected) return;
    this.events.labels({ event: 'failed' }).inc();
    if (this.failing) return;
    this.failing = true;
    this.deps.log.warn(
      { why },
      "affinity: Redis is slow or away: each node's source-ip table is its own until Redis answers",
    );
  }

  private receive(m: string): void {
    let v: unknown;
    try {
      v = JSON.parse(m);
    } catch {
      return;
    }
    if (!Array.isArray(v) || v.length !== 3 || !v.every((x) => typeof x === 'string')) return;
    const [name, key, id] = v as [string, string, string];
    const s = this.tables.get(name);
    if (s === undefined) return;
    s.table.apply(key, id, this.deps.clock.monoMs());
    this.events.labels({ event: 'applied' }).inc();
  }

  /** Read upstream `name`'s entries in force into its table, oldest first (the table's order). */
  private async load(name: string): Promise<void> {
    const c = this.client;
    const s = this.tables.get(name);
    // The subscriber may be ready before the other connection: give it the timeout to be.
    if (c === null || s === undefined || !(await whenReady(c, this.deps.timeoutMs))) return;
    const [hash, at] = this.keys(name);
    const got: [string, string, number][] = [];
    let offset = 0;
    try {
      while (offset < s.tableSize) {
        const count = Math.min(LOAD_BATCH, s.tableSize - offset);
        const reply = await c.fulcrumAffinityLoad(hash, at, s.idleMs, offset, count);
        for (let i = 2; i + 2 < reply.length; i += 3)
          got.push([String(reply[i]), String(reply[i + 1]), Number(reply[i + 2])]);
        const scanned = Number(reply[1]);
        offset += scanned;
        if (scanned < count) break;
      }
    } catch (err) {
      this.failed((err as Error).message);
    }
    const now = this.deps.clock.monoMs();
    for (let i = got.length - 1; i >= 0; i--) {
      const [key, id, ageMs] = got[i]!;
      s.table.apply(key, id, now - ageMs);
    }
    this.events.labels({ event: 'loaded' }).inc(got.length);
  }

  close(): void {
    this.closed = true;
    for (const s of this.tables.values()) s.table.share = null;
    this.tables.clear();
    this.client?.disconnect();
    this.subscriber?.disconnect();
  }
}
