/**
 * What Kong does to a declarative document before it validates it, done here the same way so a
 * Kong file means what it meant in Kong:
 *
 * - `null` is "unset, take the default" (Kong's `ngx.null`): dumps are full of `path: ~` and
 *   `deny: null`. Keys whose value is null are dropped from every object (list items stay).
 * - `_format_version` 1.1 and 2.1 are migrated as Kong 3 migrates them
 *   (kong/db/declarative/migrations/route_path.lua, kong/db/migrations/migrate_regex_280_300.lua):
 *   a route path with any character outside `[a-zA-Z0-9.\-_~/%]` was a regex in Kong 2 and gets
 *   the `~` prefix Kong 3 needs, its percent-encoded unreserved characters decoded; each change is
 *   reported as a warning, and the document becomes 3.0.
 *
 * Positions are kept: only values change, so errors still point at the file's lines.
 */
import { formatPath, type PathPart } from './load.ts';
import type { Problem } from './types.ts';

type Raw = Record<string, unknown>;
const isObj = (v: unknown): v is Raw => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A copy of `v` without the null-valued keys of its objects, at any depth. */
export function withoutNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(withoutNulls);
  if (!isObj(v)) return v;
  const out: Raw = {};
  for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = withoutNulls(x);
  return out;
}

/** Percent-encoded characters Kong 3 leaves encoded (RFC 3986 reserved), upper-cased. */
const RESERVED = new Set([..."!#$%&'()*+,/:;=?@[]"].map((c) => c.charCodeAt(0)));
/** Characters that mean something in a regex: decoded, they are escaped. */
const REGEX_META = new Set([...'.^-{}\\|'].map((c) => c.charCodeAt(0)));

function decodeForRegex(path: string): string {
  if (!path.includes('%')) return path;
  return path.replace(/%([0-9a-f]{2})/gi, (m, hex: string) => {
    const n = Number.parseInt(hex, 16);
    if (RESERVED.has(n)) return m.toUpperCase();
    const c = String.fromCharCode(n);
    return REGEX_META.has(n) ? `\\${c}` : c;
  });
}

/** Kong 3's migration of one 1.1/2.1 route path: unchanged, or the regex it was. */
export function migrateRoutePath(path: string): string {
  if (/^[a-zA-Z0-9.\-_~/%]*$/.test(path)) return path;
  return `~${decodeForRegex(path)}`;
}

function migrateRoutes(routes: unknown, at: PathPart[], version: string, warnings: Problem[]): void {
  if (!Array.isArray(routes)) return;
  routes.forEach((r, i) => {
    if (!isObj(r) || !Array.isArray(r.paths)) return;
    r.paths = r.paths.map((p, j) => {
      if (typeof p !== 'string') return p;
      const m = migrateRoutePath(p);
      if (m !== p)
        warnings.push({
          path: formatPath([...at, i, 'paths', j]),
          message: `format ${version} regex path ${JSON.stringify(p)} is read as ${JSON.stringify(m)}, as Kong 3 migrates it; write it so and set _format_version: "3.0"`,
        });
      return m;
    });
  });
}

/**
 * The document as Kong reads it (nulls dropped, an old format migrated), with a warning for each
 * path the migration changed. `value` is not modified.
 */
export function kongPrepass(value: unknown): { value: unknown; warnings: Problem[] } {
  const warnings: Problem[] = [];
  const doc = withoutNulls(value);
  if (!isObj(doc)) return { value: doc, warnings };
  const version = doc._format_version;
  if (version === '1.1' || version === '2.1') {
    migrateRoutes(doc.routes, ['routes'], version, warnings);
    if (Array.isArray(doc.services))
      doc.services.forEach((s, i) => {
        if (isObj(s)) migrateRoutes(s.routes, ['services', i, 'routes'], version, warnings);
      });
    doc._format_version = '3.0';
  }
  return { value: doc, warnings };
}
