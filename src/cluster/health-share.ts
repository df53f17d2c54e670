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
 *   (UpstreamHealth.receive), and passes it on to its worker processes. The verdict each event led
 *   to is recorded with it (verdicts.ts), and a node reads the verdicts in force once subscribed (at
 *   start, before it serves, and after each reconnection).
 * - **Redis away** (not connected, or a claim not answered within the cluster timeout): this node
 *   probes every target itself, as a node alone, and logs the switch; back to claims when Redis
 *   answers.
 * - **Not subscribed** (commands pass but the subscription to `<prefix>:health` is down or never
 *   came up) for longer than the cluster timeout (at least 2 s): this node cannot hear the others'
 *   outcomes, and before its first subscription it has not read the verdicts either, so it would
 *   claim no round at all; it probes every target itself instead, as when Redis is away, until
 *   subscribed again.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import type { HealthEvent, HealthShare } from '../health/share.ts';
import { Collected, type Registry } from '../observability/registry.ts';
import type { Membership } from './membership.ts';
import { CLAIM, claimTtlMs, nextRound, phaseMs, ranking, STANDBYS, takeoverSlackMs } from './probe-rounds.ts';
import { connectRedis, type Redis, ready } from './redis.ts';
import {
  PUBLISH_AND_RECORD,
  READ,
  type Verdict,
  verdictEntry,
  verdictEvents,
  verdictField,
} from './verdicts.ts';

/** How long a starting node waits for the verdicts in force at most (or the cluster timeout). */
const VERDICTS_WAIT_MS = 2_000;

type Client = Redis & {
  fulcrumClaim(key: string, round: number, id: string, ttlMs: number): Promise<number>;
  fulcrumRecord(
    hash: string,
    channel: string,
    message: string,
    field: string,
    entry: string,
  ): Promise<number>;
  fulcrumVerdicts(hash: string): Promise<string[]>;
};

/** What a node gives its share: how to apply another node's event, and its own verdicts. */
export interface ClusterHealthHooks {
  /** Apply an event another node published (the node's HealthRegistry.receive). */
  apply(e: HealthEvent): void;
  /** The verdict this node holds for a target (HealthRegistry.verdict), or null if unknown. */
  verdict(upstream: string, target: string): Verdict | null;
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
  /** The targets (claim keys) this node probed in its last round of them, with that round. */
  private readonly held = new Map<string, number>();
  /** Why this node probes every target alone (Redis away, or not subscribed), or null: shared. */
  private alone: 'away' | 'unsubscribed' | null = null;
  /** Subscribed to the channel now. */
  private subscribed = false;
  /** Since when (monotonic ms) not subscribed: from the start, and from each loss. */
  private unsubscribedSinceMs: number;
  private closed = false;
  /** Set by attach (the node exists once its share does). */
  private hooks: ClusterHealthHooks | null = null;
  private readonly verdicts: string;
  /** Events received while the verdicts are read (applied after them), or null when not reading. */
  private heldBack: HealthEvent[] | null = null;
  /** Subscribed, but the verdicts not read yet (waiting for attach). */
  private toRead = false;
  /**
   * Whether the verdicts in force were read (or could not be): until then this node claims no
   * round, lest it probe a target the cluster holds out, find it answering, and bring it back
   * everywhere before its own verdict says so.
   */
  private verdictsKnown = false;
  private readonly firstRead: Promise<void>;
  private firstReadDone: () => void = () => {};
  /** Probes this node made, by round claimed or alone (tests and status). */
  probed = 0;
  received = 0;

  constructor(deps: ClusterHealthDeps) {
    this.deps = deps;
    this.client = deps.client as Client;
    this.client.defineCommand('fulcrumClaim', { numberOfKeys: 1, lua: CLAIM });
    this.client.defineCommand('fulcrumRecord', { numberOfKeys: 1, lua: PUBLISH_AND_RECORD });
    this.client.defineCommand('fulcrumVerdicts', { numberOfKeys: 1, lua: READ });
    this.channel = `${deps.prefix}:health`;
    this.verdicts = `${deps.prefix}:health:verdicts`;
    this.firstRead = new Promise((r) => {
      this.firstReadDone = r;
    });
    this.unsubscribedSinceMs = deps.clock.monoMs();
  }

  /** `fulcrum_cluster_health_probing_alone`: 1 while this node probes every target itself. */
  register(registry: Registry): void {
    registry.add(
      new Collected(
        'fulcrum_cluster_health_probing_alone',
        '1 while this node probes every target itself (Redis away, or not subscribed to the health channel), 0 while probing is shared.',
        'gauge',
        () => [[{}, this.alone === null ? 0 : 1]],
      ),
    );
  }

  /**
   * Start applying what the other nodes publish, and the verdicts in force (read once subscribed,
   * and again after each reconnection).
   */
  attach(hooks: ClusterHealthHooks): void {
    this.hooks = hooks;
    if (this.toRead) void this.readVerdicts();
  }

  /**
   * Resolves once the verdicts in force were read and applied (or could not be: Redis away), or
   * after the cluster timeout: a node waits for it before it serves.
   */
  verdictsRead(): Promise<void> {
    if (!ready(this.client)) return Promise.resolve();
    return new Promise((resolve) => {
      const t = this.deps.clock.setTimer(
        Math.max(this.deps.timeoutMs, VERDICTS_WAIT_MS),
        () => {
          if (!this.verdictsKnown)
            this.deps
              .log()
              .warn("health: the cluster's verdicts were not read in time: probing without them");
          this.verdictsKnown = true;
          resolve();
        },
        undefined,
      );
      void this.firstRead.then(() => {
        this.deps.clock.clearTimer(t);
        resolve();
      });
    });
  }

