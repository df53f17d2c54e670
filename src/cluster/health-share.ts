/**
 * Health probing shared by the nodes of a cluster (the HealthShare of src/health/share.ts, between
 * nodes): each target is probed once per interval by one node of the cluster, not by every node.
 *
 * - **When and who** (probe-rounds.ts): every node runs an upstream's probing rounds at the same
 *   instants of the cluster's time; in each round a target is probed by the node that claims the
 *   round first in Redis (`<prefix>:hc:<upstream>:<target>:<interval>` holds the last round claimed
 *   and by whom; a claim of that round or an earlier one is refused). The live nodes are ranked per
 *   target by rendezvous hashing: the first claims at the round's start, the standbys a slack later.
 * - **A node that dies**: its targets' next round is claimed by their standby, one slack late;
 *   once its heartbeat has expired (membership.ts) the standby is first and claims on time.
 * - **What is learnt** (probe outcomes, passive ejections, states set through the admin API) is
 *   published on the channel `<prefix>:health`; every other node applies it as if it were its own
 *   (UpstreamHealth.receive), and passes it on to its worker processes.
 * - **Redis away** (not connected, or a claim not answered within the cluster timeout): this node
 *   probes every target itself, as a node alone, and logs the switch; back to claims when Redis
 *   answers.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import type { HealthEvent, HealthShare } from '../health/share.ts';
import type { Membership } from './membership.ts';
import { CLAIM, claimTtlMs, nextRound, phaseMs, ranking, STANDBYS, takeoverSlackMs } from './probe-rounds.ts';
import { connectRedis, type Redis, ready } from './redis.ts';

type Client = Redis & {
  fulcrumClaim(key: string, round: number, id: string, ttlMs: number): Promise<number>;
};

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
  /** The targets (claim keys) this node probed in its last round of them, with that round. */
  private readonly held = new Map<string, number>();
  /** Probing every target alone since Redis went away. */
  private alone = false;
  private closed = false;
  /** Applies an event another node published (the node's HealthRegistry.receive), once set. */
  apply: (e: HealthEvent) => void = () => {};
  /** Probes this node made, by round claimed or alone (tests and status). */
  probed = 0;
  received = 0;

  constructor(deps: ClusterHealthDeps) {
    this.deps = deps;
    this.client = deps.client as Client;
    this.client.defineCommand('fulcrumClaim', { numberOfKeys: 1, lua: CLAIM });
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

  /** The next round of an upstream's loop (the same instants on every node: probe-rounds.ts). */
  nextRound(upstream: string, intervalMs: number, after: number): { round: number; waitMs: number } {
    const now = this.deps.membership.clusterNowMs();
    return nextRound(now, intervalMs, phaseMs(upstream, intervalMs), after);
  }

  async probes(upstream: string, target: string, intervalMs: number, round?: number): Promise<boolean> {
    if (this.closed) return false;
    const key = `${this.deps.prefix}:hc:${upstream}:${target}:${intervalMs}`;
    const me = this.deps.membership.nodeId;
    if (!ready(this.client)) return this.probeAlone('not connected');
    const rank = ranking(this.deps.membership.live(), key).indexOf(me);
    if (rank > STANDBYS) {
      this.held.delete(key);
      return this.sharing(false);
    }
    const r = round ?? this.nextRound(upstream, intervalMs, -1).round - 1;
    if (rank > 0) await this.pause(rank * takeoverSlackMs(intervalMs));
    if (this.closed) return false;
    try {
      const got = (await this.within(this.client.fulcrumClaim(key, r, me, claimTtlMs(intervalMs)))) === 1;
      if (got) this.held.set(key, r);
      else this.held.delete(key);
      return this.sharing(got);
    } catch (err) {
      return this.probeAlone((err as Error).message);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => this.deps.clock.setTimer(ms, resolve, undefined));
  }

  /** A claim answered: probing is shared (again). */
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
      const t = this.deps.clock.setTimer(this.deps.timeoutMs, reject, new Error('claim: no answer in time'));
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

  /** Stop claiming (the standbys take the next rounds) and stop listening. */
  async close(): Promise<void> {
    this.closed = true;
    this.held.clear();
    this.subscriber?.disconnect();
  }
}
