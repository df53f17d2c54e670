/**
 * Semantic validation and normalization of a structurally valid document into a frozen Snapshot,
 * one entity kind per file: node settings (normalize-node.ts), upstreams and targets
 * (normalize-upstreams.ts), services and routes (normalize-services.ts, normalize-routes.ts),
 * consumers and plugins (plugins/normalize.ts). The ids and shorthands they share are in
 * entity-ids.ts, also used by the admin API's document (store/document.ts).
 *
 * Errors (bad values, duplicates, regexes that do not compile) refuse the whole document;
 * dangling references (a top-level route naming a missing service) disable that one object and are
 * reported as problems, so the rest keeps serving (ARCHITECTURE.md convention 6). Warnings name
 * what loads but does not act as in Kong (kong-fields.ts).
 */
import { createHash } from 'node:crypto';
import { systemClock } from '../core/clock.ts';
import { bindCorrelationIds } from '../plugins/correlation-id.ts';
import {
  type ConsumerItems,
  collectPlugins,
  type Located,
  normalizeCredentials,
} from '../plugins/normalize.ts';
import { pluginNames } from '../plugins/registry.ts';
import { CREDENTIAL_COLLECTIONS, UNSUPPORTED_CREDENTIALS } from './consumer-schema.ts';
import { consumerId, refKey, uuidFrom } from './entity-ids.ts';
import { kongEntityWarnings } from './kong-walk.ts';
import { ConfigError, type ConfigIssue, formatPath, type ParsedSource, type PathPart } from './load.ts';
import { normalizeNodeSettings } from './normalize-node.ts';
import { normalizeServicesAndRoutes } from './normalize-services.ts';
import { normalizeUpstreams } from './normalize-upstreams.ts';
import { normalizeTlsMaterial } from './tls.ts';
import type { ConsumerSpec, Problem, Snapshot } from './types.ts';

export { DEFAULT_TARGET_PORT, uuidFrom } from './entity-ids.ts';
export { DEFAULT_READ_TIMEOUT_MS } from './normalize-services.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;

/** The plugins built into this version (src/plugins/builtins.ts). */
export const BUILTIN_PLUGINS: readonly string[] = pluginNames();

function freeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    for (const v of Object.values(o as object)) freeze(v);
    Object.freeze(o);
  }
  return o;
}

/**
 * Each consumer's credential items: nested in it, and the top-level collections naming it by id
 * or username (Kong's flat form, as `db_export` writes it). A credential of a consumer that does
 * not exist, and the collections of plugins Fulcrum does not have, are refused.
 */
function consumerItems(src: ParsedSource, doc: Raw, issues: ConfigIssue[]): ConsumerItems[] {
  const consumers: Raw[] = doc.consumers ?? [];
  const out = consumers.map((c, i) => {
    const at: PathPart[] = ['consumers', i];
    const items: Record<string, Located[]> = {};
    for (const { name } of CREDENTIAL_COLLECTIONS)
      items[name] = ((c[name] ?? []) as Raw[]).map((raw, j) => ({ raw, at: [...at, name, j] }));
    return { id: consumerId(c), idGiven: typeof c.id === 'string', at, items };
  });
  const byRef = new Map<string, (typeof out)[number]>();
  consumers.forEach((c, i) => {
    for (const k of [out[i]!.id, c.username, c.custom_id])
      if (typeof k === 'string' && !byRef.has(k)) byRef.set(k, out[i]!);
  });
  for (const { name } of CREDENTIAL_COLLECTIONS)
    ((doc[name] ?? []) as Raw[]).forEach((raw, j) => {
      const ref = refKey(raw.consumer);
      const owner = ref === null ? undefined : byRef.get(ref);
      if (owner === undefined)
        issues.push(src.issue([name, j, 'consumer'], `consumer ${JSON.stringify(ref)} does not exist`));
      else (owner.items[name] as Located[]).push({ raw, at: [name, j] });
    });
  const unsupported = (list: unknown, at: PathPart[], plugin: string) => {
    if (Array.isArray(list) && list.length > 0)
      issues.push(
        src.issue(
          at,
          `Kong's ${plugin} plugin is not built into Fulcrum, so its credentials cannot be used; remove them`,
        ),
      );
  };
  for (const [field, plugin] of Object.entries(UNSUPPORTED_CREDENTIALS)) {
    unsupported(doc[field], [field], plugin);
    consumers.forEach((c, i) => {
      unsupported(c[field], ['consumers', i, field], plugin);
    });
  }
  return out;
}

export function normalize(src: ParsedSource, warnings: Problem[] = []): Snapshot {
  const doc = src.value as Raw;
  const issues: ConfigIssue[] = [];
  const problems: Problem[] = [];
  const nowMs = systemClock.nowMs();
  const tls = normalizeTlsMaterial(src, doc, issues, problems, nowMs, uuidFrom);
  const node = normalizeNodeSettings(src, doc, tls, issues, problems, nowMs);

  const uniq = (kind: string, list: Raw[] | undefined, at: PathPart[], field = 'name') => {
    const seen = new Map<string, number>();
    (list ?? []).forEach((o, i) => {
      const v = o[field];
      if (v === undefined) return;
      if (seen.has(v))
        issues.push(
          src.issue(
            [...at, i, field],
            `duplicate ${kind} ${field} ${JSON.stringify(v)} (also at ${formatPath([...at, seen.get(v)!])})`,
          ),
        );
      seen.set(v, i);
    });
  };
  uniq('upstream', doc.upstreams, ['upstreams']);
  uniq('service', doc.services, ['services']);
  uniq('consumer', doc.consumers, ['consumers'], 'username');

  const upstreams = normalizeUpstreams(src, doc, issues, problems);
  const { services, routes } = normalizeServicesAndRoutes(src, doc, upstreams, tls, {
    issues,
    problems,
    warnings,
  });

  const items = consumerItems(src, doc, issues);
  const credentials = normalizeCredentials(src, items, issues, uuidFrom, doc._transform !== false);
  const consumers: ConsumerSpec[] = (doc.consumers ?? []).map((c: Raw, i: number) => ({
    id: items[i]!.id,
    username: c.username,
    customId: c.custom_id,
    tags: c.tags ?? [],
    ...credentials[i]!,
  }));
  const plugins = bindCorrelationIds(
    collectPlugins(src, doc, { services, routes, consumers }, issues, warnings, uuidFrom),
    node.headers.requestId,
    warnings,
  );
  kongEntityWarnings(doc, warnings);

  if (issues.length > 0) throw new ConfigError(issues);
  const body = { node, services, routes, upstreams: [...upstreams.values()], consumers, plugins, problems };
  const hash = createHash('sha256').update(JSON.stringify(body, hashable)).digest('hex').slice(0, 12);
  return freeze({ source: src.file, hash, ...body, warnings });
}

/**
 * What the hash sees of a spec value: Sets and Maps as their entries (JSON.stringify writes them
 * as `{}`, so two snapshots differing only in, say, `retry_policy.statuses` would hash alike, and
 * the runtime takes an equal hash for an identical snapshot that builds nothing).
 */
function hashable(_key: string, v: unknown): unknown {
  if (v instanceof Set) return { set: [...v].sort() };
  if (v instanceof Map) return { map: [...v.entries()].sort(([a], [b]) => (String(a) < String(b) ? -1 : 1)) };
  return v;
}
