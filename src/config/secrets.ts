/**
 * Secrets kept out of the configuration file, resolved when it is loaded (docs/observability.md#secrets):
 *
 * - `{vault://env/NAME}`: Kong's reference to its environment-variable vault, as Kong writes it, in
 *   any string value of the document (a whole value, as in Kong). Kong's mapping: dashes become
 *   underscores and the name is upper-cased, so `{vault://env/my-secret}` reads `MY_SECRET`
 *   (kong/vaults/env). `{vault://env/NAME/KEY}` reads field KEY of the variable's JSON object.
 * - `${NAME}` inside any string of Fulcrum's own node keys (`listeners`, `admin`, `logging`, ...),
 *   as in shell and docker-compose files; `$${` writes a literal `${`.
 *
 * A missing variable refuses the file with the reference's path and line. The values are never
 * logged: the admin API keeps the references (GET /config shows them, not the values), and a
 * validation message that would quote a resolved value quotes `<secret>` instead.
 */
import process from 'node:process';
import { ConfigError, type ConfigIssue, type ParsedSource, type PathPart } from './load.ts';
import { nodeSchemas } from './node-schema.ts';

const VAULT_REF = /^\{vault:\/\/([^/}]*)\/([^}]*)\}$/;
const ENV_REF = /\$\$\{|\$\{([^}]*)\}/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const NODE_KEYS = new Set(Object.keys(nodeSchemas));

/** The environment variable Kong's env vault reads for a secret id. */
export function kongEnvName(id: string): string {
  return id.replace(/-/g, '_').toUpperCase();
}

type Env = Readonly<Record<string, string | undefined>>;

interface Walk {
  readonly src: ParsedSource;
  readonly env: Env;
  readonly issues: ConfigIssue[];
  readonly secrets: Set<string>;
}

/** A `{vault://...}` value resolved, or an issue. */
function vault(w: Walk, path: PathPart[], ref: string): string | null {
  const m = VAULT_REF.exec(ref);
  if (m === null) return null;
  const [, backend, rest] = m as unknown as [string, string, string];
  const fail = (message: string) => {
    w.issues.push(w.src.issue(path, message));
    return '';
  };
  if (backend !== 'env')
    return fail(`vault reference ${ref}: only the env vault is supported ({vault://env/NAME})`);
  if (rest.includes('?') || rest.includes('#'))
    return fail(`vault reference ${ref}: query arguments and versions are not supported`);
  const slash = rest.indexOf('/');
  const id = slash < 0 ? rest : rest.slice(0, slash);
  const key = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/$/, '');
  const name = kongEnvName(id);
  if (!ENV_NAME.test(name))
    return fail(`vault reference ${ref}: ${JSON.stringify(id)} is not a variable name`);
  const value = w.env[name];
  if (value === undefined) return fail(`vault reference ${ref}: environment variable ${name} is not set`);
  if (key === '') return value;
  let obj: unknown;
  try {
    obj = JSON.parse(value);
  } catch {
    return fail(
      `vault reference ${ref}: ${name} is not a JSON object, so it has no field ${JSON.stringify(key)}`,
    );
  }
  const field = obj !== null && typeof obj === 'object' ? (obj as Record<string, unknown>)[key] : undefined;
  if (typeof field !== 'string')
    return fail(`vault reference ${ref}: ${name} has no string field ${JSON.stringify(key)}`);
  return field;
}

/** `${NAME}` substituted in a node key's string, or an issue per missing variable. */
function interpolate(w: Walk, path: PathPart[], s: string): string {
  if (!s.includes('$')) return s;
  return s.replace(ENV_REF, (whole: string, name: string | undefined) => {
    if (name === undefined) return '${';
    if (!ENV_NAME.test(name)) {
      w.issues.push(w.src.issue(path, `${whole}: ${JSON.stringify(name)} is not a variable name`));
      return '';
    }
    const v = w.env[name];
    if (v === undefined) {
      w.issues.push(w.src.issue(path, `${whole}: environment variable ${name} is not set`));
      return '';
    }
    w.secrets.add(v);
    return v;
  });
}

function walk(w: Walk, v: unknown, path: PathPart[], node: boolean): unknown {
  if (typeof v === 'string') {
    const fromVault = v.startsWith('{vault://') ? vault(w, path, v) : null;
    if (fromVault !== null) {
      w.secrets.add(fromVault);
      return fromVault;
    }
    return node ? interpolate(w, path, v) : v;
  }
  if (Array.isArray(v)) {
    let out: unknown[] | null = null;
    v.forEach((x, i) => {
      const y = walk(w, x, [...path, i], node);
      if (y === x) return;
      out ??= [...v];
      out[i] = y;
    });
    return out ?? v;
  }
  if (v !== null && typeof v === 'object') {
    let out: Record<string, unknown> | null = null;
    for (const [k, x] of Object.entries(v)) {
      const y = walk(w, x, [...path, k], node || (path.length === 0 && NODE_KEYS.has(k)));
      if (y === x) continue;
      out ??= { ...(v as Record<string, unknown>) };
      out[k] = y;
    }
    return out ?? v;
  }
  return v;
}

/** What resolving gave: the document with values in place, and the values to keep out of messages. */
export interface Resolved {
  readonly src: ParsedSource;
  readonly secrets: ReadonlySet<string>;
}

/** Resolve every reference of a parsed document; throws ConfigError naming each missing one. */
export function resolveSecrets(src: ParsedSource, env: Env = process.env): Resolved {
  const w: Walk = { src, env, issues: [], secrets: new Set() };
  const value = walk(w, src.value, [], false);
  if (w.issues.length > 0) throw new ConfigError(w.issues);
  w.secrets.delete('');
  return { src: value === src.value ? src : { ...src, value }, secrets: w.secrets };
}

/** An error whose messages quote no resolved secret. */
export function scrubSecrets(err: ConfigError, secrets: ReadonlySet<string>): ConfigError {
  if (secrets.size === 0) return err;
  const scrub = (m: string) => {
    for (const s of secrets) if (m.includes(s)) m = m.split(s).join('<secret>');
    return m;
  };
  return new ConfigError(err.issues.map((i) => ({ ...i, message: scrub(i.message) })));
}