  /**
   * Read the verdicts hash and apply it, then the events that arrived meanwhile (an event published
   * after the read must not be undone by it). Subscribed first, so nothing falls between.
   */
  private async readVerdicts(): Promise<void> {
    const hooks = this.hooks;
    if (hooks === null || this.closed) {
      this.toRead = true;
      return;
    }
    this.toRead = false;
    if (this.heldBack === null) this.heldBack = [];
    let applied = 0;
    try {
      const flat = await this.within(this.client.fulcrumVerdicts(this.verdicts));
      for (const e of verdictEvents(flat, this.deps.membership.clusterNowMs())) {
        hooks.apply(e);
        this.local?.publish(e);
        applied++;
      }
      if (applied > 0)
        this.deps.log().info({ verdicts: applied }, "health: applied the cluster's verdicts in force");
    } catch (err) {
      this.deps.log().warn({ err: (err as Error).message }, "health: could not read the cluster's verdicts");
    }
    const during = this.heldBack;
    this.heldBack = null;
    for (const e of during) this.receive(e);
    this.verdictsKnown = true;
    this.firstReadDone();
  }

  /** Subscribe to what the other nodes publish. */
  async start(): Promise<void> {
    const sub = await connectRedis(
      { url: this.deps.redisUrl },
      { timeoutMs: this.deps.timeoutMs, name: 'fulcrum-health', blocking: true },
    );
    if (this.closed) return sub.disconnect();
    this.subscriber = sub;
    const subscribe = () =>
      void sub.subscribe(this.channel).then(
        () => {
          this.subscribed = true;
          return this.readVerdicts();
        },
        () => this.readVerdicts(),
      );
    sub.on('close', () => {
      if (!this.subscribed) return;
      this.subscribed = false;
      this.unsubscribedSinceMs = this.deps.clock.monoMs();
    });
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
    if (!ready(this.client)) return this.probeAlone('away', 'not connected');
    if (!this.subscribed && this.deps.clock.monoMs() - this.unsubscribedSinceMs >= this.subscribeWaitMs())
      return this.probeAlone('unsubscribed', `no subscription to ${this.channel}`);
    if (!this.verdictsKnown) return this.sharing(false);
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
      return this.probeAlone('away', (err as Error).message);
    }
  }

  /**
   * How long this node may be without its subscription before it probes alone: what a starting
   * node waits for the verdicts (a reconnection normally subscribes well within it).
   */
  private subscribeWaitMs(): number {
    return Math.max(this.deps.timeoutMs, VERDICTS_WAIT_MS);
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => this.deps.clock.setTimer(ms, resolve, undefined));
  }

  /** A claim answered: probing is shared (again). */
  private sharing(mine: boolean): boolean {
    if (this.alone !== null) {
      this.deps
        .log()
        .info(
          this.alone === 'away'
            ? 'health: Redis answers again: probes shared among the live nodes'
            : "health: subscribed to the cluster's health events again: probes shared among the live nodes",
        );
      this.alone = null;
    }
    if (mine) this.probed++;
    return mine;
  }

  private probeAlone(reason: 'away' | 'unsubscribed', why: string): boolean {
    if (this.alone !== reason) {
      this.alone = reason;
      this.held.clear();
      this.deps
        .log()
        .warn(
          { why },
          reason === 'away'
            ? 'health: Redis is away: this node probes every target itself'
            : "health: not subscribed to the cluster's health events (other nodes' outcomes are not heard): this node probes every target itself",
        );
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

  /**
   * An event made on this node (or by one of its workers): to the other nodes, with the verdict it
   * led to recorded for nodes that join later, in one script (verdicts.ts).
   */
  forward(e: HealthEvent): void {
    if (this.closed || !ready(this.client)) return;
    const me = this.deps.membership.nodeId;
    const text = JSON.stringify({ n: me, e });
    const v = this.hooks?.verdict(e.upstream, e.target) ?? null;
    const entry = verdictEntry(e, v, me, this.deps.membership.clusterNowMs());
    this.client
      .fulcrumRecord(this.verdicts, this.channel, text, verdictField(e.upstream, e.target), entry)
      .catch(() => {});
  }

  /**
   * Targets that left this node's configuration: their recorded verdicts go, lest a node that
   * joins later hold one added again down by an old verdict. Every node deletes as it applies the
   * change, so an entry written meanwhile by a node whose configuration lags still had the target
   * is deleted when that node applies it too (docs/cluster.md).
   */
  forget(gone: readonly { readonly upstream: string; readonly target: string }[]): void {
    if (this.closed || !ready(this.client)) return;
    const fields = gone.map((g) => verdictField(g.upstream, g.target));
    this.client.hdel(this.verdicts, ...fields).catch(() => {});
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
    if (this.heldBack === null && this.hooks !== null) return this.receive(m.e);
    this.heldBack ??= [];
    this.heldBack.push(m.e);
  }

  private receive(e: HealthEvent): void {
    this.hooks?.apply(e);
    this.local?.publish(e);
  }

  /** What `/status` shows under `cluster.health`. */
  status(): Record<string, unknown> {
    return {
      leases: this.held.size,
      probing_alone: this.alone !== null,
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
