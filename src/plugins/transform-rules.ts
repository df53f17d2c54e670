/**
 * The remove / rename / replace / add / append rules shared by request-transformer and
 * response-transformer (Kong's field names and order). Entries are `name` (remove) or
 * `name:value` (`old:new` for rename); values are literal (no templates).
 */
import { strList } from './schema-kit.ts';
import type { ConfigProblem } from './types.ts';

export interface Pair {
  readonly name: string;
  readonly value: string;
}

export interface TransformRules {
  readonly remove: readonly string[];
  readonly rename: readonly Pair[];
  readonly replace: readonly Pair[];
  readonly add: readonly Pair[];
  readonly append: readonly Pair[];
}

export const OPERATIONS = ['remove', 'rename', 'replace', 'add', 'append'] as const;

/** The schema of one operation (`remove`, ...), with the given fields (`headers`, `querystring`, `json`). */
export function operationSchema(op: string, fields: readonly string[], unsupported: readonly string[]) {
  const properties: Record<string, unknown> = {};
  for (const f of fields)
    properties[f] = strList(
      op === 'remove'
        ? `Names of ${f} to remove.`
        : `${f} entries, \`name:value\`${op === 'rename' ? ' (old:new)' : ''}.`,
      { default: [] },
    );
  for (const f of unsupported)
    properties[f] = strList('Not supported yet (bodies are streamed): must be empty.', { maxItems: 0 });
  return {
    type: 'object',
    additionalProperties: false,
    default: {},
    description: `The ${op} rules.`,
    properties,
  };
}

function pairs(list: readonly string[], at: (string | number)[], problems: ConfigProblem[]): Pair[] {
  return list.map((e, i) => {
    const c = e.indexOf(':');
    if (c <= 0) {
      problems.push({ path: [...at, i], message: `expected "name:value", got ${JSON.stringify(e)}` });
      return { name: e, value: '' };
    }
    return { name: e.slice(0, c).trim(), value: e.slice(c + 1).trim() };
  });
}

/** The rules of one field (`headers` or `querystring`) across the five operations. */
export function rulesFor(
  raw: Record<string, unknown>,
  field: string,
  problems: ConfigProblem[],
  lowerNames: boolean,
): TransformRules {
  const get = (op: string) =>
    (((raw[op] ?? {}) as Record<string, unknown>)[field] as string[] | undefined) ?? [];
  const low = (p: Pair): Pair => (lowerNames ? { name: p.name.toLowerCase(), value: p.value } : p);
  const lowPair = (p: Pair): Pair =>
    lowerNames ? { name: p.name.toLowerCase(), value: p.value.toLowerCase() } : p;
  return {
    remove: get('remove').map((n) => (lowerNames ? n.toLowerCase() : n)),
    rename: pairs(get('rename'), ['rename', field], problems).map(lowPair),
    replace: pairs(get('replace'), ['replace', field], problems).map(low),
    add: pairs(get('add'), ['add', field], problems).map(low),
    append: pairs(get('append'), ['append', field], problems).map(low),
  };
}

export function isEmpty(r: TransformRules): boolean {
  return r.remove.length + r.rename.length + r.replace.length + r.add.length + r.append.length === 0;
}

/** Apply rules to a multimap given by get/set/delete/append accessors. */
export interface Multimap {
  has(name: string): boolean;
  get(name: string): string[];
  set(name: string, values: string[]): void;
  delete(name: string): void;
}

export function applyRules(m: Multimap, r: TransformRules): void {
  for (const n of r.remove) m.delete(n);
  for (const p of r.rename)
    if (m.has(p.name)) {
      const v = m.get(p.name);
      m.delete(p.name);
      m.set(p.value, v);
    }
  for (const p of r.replace) if (m.has(p.name)) m.set(p.name, [p.value]);
  for (const p of r.add) if (!m.has(p.name)) m.set(p.name, [p.value]);
  for (const p of r.append) m.set(p.name, [...(m.has(p.name) ? m.get(p.name) : []), p.value]);
}
