/**
 * Rate-limit counts exact across a node's workers: every `local` decision is taken by the
 * primary, which holds the one LocalPolicy per instance, so a limit of 100/s admits 100/s however
 * many workers share the traffic. A worker asks and waits (one IPC round trip); the questions of
 * one turn of its event loop travel in one message, and so do their answers.
 *
 * Why not split the limit among the workers (each taking 1/N)? Connections do not spread evenly
 * (SO_REUSEPORT hashes them; one client's keep-alive connection stays on one worker), so a split
 * limit refuses a client whose connection landed on a busy worker while others have room.
 */

import { atTurnEnd, type TurnEndWork } from '../core/turn-end.ts';
import type { Decision, Limit, PolicyRequest, RateLimitPolicy, Usage } from '../plugins/rate-limit-policy.ts';
import { LocalPolicy } from '../plugins/rate-limit-policy.ts';

/** A limit as it crosses: [windowMs, limit]. */
type WireLimit = readonly [number, number];

/** Worker → primary. */
export type CounterAsk =
  | {
      readonly t: 'rl-def';
      readonly key: string;
      readonly longestMs: number;
      readonly limits: readonly WireLimit[];
    }
  | { readonly t: 'rl'; readonly q: readonly (readonly [id: number, key: string, who: string])[] };

/** Primary → worker: per question [id, allowed, retryAfterMs, ...remaining, ...resetMs]. */
export type CounterAnswer = { readonly t: 'rl'; readonly a: readonly (readonly number[])[] };

/** The primary's side: one LocalPolicy per instance key, on the primary's clock. */
export class PrimaryCounters {
  private readonly policies = new Map<string, { policy: LocalPolicy; limits: Limit[] }>();
  private readonly nowMs: () => number;

  constructor(nowMs: () => number) {
    this.nowMs = nowMs;
  }

  /** A worker's message; the answer to send back, if any. */
  handle(m: CounterAsk): CounterAnswer | null {
    if (m.t === 'rl-def') {
      const limits = m.limits.map(([windowMs, limit], i) => ({ period: String(i), windowMs, limit }));
      const had = this.policies.get(m.key);
      // New limit values on the same periods keep the counts (as a reload does in one process).
      if (had !== undefined) had.limits = limits;
      else this.policies.set(m.key, { policy: new LocalPolicy(m.longestMs), limits });
      return null;
    }
    const now = this.nowMs();
    const a: number[][] = [];
    for (const [id, key, who] of m.q) {
      const p = this.policies.get(key);
      if (p === undefined) continue;
      const d = p.policy.take(who, now, p.limits);
      const row = [id, d.allowed ? 1 : 0, d.retryAfterMs];
      for (const u of d.usage) row.push(u.remaining);
      for (const u of d.usage) row.push(u.resetMs);
      a.push(row);
    }
    return { t: 'rl', a };
  }

  /** Instances no longer configured anywhere (the primary's own build tells). */
  retain(keys: ReadonlySet<string>): void {
    for (const k of this.policies.keys()) if (!keys.has(k)) this.policies.delete(k);
  }
}

interface Waiting {
  readonly limits: readonly Limit[];
  readonly resolve: (d: Decision) => void;
}

/** A worker's side: policies whose decisions the primary takes. */
export class WorkerCounters implements TurnEndWork {
  private readonly send: (m: CounterAsk) => void;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private batch: [number, string, string][] = [];
  private scheduled = false;
  /** Limits last defined per key (a reload may change the values). */
  private readonly defined = new Map<string, readonly Limit[]>();

  constructor(send: (m: CounterAsk) => void) {
    this.send = send;
  }

  policy(req: PolicyRequest): RateLimitPolicy {
    return this.keyed(req.key, req.longestMs);
  }

  /** A policy counting under `key` (also the fallback of `policy: redis` while Redis is away). */
  keyed(key: string, longestMs: number): RateLimitPolicy {
    const counters = this;
    return {
      take(who: string, _nowMs: number, limits: readonly Limit[]): Promise<Decision> {
        return counters.ask(key, longestMs, who, limits);
      },
    };
  }

  private ask(key: string, longestMs: number, who: string, limits: readonly Limit[]): Promise<Decision> {
    if (this.defined.get(key) !== limits) {
      this.defined.set(key, limits);
      this.send({ t: 'rl-def', key, longestMs, limits: limits.map((l) => [l.windowMs, l.limit] as const) });
    }
    const id = this.nextId++;
    this.batch.push([id, key, who]);
    if (!this.scheduled) {
      this.scheduled = true;
      atTurnEnd(this);
    }
    return new Promise((resolve) => this.waiting.set(id, { limits, resolve }));
  }

  /** @internal (turn-end.ts) the turn's asks, in one message. */
  turnEnded(): void {
    this.scheduled = false;
    const q = this.batch;
    this.batch = [];
    if (q.length > 0) this.send({ t: 'rl', q });
  }

  /** The primary's answers. */
  answer(m: CounterAnswer): void {
    for (const row of m.a) {
      const w = this.waiting.get(row[0]!);
      if (w === undefined) continue;
      this.waiting.delete(row[0]!);
      const n = w.limits.length;
      const usage: Usage[] = w.limits.map((limit, i) => ({
        limit,
        remaining: row[3 + i]!,
        resetMs: row[3 + n + i]!,
      }));
      w.resolve({ allowed: row[1] === 1, usage, retryAfterMs: row[2]! });
    }
  }

  /**
   * The primary is gone (the node is stopping): admit what is waiting, as Kong's fault_tolerant
   * does, rather than failing requests that are being drained.
   */
  close(): void {
    for (const w of this.waiting.values())
      w.resolve({
        allowed: true,
        usage: w.limits.map((limit) => ({ limit, remaining: 0, resetMs: limit.windowMs })),
        retryAfterMs: 0,
      });
    this.waiting.clear();
  }
}
