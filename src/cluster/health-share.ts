/**
 * Health probing shared by the nodes of a cluster (the HealthShare of src/health/share.ts, between
 * nodes): each target is probed once per interval by one node of the cluster, not by every node.
 *
 * - **Who probes**: each target (upstream, target, interval) has a preferred node, chosen by
 *   rendezvous hashing over the live nodes (membership.ts), so the targets spread evenly and only
 *   the targets of a node that comes or goes move. Probing needs a **lease** in Redis,
 *   `<prefix>:hc:<upstream>:<target>:<interval>`, holding the prober's id for one interval plus a
 *   grace: its holder renews it at each round; another node takes it only when it is free. So two
 *   nodes never probe a target in one interval, whatever their views of the membership.
 * - **Handing over**: a holder that is no longer the preferred node (a node joined) hands the lease
 *   over (`><node>`): only that node may take it, at its next round, or anyone once it expires.
 * - **A node that dies**: its leases expire one interval (plus grace) after its last probe, and the
 *   first live node whose round comes next takes each one; they settle on their new preferred
 *   nodes once the dead node's heartbeat has expired (LIVE_MS).
 * - **What is learnt** (probe outcomes, passive ejections, states set through the admin API) is
 *   published on the channel `<prefix>:health`; every other node applies it as if it were its own
 *   (UpstreamHealth.receive), and passes it on to its worker processes.
 * - **Redis away** (not connected, or a lease not answered within the cluster timeout): this node
 *   probes every target itself, as a node alone, and logs the switch; back to leases when Redis
 *   answers.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import type { HealthEvent, HealthShare } from '../health/share.ts';
import type { Membership } from './membership.ts';
import { connectRedis, type Redis, ready } from './redis.ts';

/** KEYS: lease. ARGV: node id, ttl ms. 1 when this node holds the lease now. */
const ACQUIRE = `
local h = redis.call('GET', KEYS[1])
if h == false or h == ARGV[1] or h == '>' .. ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

/** KEYS: lease. ARGV: node id, the node it goes to, ttl ms. */
const HAND_OVER = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], '>' .. ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
`;

/** KEYS: lease. ARGV: node id. */
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

type Client = Redis & {
  fulcrumLease(key: string, id: string, ttlMs: number): Promise<number>;
  fulcrumHandOver(key: string, id: string, to: string, ttlMs: number): Promise<number>;
  fulcrumRelease(key: string, id: string): Promise<number>;
};

/** The grace a lease lasts past its interval: the holder's next round may be late by this much. */
export function leaseTtlMs(intervalMs: number): number {
  return intervalMs + Math.max(100, Math.round(intervalMs / 4));
}

