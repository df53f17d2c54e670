/**
 * Node membership of a cluster: every node heartbeats every HEARTBEAT_MS, which sets its own key
 * `<prefix>:node:<node_id>` with a TTL (LIVE_MS) and its score in the sorted set `<prefix>:nodes`
 * (the time of the heartbeat, on Redis's clock), and reads back the nodes heard from within
 * LIVE_MS, in one round trip (a Lua script). What it read is what this node calls the live nodes
 * until the next heartbeat: health probing is shared out over them (health-share.ts), and the
 * `policy: redis` rate limits divide their limit by their number while Redis is away
 * (rate-limit-redis.ts). While Redis is away, the list last read is kept.
 *
 * A node that stops leaves (its key and its entry are deleted); a node killed is dropped by the
 * others once LIVE_MS has passed without its heartbeat.
 *
 * The heartbeat also reads Redis's clock, from which the node keeps its estimate of the cluster's
 * time (clusterNowMs): the nodes' probing rounds start at the same instants of that time
 * (probe-rounds.ts), whatever their own clocks say.
 */
import process from 'node:process';
import type { Logger } from 'pino';
import type { Clock, TimerHandle } from '../core/clock.ts';
import { type Redis, ready } from './redis.ts';

/** How often a node says it is alive. */
export const HEARTBEAT_MS = 500;
/** A node not heard from for this long is not live (its key expires then too). */
export const LIVE_MS = 2 * HEARTBEAT_MS;
/** Heartbeats after which the clock offset is measured afresh, however slow that heartbeat. */
const OFFSET_REFRESH_BEATS = 120;
/** Entries of nodes gone for this long are removed from the sorted set. */
const FORGET_MS = 60_000;

/**
 * KEYS: node key, nodes set. ARGV: node id, live ms, forget ms, info. Returns Redis's time (ms),
 * then the live ids.
 */
const HEARTBEAT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[3]))
local live = redis.call('ZRANGEBYSCORE', KEYS[2], now - tonumber(ARGV[2]), '+inf')
table.insert(live, 1, tostring(now))
return live
`;

type Client = Redis & {
  fulcrumHeartbeat(
    node: string,
    nodes: string,
    id: string,
    liveMs: number,
    forgetMs: number,
    info: string,
  ): Promise<string[]>;
};

export class Membership {
  readonly nodeId: string;
  private readonly prefix: string;
  private readonly client: Client;
  private readonly clock: Clock;
  private readonly log: () => Logger;
  private timer: TimerHandle | null = null;
  private closed = false;
  /** The live nodes last read (sorted), this one included; [this node] before the first heartbeat. */
  private nodes: readonly string[];
  private first: Promise<void>;
  private firstDone: () => void = () => {};
  /** Redis's clock minus this node's (ms), as the quickest heartbeat measured it. */
  private offsetMs = 0;
  /** The round trip of the heartbeat `offsetMs` comes from (the estimate is within half of it). */
  private offsetRttMs = Number.POSITIVE_INFINITY;
  /** Heartbeats answered (tests wait on it). */
  beats = 0;
  /** Called with the number of live nodes when it changes (a primary tells its workers). */
  onChange: ((count: number) => void) | null = null;

  constructor(o: { client: Redis; prefix: string; nodeId: string; clock: Clock; log: () => Logger }) {
    this.client = o.client as Client;
    this.client.defineCommand('fulcrumHeartbeat', { numberOfKeys: 2, lua: HEARTBEAT });
    this.prefix = o.prefix;
    this.nodeId = o.nodeId;
    this.clock = o.clock;
    this.log = o.log;
    this.nodes = [o.nodeId];
    this.first = new Promise((r) => {
      this.firstDone = r;
    });
  }

  start(): void {
    void this.beat();
  }

  /** Resolves after the first heartbeat answered, or after `ms` (Redis away). */
  firstBeat(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = this.clock.setTimer(ms, resolve, undefined);
      void this.first.then(() => {
        this.clock.clearTimer(t);
        resolve();
      });
    });
  }

  /** The cluster's time (Redis's clock, estimated), in ms since the epoch. */
  clusterNowMs(): number {
    return this.clock.nowMs() + this.offsetMs;
  }

  /** The live nodes last read, sorted by id. */
  live(): readonly string[] {
    return this.nodes;
  }

  /** How many nodes were live at the last heartbeat Redis answered (at least 1). */
  count(): number {
    return Math.max(1, this.nodes.length);
  }

  private async beat(): Promise<void> {
    if (this.closed) return;
    if (ready(this.client)) {
      try {
        const sent = this.clock.nowMs();
        const [time, ...ids] = await this.client.fulcrumHeartbeat(
          `${this.prefix}:node:${this.nodeId}`,
          `${this.prefix}:nodes`,
          this.nodeId,
          LIVE_MS,
          FORGET_MS,
          JSON.stringify({ pid: process.pid, at: this.clock.nowMs() }),
        );
        this.measure(sent, Number(time), this.clock.nowMs());
        const next = [...ids].sort();
        if (!next.includes(this.nodeId)) next.push(this.nodeId);
        const changed = next.join('\n') !== this.nodes.join('\n');
        if (changed) this.log().info({ nodes: next, count: next.length }, 'cluster: live nodes changed');
        this.nodes = next;
        if (changed) this.onChange?.(next.length);
        this.beats++;
        this.firstDone();
      } catch (err) {
        this.log().debug({ err: (err as Error).message }, 'cluster: heartbeat failed');
      }
    }
    if (!this.closed) this.timer = this.clock.setTimer(HEARTBEAT_MS, () => void this.beat(), null);
  }

  /**
   * Keep the offset to Redis's clock from the quickest round trip (the tightest bound), unless the
   * one kept is a minute old in heartbeats: clocks drift, so a fresh, slower sample replaces it.
   */
  private measure(sent: number, redisMs: number, received: number): void {
    if (!Number.isFinite(redisMs)) return;
    const rtt = received - sent;
    if (rtt <= this.offsetRttMs || this.beats % OFFSET_REFRESH_BEATS === 0) {
      this.offsetRttMs = rtt;
      this.offsetMs = redisMs - (sent + received) / 2;
    }
  }

  /** Stop heartbeating and leave: the others drop this node at their next heartbeat. */
  async leave(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    if (!ready(this.client)) return;
    await Promise.all([
      this.client.del(`${this.prefix}:node:${this.nodeId}`),
      this.client.zrem(`${this.prefix}:nodes`, this.nodeId),
    ]).catch(() => {});
  }
}
