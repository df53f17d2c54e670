/**
 * A worker's side of the node's circuit breakers (breakers.ts holds the primary's): every guard of
 * the worker's runtime links here, and every pool with `max_connections` asks here for its
 * connection slots. Questions (a try, a slot) and news (a try connected or ended, a slot given
 * back) of one turn of the event loop leave in one message; the primary answers the questions.
 *
 * Requests begun and ended (the retry budget's base) are news too, but the only ones that every
 * request makes, limits or not: they wait for the next question, or at most REQUESTS_FLUSH_MS, so
 * that a worker with no limit set sends ten messages a second rather than one per turn.
 */
import type { Clock, TimerHandle } from '../core/clock.ts';
import { atTurnEnd, type TurnEndWork } from '../core/turn-end.ts';
import type { RetryKind } from '../proxy/errors.ts';
import type { ConnectionSlots, SlotUser } from '../upstreams/connection-slots.ts';
import type { Breaker, GuardLink, UpstreamGuard } from '../upstreams/guard.ts';
import type { BreakerAnswer, BreakerAsk, WireKind } from './breakers.ts';

/** The longest a count of requests begun or ended waits to reach the primary. */
export const REQUESTS_FLUSH_MS = 100;

type Done = (grant: number, refused: Breaker | null) => void;

export class WorkerBreakers implements GuardLink, TurnEndWork {
  private readonly sendOut: (m: BreakerAsk) => void;
  private readonly clock: Clock;
  private nextId = 1;
  private readonly waiting = new Map<number, Done>();
  private q: [number, string, WireKind][] = [];
  private conn: number[] = [];
  private rel: number[] = [];
  private slot: [number, string, number][] = [];
  private readonly gives = new Map<number, number>();
  private gonePools: number[] = [];
  /** Guards with requests begun or ended not yet told (counted on the guard: no lookup per request). */
  private untold: UpstreamGuard[] = [];
  private scheduled = false;
  private reqTimer: TimerHandle | null = null;
  private nextPool = 1;
  /** Pools that asked for a slot, by id, with their asks not yet granted. */
  private readonly pools = new Map<number, { readonly user: SlotUser; asked: number }>();
  private closed = false;

  constructor(send: (m: BreakerAsk) => void, clock: Clock) {
    this.sendOut = send;
    this.clock = clock;
  }

  // ---- GuardLink ----

  started(g: UpstreamGuard): void {
    if (g.begunUntold === 0 && g.endedUntold === 0) this.untell(g);
    g.begunUntold++;
  }

  ended(g: UpstreamGuard): void {
    if (g.begunUntold === 0 && g.endedUntold === 0) this.untell(g);
    g.endedUntold++;
  }

  admit(g: UpstreamGuard, kind: RetryKind | 'hedge' | null, done: Done): void {
    // The primary is gone (the node stops): what is being drained goes on, as rate limits do.
    if (this.closed) return done(0, null);
    const id = this.nextId++;
    this.waiting.set(id, done);
    this.q.push([id, g.upstream, kind ?? '']);
    this.soon();
  }

  connected(grant: number): void {
    if (grant === 0 || this.closed) return;
    this.conn.push(grant);
    this.soon();
  }

  release(grant: number): void {
    if (grant === 0 || this.closed) return;
    this.rel.push(grant);
    this.soon();
  }

  /** The connection slots of the pool under `key` (a poolKey), counted by the primary. */
  slots(key: string, maxConnections: number): ConnectionSlots {
    const id = this.nextPool++;
    const self = this;
    return {
      ask(user: SlotUser): void {
        if (self.closed) return user.granted();
        const p = self.pools.get(id);
        if (p === undefined) self.pools.set(id, { user, asked: 1 });
        else p.asked++;
        self.slot.push([id, key, maxConnections]);
        self.soon();
      },
      give(): void {
        if (self.closed) return;
        self.gives.set(id, (self.gives.get(id) ?? 0) + 1);
        self.soon();
      },
      done(): void {
        if (!self.pools.delete(id) || self.closed) return;
        self.gonePools.push(id);
        self.soon();
      },
    };
  }

  /** The primary's answers. */
  answer(m: BreakerAnswer): void {
    for (const [id, refused] of m.a ?? []) {
      const done = this.waiting.get(id);
      if (done === undefined) continue;
      this.waiting.delete(id);
      if (refused === '') done(id, null);
      else done(0, refused);
    }
    for (const id of m.s ?? []) {
      const p = this.pools.get(id);
      // A pool is forgotten only once it waits for no slot; should one come all the same, it goes back.
      if (p === undefined) {
        this.gives.set(id, (this.gives.get(id) ?? 0) + 1);
        continue;
      }
      p.asked--;
      p.user.granted();
    }
    for (const id of m.y ?? []) this.pools.get(id)?.user.yieldOne();
    if (this.gives.size > 0) this.soon();
  }

  /** The primary is gone (the node is stopping): admit what waits, count nothing more. */
  close(): void {
    this.closed = true;
    if (this.reqTimer !== null) this.clock.clearTimer(this.reqTimer);
    this.reqTimer = null;
    for (const done of this.waiting.values()) done(0, null);
    this.waiting.clear();
    const pools = [...this.pools.values()];
    this.pools.clear();
    for (const p of pools) for (let i = 0; i < p.asked; i++) p.user.granted();
  }

  /** `g` has counts to tell: keep it in the list, and make sure they leave in time. */
  private untell(g: UpstreamGuard): void {
    this.untold.push(g);
    if (this.reqTimer === null && !this.closed)
      this.reqTimer = this.clock.setTimer(REQUESTS_FLUSH_MS, flushRequests, this);
  }

  private soon(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    atTurnEnd(this);
  }

  /** @internal (turn-end.ts) */
  turnEnded(): void {
    this.flush(false);
  }

  /** Send what the turn gathered (and the requests counted so far). */
  flush(withRequests: boolean): void {
    this.scheduled = false;
    if (this.closed) return;
    const m: {
      -readonly [K in keyof BreakerAsk]: BreakerAsk[K];
    } = { t: 'cb' };
    if (withRequests || this.q.length > 0) {
      if (this.reqTimer !== null) this.clock.clearTimer(this.reqTimer);
      this.reqTimer = null;
      const req: [string, number, number][] = [];
      for (const g of this.untold) {
        req.push([g.upstream, g.begunUntold, g.endedUntold]);
        g.begunUntold = 0;
        g.endedUntold = 0;
      }
      this.untold = [];
      if (req.length > 0) m.req = req;
    }
    if (this.conn.length > 0) m.conn = this.conn;
    if (this.rel.length > 0) m.rel = this.rel;
    if (this.gives.size > 0) m.give = [...this.gives];
    if (this.gonePools.length > 0) m.gone = this.gonePools;
    if (this.q.length > 0) m.q = this.q;
    if (this.slot.length > 0) m.slot = this.slot;
    this.conn = [];
    this.rel = [];
    this.gives.clear();
    this.gonePools = [];
    this.q = [];
    this.slot = [];
    if (Object.keys(m).length > 1) this.sendOut(m);
  }
}

function flushRequests(b: WorkerBreakers): void {
  b.flush(true);
}
