/**
 * Structural validation with ajv against the published JSON Schema, every error at once, each
 * turned into a sentence that says what was expected and where.
 */
import type { ErrorObject } from 'ajv';
import validateFile from './file-validator.js';
import { kongPrepass } from './kong-compat.ts';
import {
  ConfigError,
  type ConfigIssue,
  type ParsedSource,
  type PathPart,
  parseSource,
  readSource,
} from './load.ts';
import { normalize } from './normalize.ts';
import { fileSchema } from './schema.ts';
import { resolveSecrets, scrubSecrets } from './secrets.ts';
import type { Snapshot } from './types.ts';

/** The node a `#/a/b/...` schema path points at from `root`, or null when it does not resolve. */
function walkSchema(root: unknown, schemaPath: string): Record<string, unknown> | null {
  let node: unknown = root;
  for (const part of schemaPath.replace(/^#\/?/, '').split('/')) {
    if (part === '') continue;
    if (node === null || typeof node !== 'object') return null;
    node = (node as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return node !== null && typeof node === 'object' ? (node as Record<string, unknown>) : null;
}

/** An instance path inside a plugin object (`/services/0/plugins/1/config`, `/plugins/0`). */
const IN_PLUGIN = /^(?:\/(?:services|routes|consumers)\/\d+(?:\/routes\/\d+)?)?\/plugins\/\d+(?:\/|$)/;

/**
 * The schema object a schema path points at (to name the known fields of an object). Errors inside
 * the plugin definition (a `$ref` target the validator keeps as one function) carry schema paths
 * relative to that definition.
 */
function schemaAt(schemaPath: string, instancePath: string): Record<string, unknown> {
  const defs = (fileSchema.definitions ?? {}) as Record<string, unknown>;
  const root = IN_PLUGIN.test(instancePath) ? defs.plugin : fileSchema;
  return walkSchema(root, schemaPath) ?? {};
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  return String(value);
}

function pointerToPath(pointer: string): PathPart[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function valueAt(root: unknown, path: readonly PathPart[]): unknown {
  let v: unknown = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[p];
  }
  return v;
}

/** Edit distance (insertions, deletions, substitutions, adjacent swaps) between two short strings. */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  return d[a.length]![b.length]!;
}

/** The known field a misspelled one most likely meant, or null when none is close. */
export function closest(given: string, known: readonly string[]): string | null {
  if (given.length > 64) return null;
  let best: string | null = null;
  let bestD = Math.max(1, Math.floor(given.length / 3)) + 1;
  for (const k of known) {
    const d = distance(given.toLowerCase(), k.toLowerCase());
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

function toIssue(src: ParsedSource, e: ErrorObject): ConfigIssue | null {
  const path = pointerToPath(e.instancePath);
  const got = describe(valueAt(src.value, path));
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return src.issue(path, `missing required field "${String(p.missingProperty)}"`);
    case 'additionalProperties': {
      const parent = schemaAt(e.schemaPath.replace(/\/additionalProperties$/, ''), e.instancePath);
      const known = Object.keys((parent.properties ?? {}) as object);
      const given = String(p.additionalProperty);
      const near = closest(given, known);
      return src.issue(
        path,
        `unknown field; ${near === null ? '' : `did you mean "${near}"? `}expected one of: ${known.join(', ')}`,
        given,
      );
    }
    case 'type':
      return src.issue(path, `expected ${String(p.type).replace(',', ' or ')}, got ${got}`);
    case 'enum':
      return src.issue(
        path,
        `expected one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}, got ${got}`,
      );
    case 'minimum':
    case 'maximum':
      return src.issue(path, `expected a number ${String(p.comparison)} ${String(p.limit)}, got ${got}`);
    case 'minLength':
      return src.issue(path, 'expected a non-empty string');
    case 'minItems':
      return src.issue(path, `expected at least ${String(p.limit)} item(s)`);
    case 'pattern':
      return src.issue(path, `expected a string matching ${String(p.pattern)}, got ${got}`);
    case 'anyOf':
      if (e.schemaPath.startsWith('#/properties/consumers'))
        return src.issue(path, 'expected at least one of "username" or "custom_id"');
      return src.issue(path, `expected ${e.message ?? 'a valid value'}`);
    default:
      return src.issue(path, e.message ?? `invalid (${e.keyword})`);
  }
}

/** Structural errors of a parsed document, empty when it matches the schema. */
export function structuralIssues(src: ParsedSource): ConfigIssue[] {
  if (validateFile(src.value)) return [];
  const out: ConfigIssue[] = [];
  const seen = new Set<string>();
  for (const e of validateFile.errors ?? []) {
    // anyOf reports each failed branch as well; the summary line says it better.
    if (e.schemaPath.includes('/anyOf/')) continue;
    // A plugin config's if/then adds "must match then" beside the real error inside `config`.
    if (e.keyword === 'if') continue;
    const issue = toIssue(src, e);
    if (!issue) continue;
    const key = `${issue.path}|${issue.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(issue);
    }
  }
  return out;
}

/**
 * Validate and normalize a parsed document; throws ConfigError listing every issue. Secret
 * references (`{vault://env/NAME}`, `${NAME}` in node keys; secrets.ts) are resolved first, and
 * no message quotes a resolved value.
 */
export function snapshotFromSource(given: ParsedSource): Snapshot {
  if (given.value === null || typeof given.value !== 'object' || Array.isArray(given.value)) {
    throw new ConfigError([
      given.issue([], `expected a mapping at the top level, got ${describe(given.value)}`),
    ]);
  }
  const resolved = resolveSecrets(given);
  const secrets = resolved.secrets;
  // Read as Kong reads it: nulls are unset, an old format is migrated (warnings say what changed).
  const pre = kongPrepass(resolved.src.value);
  const src: ParsedSource = { ...resolved.src, value: pre.value };
  try {
    const issues = structuralIssues(src);
    if (issues.length > 0) throw new ConfigError(issues);
    return normalize(src, pre.warnings);
  } catch (err) {
    throw err instanceof ConfigError ? scrubSecrets(err, secrets) : err;
  }
}

export function loadSnapshotFile(file: string): Snapshot {
  return snapshotFromSource(readSource(file));
}

export function loadSnapshotText(text: string, file: string): Snapshot {
  return snapshotFromSource(parseSource(text, file));
}
