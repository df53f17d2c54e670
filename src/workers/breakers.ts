/**
 * Circuit breakers and the retry budget exact across a node's workers: the primary keeps the
 * node's counts (one UpstreamGuard per upstream, as one process keeps them, and a connection
 * count per pool key for `max_connections`) and takes every decision, as it does for rate limits
 * (counters.ts, which says why a limit is not split among the workers). A worker asks for a try
 * and waits for the answer (one IPC round trip, the questions of one turn of its event loop in
 * one message); it tells of releases without waiting. The worker's side is worker-breakers.ts.
 *
 * What a worker holds is written down under its index, so that when it dies everything it held
 * comes back: its tries, its requests (the budget's base), its connection slots, its place in the
 * queues for slots.
 *
 * `max_connections`: a slot is asked for before a connection opens and given back when it
 * closes. When none is free the ask waits in line (first asked, first served, across workers), and
 * the worker holding the most slots of that key is asked to close an idle connection (an idle
 * keep-alive connection in one worker cannot serve another's request).
 */
import type { CircuitBreakerSpec } from '../config/resilience.ts';
import { DEFAULT_CIRCUIT_BREAKER } from '../config/resilience.ts';
import type { RetryKind } from '../proxy/errors.ts';
import { type Breaker, UpstreamGuard } from '../upstreams/guard.ts';

/** A try's kind as it crosses: '' for a first try, else the retry's kind. */
export type WireKind = '' | RetryKind | 'hedge';

/** Worker → primary, everything of one turn (fields absent when empty). */
export interface BreakerAsk {
  readonly t: 'cb';
  /** Requests begun and ended since the last message: [upstream, begun, ended]. */
  readonly req?: readonly (readonly [string, number, number])[];
  /** Granted tries now connected. */
  readonly conn?: readonly number[];
  /** Granted tries ended. */
  readonly rel?: readonly number[];
  /** Connection slots given back: [pool id, how many]. */
  readonly give?: readonly (readonly [number, number])[];
  /** Pools gone: [pool id]. */
  readonly gone?: readonly number[];
  /** Tries asked for: [id, upstream, kind]. */
  readonly q?: readonly (readonly [number, string, WireKind])[];
  /** Connection slots asked for: [pool id, pool key, max_connections]. */
  readonly slot?: readonly (readonly [number, string, number])[];
}

/** Primary → worker. */
export interface BreakerAnswer {
  readonly t: 'cb';
  /** Answers: [id, ''] granted, [id, breaker] refused. */
  readonly a?: readonly (readonly [number, Breaker | ''])[];
  /** A slot granted to each pool id listed (once per slot). */
  readonly s?: readonly number[];
  /** Pools asked to close an idle connection (once per listing). */
  readonly y?: readonly number[];
}

interface Grant {
  readonly guard: UpstreamGuard;
  pending: boolean;
  readonly retry: boolean;
}

/** A pool's slots, in the worker's record and in its key's. */
interface PoolHeld {
  readonly worker: number;
  readonly id: number;
  readonly key: string;
  n: number;
}

/** A key's connections across the node. */
interface SlotCount {
  max: number;
  held: number;
  /** Asks waiting for a slot: [worker, pool id], first asked first. */
  readonly waiting: [number, number][];
  /** The pools holding slots now. */
  readonly holders: Set<PoolHeld>;
}

/** What one worker holds. */
interface Held {
  readonly grants: Map<number, Grant>;
  /** Requests begun and not ended, per upstream. */
  readonly requests: Map<string, number>;
  /** Slots held per pool id. */
  readonly pools: Map<number, PoolHeld>;
}

export interface PrimaryBreakersDeps {
  nowMs(): number;
  /** The upstream's circuit breaker as the node's configuration in service says (undefined: gone). */
  limits(upstream: string): CircuitBreakerSpec | undefined;
  send(worker: number, m: BreakerAnswer): void;
}

type Out = Map<number, { a: [number, Breaker | ''][]; s: number[]; y: number[] }>;

export class PrimaryBreakers {
  private readonly deps: PrimaryBreakersDeps;
  private readonly guards = new Map<string, UpstreamGuard>();
  private readonly slots = new Map<string, SlotCount>();
  private readonly held = new Map<number, Held>();

  constructor(deps: PrimaryBreakersDeps) {
    this.deps = deps;
  }

  /** A worker's message: count it, answer it (and any worker a freed slot goes to). */
  handle(worker: number, m: BreakerAsk): void {
    const h = this.of(worker);
    const out: Out = new Map();
    const now = this.deps.nowMs();
    for (const [u, begun, ended] of m.req ?? []) {
      const g = this.guard(u);
      g.requests += begun - ended;
      if (begun > 0) g.deposit(begun, now);
      h.requests.set(u, (h.requests.get(u) ?? 0) + begun - ended);
      this.prune(g);
    }
    for (const id of m.conn ?? []) {
      const grant = h.grants.get(id);
      if (grant?.pending) {
        grant.pending = false;
        grant.guard.pending--;
      }
    }
    for (const id of m.rel ?? []) this.release(h, id);
    for (const [pool, n] of m.give ?? []) this.give(h, pool, n, out);
    for (const pool of m.gone ?? []) if (h.pools.get(pool)?.n === 0) h.pools.delete(pool);
    for (const [id, u, kind] of m.q ?? []) {
      const g = this.guard(u);
      let refused: Breaker | null = kind === '' ? null : g.admitRetry(kind, now);
      if (refused === null) refused = g.admit();
      if (refused === null) {
        g.active++;
        g.pending++;
        if (kind !== '') g.retries++;
        h.grants.set(id, { guard: g, pending: true, retry: kind !== '' });
      }
      answers(out, worker).a.push([id, refused ?? '']);
    }
    for (const [pool, key, max] of m.slot ?? []) this.ask(worker, h, pool, key, max, out);
    this.send(out);
  }