/** FNV-1a of a string, mixed (the rendezvous weight of a node for a key). */
function weight(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** The node of `nodes` a key prefers (highest random weight). */
export function preferred(nodes: readonly string[], key: string): string {
  let best = nodes[0]!;
  let w = -1;
  for (const n of nodes) {
    const x = weight(`${n}\n${key}`);
    if (x > w || (x === w && n < best)) {
      w = x;
      best = n;
    }
  }
  return best;
}

/** An event as this code publishes it (another version's or a stray message is dropped). */
function wellFormed(e: unknown): e is HealthEvent {
  if (typeof e !== 'object' || e === null) return false;
  const x = e as Record<string, unknown>;
  if (typeof x.upstream !== 'string' || typeof x.target !== 'string') return false;
  switch (x.kind) {
    case 'active':
      return typeof x.outcome === 'number' || typeof x.outcome === 'string';
    case 'eject':
      return typeof x.reason === 'string';
    case 'state':
      return (x.health === 'healthy' || x.health === 'unhealthy') && typeof x.draining === 'boolean';
    default:
      return false;
  }
}

export interface ClusterHealthDeps {
  readonly client: Redis;
  readonly membership: Membership;
  /** For the subscriber connection (blocking: no command timeout). */
  readonly redisUrl: string;
  readonly prefix: string;
  readonly timeoutMs: number;
  readonly clock: Clock;
  /** The node's logger (read at each line: the node's own exists only once it is made). */
  readonly log: () => Logger;
}

export class ClusterHealth implements HealthShare {
  private readonly deps: ClusterHealthDeps;
  private readonly client: Client;
  private subscriber: Redis | null = null;
  private readonly channel: string;
  /** The node's worker processes (their share), when it has some: events go to them too. */
  private local: HealthShare | null = null;
  /** Leases this node believes it holds. */
  private readonly held = new Set<string>();
  /** Probing every target alone since Redis went away. */
  private alone = false;
  private closed = false;
  /** Applies an event another node published (the node's HealthRegistry.receive), once set. */
  apply: (e: HealthEvent) => void = () => {};
  /** Probes this node made, by lease held or alone (tests and status). */
  probed = 0;
  received = 0;

  constructor(deps: ClusterHealthDeps) {
    this.deps = deps;
    this.client = deps.client as Client;
    this.client.defineCommand('fulcrumLease', { numberOfKeys: 1, lua: ACQUIRE });
    this.client.defineCommand('fulcrumHandOver', { numberOfKeys: 1, lua: HAND_OVER });
    this.client.defineCommand('fulcrumRelease', { numberOfKeys: 1, lua: RELEASE });
    this.channel = `${deps.prefix}:health`;
  }

  /** Subscribe to what the other nodes publish. */
  async start(): Promise<void> {
    const sub = await connectRedis(
      { url: this.deps.redisUrl },
      { timeoutMs: this.deps.timeoutMs, name: 'fulcrum-health', blocking: true },
    );
    if (this.closed) return sub.disconnect();
    this.subscriber = sub;
    const subscribe = () => void sub.subscribe(this.channel).catch(() => {});
    sub.on('ready', subscribe);
    if (ready(sub)) subscribe();
    sub.on('message', (channel: string, text: string) => {
      if (channel === this.channel) this.message(text);
    });
  }

  /** Pass events on to the node's worker processes too (src/workers/primary.ts). */
  chain(local: HealthShare): void {
    this.local = local;
  }

  async probes(upstream: string, target: string, intervalMs: number): Promise<boolean> {
    if (this.closed) return false;
    const key = `${this.deps.prefix}:hc:${upstream}:${target}:${intervalMs}`;
    const me = this.deps.membership.nodeId;
    if (!ready(this.client)) return this.probeAlone('not connected');
    const ttl = leaseTtlMs(intervalMs);
    try {
      const want = preferred(this.deps.membership.live(), key);
      if (want !== me && this.held.has(key)) {
        this.held.delete(key);
        await this.within(this.client.fulcrumHandOver(key, me, want, ttl));
        return this.sharing(false);
      }
      const got = (await this.within(this.client.fulcrumLease(key, me, ttl))) === 1;
      if (got) this.held.add(key);
      else this.held.delete(key);
      return this.sharing(got);
    } catch (err) {
      return this.probeAlone((err as Error).message);
    }
  }

  /** A lease answered: probing is shared (again). */
  private sharing(mine: boolean): boolean {
    if (this.alone) {
      this.alone = false;
      this.deps.log().info('health: Redis answers again: probes shared among the live nodes');
    }
    if (mine) this.probed++;
    return mine;
  }

  private probeAlone(why: string): boolean {
    if (!this.alone) {
      this.alone = true;
      this.held.clear();
      this.deps.log().warn({ why }, 'health: Redis is away: this node probes every target itself');
    }
    this.probed++;
    return true;
  }

  private within<T>(p: Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      const t = this.deps.clock.setTimer(this.deps.timeoutMs, reject, new Error('lease: no answer in time'));
      p.then(
        (v) => {
          this.deps.clock.clearTimer(t);
          resolve(v);
        },
        (err: unknown) => {
          this.deps.clock.clearTimer(t);
          reject(err);
        },
      );
    });
  }

  publish(e: HealthEvent): void {
    this.local?.publish(e);
    this.forward(e);
  }

  /** An event from this node's worker (a passive ejection): to the other nodes only. */
  forward(e: HealthEvent): void {
    if (this.closed || !ready(this.client)) return;
    const text = JSON.stringify({ n: this.deps.membership.nodeId, e });
    this.client.publish(this.channel, text).catch(() => {});
  }

  private message(text: string): void {
    let m: { n?: unknown; e?: HealthEvent };
    try {
      m = JSON.parse(text) as typeof m;
    } catch {
      return;
    }
    if (m.n === this.deps.membership.nodeId || !wellFormed(m.e)) return;
    this.received++;
    this.apply(m.e);
    this.local?.publish(m.e);
  }

  /** What `/status` shows under `cluster.health`. */
  status(): Record<string, unknown> {
    return {
      leases: this.held.size,
      probing_alone: this.alone,
      probes: this.probed,
      events_received: this.received,
    };
  }

  /** Give up the leases held (the others take them at their next round) and stop listening. */
  async close(): Promise<void> {
    this.closed = true;
    const me = this.deps.membership.nodeId;
    if (ready(this.client))
      await Promise.all([...this.held].map((k) => this.client.fulcrumRelease(k, me).catch(() => 0)));
    this.held.clear();
    this.subscriber?.disconnect();
  }
}
