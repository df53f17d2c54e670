/**
 * Kong's fields, one table per entity (kong-entities.ts) and per plugin (each plugin's `kong`),
 * written from Kong 3.9's schemas (kong/db/schema/entities/*.lua, kong/plugins/<name>/schema.lua
 * and daos.lua). Every field Kong accepts is in its table with what Fulcrum does with it:
 *
 * - `native`: Fulcrum gives it Kong's meaning (the field is in Fulcrum's schema);
 * - `meta`: bookkeeping Kong writes in dumps (`created_at`, `updated_at`): accepted, no effect;
 * - `ignored`: accepted, not supported; a value other than Kong's default is reported as a
 *   warning that names the field, so a Kong file loads and the user knows what does not apply
 *   (an ignored field may list values Fulcrum does act on: rate-limiting's `policy: redis`).
 *
 * `kongSchema` splices the meta and ignored fields into Fulcrum's JSON Schema (so they are
 * documented in docs/configuration.md and known to the admin API), `kongWarnings` reports the
 * ignored ones in use. A field in no table is still refused, with a did-you-mean (validate.ts).
 */
import { formatPath, type PathPart } from './load.ts';
import type { Problem } from './types.ts';

type S = Record<string, unknown>;

export interface KongField {
  readonly kind: 'native' | 'meta' | 'ignored';
  /** A value Kong accepts for the field (the per-field test loads it). */
  readonly example: unknown;
  /** Fields the example needs beside it (`hash_on: header` needs `hash_on_header`). */
  readonly alongside?: Readonly<S>;
  /** Kong's default: a value equal to it is not reported. */
  readonly default?: unknown;
  /** ignored: why Fulcrum does not act on it (ends the warning). */
  readonly why?: string;
  /** The JSON Schema spliced in for a meta or ignored field Fulcrum's schema lacks. */
  readonly schema?: S;
  /** ignored: values Fulcrum gives Kong's meaning (not reported). */
  readonly supported?: readonly unknown[];
}

/** Field name (dotted for a field of a nested record: `replace.uri`) → what Fulcrum does with it. */
export type KongTable = Readonly<Record<string, KongField>>;

export const native = (example: unknown, alongside?: S): KongField => ({
  kind: 'native',
  example,
  ...(alongside === undefined ? {} : { alongside }),
});

export const meta = (example: unknown, schema: S): KongField => ({ kind: 'meta', example, schema });

export const ignored = (
  why: string,
  dflt: unknown,
  example: unknown,
  schema: S = {},
  supported: readonly unknown[] = [],
): KongField => ({
  kind: 'ignored',
  example,
  default: dflt,
  why,
  schema,
  ...(supported.length === 0 ? {} : { supported }),
});

/** Kong's timestamps, written by `db_export` and `deck dump`: seconds since the epoch. */
const timestamp = (what: string): S => ({
  type: 'number',
  description: `Kong's ${what} (seconds since the epoch; with milliseconds on targets), as dumps write it; accepted and not used (the admin API keeps its own).`,
});
export const TIMESTAMPS: KongTable = {
  created_at: meta(1700000000, timestamp('creation time')),
  updated_at: meta(1700000000, timestamp('last update time')),
};

function describeIgnored(f: KongField): S {
  const base = f.schema ?? {};
  return { ...base, description: `Kong field, accepted and not supported: ${f.why}` };
}

/** `schema` with the table's meta and ignored fields it lacks added (dotted names nest). */
export function kongSchema(schema: S, table: KongTable): S {
  const out: S = structuredClone(schema);
  for (const [name, f] of Object.entries(table)) {
    if (f.kind === 'native') continue;
    const parts = name.split('.');
    let node = out;
    for (const p of parts.slice(0, -1)) {
      const props = (node.properties ?? {}) as Record<string, S>;
      if (props[p] === undefined) break;
      node = props[p];
    }
    const props = (node.properties ?? {}) as Record<string, S>;
    const last = parts[parts.length - 1]!;
    if (props[last] === undefined) {
      props[last] = f.kind === 'meta' ? (f.schema ?? {}) : describeIgnored(f);
      node.properties = props;
    }
  }
  return out;
}

export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as S);
  const kb = Object.keys(b as S);
  return ka.length === kb.length && ka.every((k) => sameValue((a as S)[k], (b as S)[k]));
}

function valueAt(o: unknown, parts: readonly string[]): unknown {
  let v = o;
  for (const p of parts) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as S)[p];
  }
  return v;
}

/** A warning for each ignored field of `value` set to something other than Kong's default. */
export function kongWarnings(
  value: unknown,
  table: KongTable,
  at: readonly PathPart[],
  out: Problem[],
): void {
  for (const [name, f] of Object.entries(table)) {
    if (f.kind !== 'ignored') continue;
    const parts = name.split('.');
    const v = valueAt(value, parts);
    if (v === undefined || sameValue(v, f.default)) continue;
    if (f.supported?.some((ok) => sameValue(v, ok))) continue;
    out.push({
      path: formatPath([...at, ...parts]),
      message: `Kong's "${name}" is accepted but not supported: ${f.why}`,
    });
  }
}
