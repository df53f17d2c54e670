/**
 * The client address → target table of `sticky: { mode: source-ip }`, as HAProxy's
 * `stick-table type ip size … expire …`: bounded in size, entries forgotten after an idle time.
 *
 * Why a table and not a hash of the address: a hash decides the target itself (that is
 * `hash_on: ip` with a hashing algorithm), which throws away what the upstream's algorithm
 * (least-request, latency, …) would have chosen and moves clients whenever the target set changes.
 * A table remembers the algorithm's choice, so affinity composes with any algorithm, and only the
 * clients of a target that went away move.
 *
 * A Map kept in least-recently-used order (a hit moves its entry to the end): the oldest entries
 * are then also the most idle, so expiry is a walk from the front, bounded per insert, and the
 * size cap evicts the front. O(1) per lookup and insert; memory is bounded by `size` entries.
 */

interface Entry {
  id: string;
  lastMs: number;
}

/** Expired entries dropped per insert at most (the rest go on later inserts or lookups). */
const SWEEP_PER_INSERT = 32;

export class AffinityTable {
  private readonly map = new Map<string, Entry>();
  private cap: number;
  private idleMs: number;

  constructor(cap: number, idleMs: number) {
    this.cap = cap;
    this.idleMs = idleMs;
  }

  /** A reload may change the limits; entries are kept (the extra ones go as inserts come). */
  configure(cap: number, idleMs: number): void {
    this.cap = cap;
    this.idleMs = idleMs;
  }

  get size(): number {
    return this.map.size;
  }

  /** The id remembered for `key`, refreshed as used now; null when absent or idle too long. */
  get(key: string, nowMs: number): string | null {
    const e = this.map.get(key);
    if (e === undefined) return null;
    this.map.delete(key);
    if (nowMs - e.lastMs > this.idleMs) return null;
    e.lastMs = nowMs;
    this.map.set(key, e);
    return e.id;
  }

  /** Remember `id` for `key` as used now, forgetting idle entries and, when full, the least recent. */
  set(key: string, id: string, nowMs: number): void {
    const e = this.map.get(key);
    if (e !== undefined) {
      this.map.delete(key);
      e.id = id;
      e.lastMs = nowMs;
      this.map.set(key, e);
      return;
    }
    let swept = 0;
    for (const [k, old] of this.map) {
      if (this.map.size < this.cap && (swept >= SWEEP_PER_INSERT || nowMs - old.lastMs <= this.idleMs)) break;
      this.map.delete(k);
      swept++;
    }
    this.map.set(key, { id, lastMs: nowMs });
  }
}
