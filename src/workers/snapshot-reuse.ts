/**
 * Give a worker's new snapshot the identity of the snapshot in service where their contents are
 * equal. A worker receives every snapshot as a fresh structured clone (src/workers/protocol.ts),
 * while `Generation.build` keeps an upstream, a service, a route, the plugin set and the routers
 * only when the new snapshot holds the *same objects* as the generation in service
 * (src/runtime/generation.ts). Without this every change (one DNS answer of one upstream) would
 * rebuild everything in every worker; with it a worker rebuilds what the primary rebuilds.
 *
 * The comparison is paced like the slices the snapshot arrives in: each item of a list cut into
 * slices is compared as its slice arrives (`item`, from BulkJoin's `each`), the rest (the lists
 * small enough to travel in the head, `node`) once whole (`finish`). Snapshot values are plain
 * JSON-like data (validated, normalized, frozen), so a deep comparison of plain values decides.
 */
import type { Snapshot } from '../config/types.ts';

type Plain = Record<string, unknown>;

const isPlain = (v: unknown): v is Plain => {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * Whether two plain values (primitives, arrays, plain objects, Sets and Maps, nested) are
 * structurally equal. A Set's members are compared as keys (a retry policy's statuses are
 * numbers); anything else (a typed array, a Date, a RegExp) is equal only to itself: not equal is
 * the safe answer here (the object is rebuilt).
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null)
    return Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameValue(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Set) {
    if (!(b instanceof Set) || a.size !== b.size) return false;
    for (const x of a) if (!b.has(x)) return false;
    return true;
  }
  if (a instanceof Map) {
    if (!(b instanceof Map) || a.size !== b.size) return false;
    for (const [k, x] of a) if (!b.has(k) || !sameValue(x, b.get(k))) return false;
    return true;
  }
  if (!isPlain(a) || !isPlain(b)) return false;
  let n = 0;
  for (const k in a) {
    if (!Object.hasOwn(b, k) || !sameValue(a[k], b[k])) return false;
    n++;
  }
  for (const _ in b) n--;
  return n === 0;
}

/** An item's key in its list: its `id`, else its position (problems and warnings have none). */
const keyOf = (item: unknown, position: number): string | number =>
  isPlain(item) && typeof item.id === 'string' ? item.id : position;

/** One list of the snapshot in service, indexed on first use. */
interface OldList {
  readonly items: readonly unknown[];
  byKey: Map<string | number, unknown> | null;
  /** Items of the new list seen so far (the position of the next one). */
  seen: number;
}

export class SnapshotReuse {
  private readonly current: Snapshot | null;
  private readonly lists = new Map<string, OldList>();
  /** Items given back from the snapshot in service, and items compared in all. */
  reused = 0;
  compared = 0;

  /** `current`: the snapshot of the generation in service (null: nothing to reuse). */
  constructor(current: Snapshot | null) {
    this.current = current;
  }

  /**
   * An item of the list at `path` in the new snapshot: the equal item of the same id (position,
   * without ids) in the snapshot in service, else the item itself. Called in list order.
   */
  item(fresh: unknown, path: readonly string[]): unknown {
    const list = this.list(path);
    if (list === null) return fresh;
    const key = keyOf(fresh, list.seen++);
    if (list.byKey === null) list.byKey = new Map(list.items.map((x, i) => [keyOf(x, i), x]));
    const old = list.byKey.get(key);
    if (old === undefined) return fresh;
    this.compared++;
    if (!sameValue(fresh, old)) return fresh;
    this.reused++;
    return old;
  }

  /**
   * The whole new snapshot, not frozen yet, the items of its cut lists already through `item`:
   * the items of the lists that travelled in the head go through `item` too; a list whose every item
   * is the same object in the same order becomes the list in service (the plugin set is kept when
   * plugins, consumers and trusted addresses are the same arrays; the routes when problems are),
   * and `node` becomes the node in service when equal, else keeps each equal field of it.
   */
  finish(fresh: Snapshot): Snapshot {
    const old = this.current;
    if (old === null || !isPlain(fresh) || Object.isFrozen(fresh)) return fresh;
    const out = fresh as unknown as Plain;
    const before = old as unknown as Plain;
    for (const k of Object.keys(out)) {
      const v = out[k];
      const was = before[k];
      if (Array.isArray(v) && Array.isArray(was)) {
        if ((this.lists.get(k)?.seen ?? 0) === 0)
          for (let i = 0; i < v.length; i++) v[i] = this.item(v[i], [k]);
        if (v.length === was.length && v.every((x, i) => x === was[i])) out[k] = was;
      } else if (isPlain(v) && isPlain(was) && !Object.isFrozen(v)) {
        if (sameValue(v, was)) out[k] = was;
        else for (const f of Object.keys(v)) if (sameValue(v[f], was[f])) v[f] = was[f];
      }
    }
    return fresh;
  }

  private list(path: readonly string[]): OldList | null {
    const name = path.join('.');
    let list = this.lists.get(name);
    if (list === undefined) {
      let v: unknown = this.current;
      for (const k of path) v = isPlain(v) ? v[k] : undefined;
      if (!Array.isArray(v)) return null;
      list = { items: v, byKey: null, seen: 0 };
      this.lists.set(name, list);
    }
    return list;
  }
}
