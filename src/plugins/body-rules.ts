/**
 * The transformers' rules on body fields (Kong's request-transformer `body` and
 * response-transformer `json`): remove, rename, replace, add, append, in that order, on the
 * top-level fields of a JSON object or of a urlencoded form. Values are strings, or, where a
 * `json_types` list gives a type for the value at the same position, a number or a boolean.
 */
import { applyRules, type Multimap, type Pair, type TransformRules } from './transform-rules.ts';

export type JsonType = 'string' | 'number' | 'boolean';

/** Rules whose add/replace/append values may carry a JSON type (by position; default string). */
export interface BodyRules extends TransformRules {
  readonly types?: {
    readonly replace: readonly JsonType[];
    readonly add: readonly JsonType[];
    readonly append: readonly JsonType[];
  };
}

function typed(value: string, type: JsonType | undefined): unknown {
  if (type === 'number') {
    const n = Number(value);
    return Number.isFinite(n) ? n : value;
  }
  if (type === 'boolean') return value === 'true' ? true : value === 'false' ? false : value;
  return value;
}

/** Apply rules to the top-level fields of a JSON object, in place. */
export function applyJsonRules(obj: Record<string, unknown>, r: BodyRules): void {
  for (const n of r.remove) delete obj[n];
  for (const p of r.rename)
    if (Object.hasOwn(obj, p.name)) {
      const v = obj[p.name];
      delete obj[p.name];
      obj[p.value] = v;
    }
  const t = r.types;
  r.replace.forEach((p: Pair, i) => {
    if (Object.hasOwn(obj, p.name)) obj[p.name] = typed(p.value, t?.replace[i]);
  });
  r.add.forEach((p: Pair, i) => {
    if (!Object.hasOwn(obj, p.name)) obj[p.name] = typed(p.value, t?.add[i]);
  });
  r.append.forEach((p: Pair, i) => {
    const v = typed(p.value, t?.append[i]);
    // Kong: a present value becomes a list holding it and the new one.
    if (!Object.hasOwn(obj, p.name)) obj[p.name] = [v];
    else {
      const cur = obj[p.name];
      obj[p.name] = Array.isArray(cur) ? [...cur, v] : [cur, v];
    }
  });
}

/** Apply rules to a urlencoded form, in place (several values of a field are kept). */
export function applyFormRules(params: URLSearchParams, r: TransformRules): void {
  const m: Multimap = {
    has: (n) => params.has(n),
    get: (n) => params.getAll(n),
    set: (n, vs) => {
      if (vs.length === 1) return params.set(n, vs[0]!);
      params.delete(n);
      for (const v of vs) params.append(n, v);
    },
    delete: (n) => params.delete(n),
  };
  applyRules(m, r);
}
