/**
 * A large value (a snapshot, an entity state) sent across a MessagePort in pieces, so that no one
 * message costs the receiving thread more than a millisecond or two to deserialize: the long lists
 * in it (services, routes, entities) are cut out of a copy of the value and sent as slices.
 *
 * Only lists inside plain objects near the top are cut (up to MAX_WALK_DEPTH objects down:
 * `result.snapshot.routes`); a list nested in a list item travels with its item.
 */

/** Where a cut-out list sits in the value: the keys leading to it. */
export interface BulkHead {
  readonly value: unknown;
  readonly holes: readonly (readonly string[])[];
}

export interface BulkPart {
  readonly hole: number;
  readonly items: readonly unknown[];
}

/** List items per message. */
export const BULK_ITEMS_PER_PART = 128;
const MAX_WALK_DEPTH = 3;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/** The value with its long lists emptied, and the slices that refill them, in order. */
export function splitBulk(value: unknown, per = BULK_ITEMS_PER_PART): { head: BulkHead; parts: BulkPart[] } {
  const holes: string[][] = [];
  const parts: BulkPart[] = [];
  const walk = (v: unknown, path: string[], depth: number): unknown => {
    if (!isPlainObject(v) || depth > MAX_WALK_DEPTH) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (Array.isArray(x) && x.length > per) {
        const hole = holes.length;
        holes.push([...path, k]);
        for (let i = 0; i < x.length; i += per) parts.push({ hole, items: x.slice(i, i + per) });
        out[k] = [];
      } else out[k] = walk(x, [...path, k], depth + 1);
    }
    return out;
  };
  return { head: { value: walk(value, [], 0), holes }, parts };
}

/**
 * Rebuild a value from its head, part by part. `each` sees every item that arrives in a part, with
 * the path of its list, and returns what goes into the list in its place (the item itself, or an
 * equal object the receiver already holds: src/workers/snapshot-reuse.ts).
 */
export class BulkJoin {
  readonly value: unknown;
  private readonly lists: unknown[][];
  private readonly holes: readonly (readonly string[])[];
  private readonly each: ((item: unknown, path: readonly string[]) => unknown) | null;

  constructor(head: BulkHead, each: ((item: unknown, path: readonly string[]) => unknown) | null = null) {
    this.value = head.value;
    this.holes = head.holes;
    this.each = each;
    this.lists = head.holes.map((path) => {
      let v = head.value as Record<string, unknown>;
      for (const k of path.slice(0, -1)) v = v[k] as Record<string, unknown>;
      return v[path[path.length - 1]!] as unknown[];
    });
  }

  add(part: BulkPart): void {
    const list = this.lists[part.hole]!;
    const path = this.holes[part.hole]!;
    const each = this.each;
    for (const item of part.items) list.push(each === null ? item : each(item, path));
  }
}

/** Freeze a plain value and everything in it (what is frozen already is taken as done). */
export function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const x of Object.values(v as object)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}
