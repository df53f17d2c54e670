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
 *
 * Shared tables (`source_ip.store: cluster`): a `share` is told of each assignment this process
 * makes, and of each entry still in use whose last word to the other nodes is older than half the
 * idle time (so that their copies do not go idle while this node serves the client); what the
 * other nodes assigned arrives through `apply`, which tells nobody. The share does its I/O later:
 * a lookup or an insert stays synchronous (src/cluster/affinity-share.ts).
 */

interface Entry {
  id: string;
  lastMs: number;
  /** When the other nodes last heard of this entry (assigned, refreshed or applied from them). */
  sharedMs: number;
}

/** What shares tables across nodes (src/cluster/affinity-share.ts), as the runtime sees it. */
export interface AffinitySharing {
  /** Share upstream `name`'s table from now on (again: its limits changed). */
  attach(name: string, table: AffinityTable, tableSize: number, idleMs: number): void;
  /** Stop sharing it. */
  detach(name: string): void;
}

/** Where a shared table tells of its assignments and of the entries it keeps using. */
export interface AffinityShareChannel {
  /** This process picked `id` for `key` (a new entry, or a new target for it). */
  assigned(key: string, id: string): void;
  /** `key` → `id` is still in use here: the others keep it too. */
  used(key: string, id: string): void;
}

/** Expired entries dropped per insert at most (the rest go on later inserts or lookups). */
const SWEEP_PER_INSERT = 32;

export class AffinityTable {
  private readonly map = new Map<string, Entry>();
  private cap: number;
  private idleMs: number;
  /** Told of assignments and of entries in use (a shared table), or null. */
  share: AffinityShareChannel | null = null;

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
    if (this.share !== null && nowMs - e.sharedMs > this.idleMs / 2) {
      e.sharedMs = nowMs;
      this.share.used(key, e.id);
    }
    return e.id;
  }

  /** Remember `id` for `key` as used now, forgetting idle entries and, when full, the least recent. */
  set(key: string, id: string, nowMs: number): void {
    this.put(key, id, nowMs);
    this.share?.assigned(key, id);
  }

  /**
   * What another node assigned (or still uses), last used at `lastMs`: kept unless this table has
   * a more recent word on `key`. Tells nobody.
   */
  apply(key: string, id: string, lastMs: number): void {
    const e = this.map.get(key);
    if (e !== undefined && e.lastMs > lastMs) return;
    this.put(key, id, lastMs);
  }

  private put(key: string, id: string, nowMs: number): void {
    const e = this.map.get(key);
    if (e !== undefined) {
      this.map.delete(key);
      e.id = id;
      e.lastMs = nowMs;
      e.sharedMs = nowMs;
      this.map.set(key, e);
      return;
    }
    let swept = 0;
    for (const [k, old] of this.map) {
      if (this.map.size < this.cap && (swept >= SWEEP_PER_INSERT || nowMs - old.lastMs <= this.idleMs)) break;
      this.map.delete(k);
      swept++;
    }
    this.map.set(key, { id, lastMs: nowMs, sharedMs: nowMs });
  }
}