  /** A worker is gone: everything it held comes back, and its asks leave the queues. */
  gone(worker: number): void {
    const h = this.held.get(worker);
    if (h === undefined) return;
    this.held.delete(worker);
    const out: Out = new Map();
    for (const id of [...h.grants.keys()]) this.release(h, id);
    for (const [u, n] of h.requests) {
      const g = this.guards.get(u);
      if (g === undefined) continue;
      g.requests -= n;
      this.prune(g);
    }
    for (const [key, s] of this.slots) {
      for (let i = s.waiting.length - 1; i >= 0; i--) if (s.waiting[i]![0] === worker) s.waiting.splice(i, 1);
      if (s.held === 0 && s.waiting.length === 0) this.slots.delete(key);
    }
    for (const [pool, p] of h.pools) this.give(h, pool, p.n, out);
    out.delete(worker);
    this.send(out);
  }

  /** The node's counts of an upstream (tests, /status of the primary). */
  counts(upstream: string): { active: number; pending: number; retries: number; requests: number } | null {
    const g = this.guards.get(upstream);
    return g === undefined
      ? null
      : { active: g.active, pending: g.pending, retries: g.retries, requests: g.requests };
  }

  /** Connections held across the node under a pool key, and asks waiting (tests). */
  connections(key: string): { held: number; waiting: number } {
    const s = this.slots.get(key);
    return { held: s?.held ?? 0, waiting: s?.waiting.length ?? 0 };
  }

  private of(worker: number): Held {
    let h = this.held.get(worker);
    if (h === undefined) {
      h = { grants: new Map(), requests: new Map(), pools: new Map() };
      this.held.set(worker, h);
    }
    return h;
  }

  /** The node's guard of an upstream, with the limits in service now (none once it is gone). */
  private guard(upstream: string): UpstreamGuard {
    let g = this.guards.get(upstream);
    if (g === undefined) {
      g = new UpstreamGuard(upstream, DEFAULT_CIRCUIT_BREAKER);
      this.guards.set(upstream, g);
    }
    g.limits = this.deps.limits(upstream) ?? DEFAULT_CIRCUIT_BREAKER;
    return g;
  }

  private release(h: Held, id: number): void {
    const grant = h.grants.get(id);
    if (grant === undefined) return;
    h.grants.delete(id);
    const g = grant.guard;
    g.active--;
    if (grant.pending) g.pending--;
    if (grant.retry) g.retries--;
    this.prune(g);
  }

  /** An upstream no longer configured, with nothing counted, is forgotten. */
  private prune(g: UpstreamGuard): void {
    if (g.active === 0 && g.requests === 0 && g.retries === 0 && this.deps.limits(g.upstream) === undefined)
      this.guards.delete(g.upstream);
  }

  private ask(worker: number, h: Held, pool: number, key: string, max: number, out: Out): void {
    let s = this.slots.get(key);
    if (s === undefined) {
      s = { max, held: 0, waiting: [], holders: new Set() };
      this.slots.set(key, s);
    }
    s.max = max;
    if (s.held < s.max && s.waiting.length === 0) return this.grant(worker, h, pool, key, s, out);
    s.waiting.push([worker, pool]);
    // Someone else's idle connection may be what keeps this ask waiting.
    let most: PoolHeld | null = null;
    for (const p of s.holders) if (p.worker !== worker && p.n > (most?.n ?? 0)) most = p;
    if (most !== null) answers(out, most.worker).y.push(most.id);
  }

  private grant(worker: number, h: Held, pool: number, key: string, s: SlotCount, out: Out): void {
    s.held++;
    let p = h.pools.get(pool);
    if (p === undefined) {
      p = { worker, id: pool, key, n: 0 };
      h.pools.set(pool, p);
    }
    p.n++;
    s.holders.add(p);
    answers(out, worker).s.push(pool);
  }

  private give(h: Held, pool: number, n: number, out: Out): void {
    const p = h.pools.get(pool);
    if (p === undefined) return;
    const s = this.slots.get(p.key);
    const k = Math.min(n, p.n);
    p.n -= k;
    if (s === undefined) return;
    if (p.n === 0) s.holders.delete(p);
    s.held -= k;
    while (s.held < s.max && s.waiting.length > 0) {
      const [w, id] = s.waiting.shift()!;
      const other = this.held.get(w);
      if (other !== undefined) this.grant(w, other, id, p.key, s, out);
    }
    if (s.held === 0 && s.waiting.length === 0) this.slots.delete(p.key);
  }

  private send(out: Out): void {
    for (const [w, o] of out) {
      const m: { t: 'cb'; a?: typeof o.a; s?: number[]; y?: number[] } = { t: 'cb' };
      if (o.a.length > 0) m.a = o.a;
      if (o.s.length > 0) m.s = o.s;
      if (o.y.length > 0) m.y = o.y;
      this.deps.send(w, m);
    }
  }
}

function answers(out: Out, worker: number): { a: [number, Breaker | ''][]; s: number[]; y: number[] } {
  let o = out.get(worker);
  if (o === undefined) {
    o = { a: [], s: [], y: [] };
    out.set(worker, o);
  }
  return o;
}
