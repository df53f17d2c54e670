/**
 * An entity as Kong's admin API shows it: every field of the entity's schema, defaults filled in
 * (`enabled: true`, `protocols`, `connect_timeout`, a target's `weight`, a plugin's whole `config`
 * with its defaults) and Kong's other fields as `null` when unset. Clients such as decK compare
 * what they read with what they would write, so a field left out reads as a difference. Only the
 * replies are completed; the state keeps what was given.
 *
 * A client that compares without filling Kong's defaults itself (decK 1.x before schema-based
 * defaults, such as Debian's 1.4) would see every default as a change on each `deck diff`; it can
 * ask for the entities as written with the request header `Fulcrum-Defaults: given`.
 */
import {
  KONG_CA_CERTIFICATE,
  KONG_CERTIFICATE,
  KONG_CONSUMER,
  KONG_PLUGIN,
  KONG_ROUTE,
  KONG_SERVICE,
  KONG_SNI,
  KONG_TARGET,
  KONG_UPSTREAM,
} from '../config/kong-entities.ts';
import type { KongTable } from '../config/kong-fields.ts';
import { pluginByName, pluginConfigSchema } from '../plugins/registry.ts';
import type { Entity, Kind } from '../store/document.ts';

type Raw = Record<string, unknown>;

const TABLES: Readonly<Record<Kind, KongTable>> = {
  services: KONG_SERVICE,
  routes: KONG_ROUTE,
  upstreams: KONG_UPSTREAM,
  targets: KONG_TARGET,
  consumers: KONG_CONSUMER,
  plugins: KONG_PLUGIN,
  certificates: KONG_CERTIFICATE,
  snis: KONG_SNI,
  ca_certificates: KONG_CA_CERTIFICATE,
};

/** Kong's default `protocols` of a plugin (Fulcrum runs plugins on every protocol of the route). */
const PLUGIN_PROTOCOLS = ['grpc', 'grpcs', 'http', 'https'];
/** Fields of the document only, never shown on an entity (`url` is expanded when stored). */
const HIDDEN = new Set(['url', 'routes', 'plugins', 'targets']);

/** Kong fields whose Kong default is null where Fulcrum's schema has one (Kong shows null). */
const KONG_NULL: Readonly<Partial<Record<Kind, readonly string[]>>> = {
  services: ['path', 'tls_verify'],
};

/** Whether a request asks for entities as written (`Fulcrum-Defaults: given`) instead of Kong's view. */
export function wantsGiven(headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  return String(headers['fulcrum-defaults'] ?? '').toLowerCase() === 'given';
}

/**
 * `value` with the defaults of `schema`'s properties filled in (only those named in `only`, when
 * given), records recursively, and `null` for the fields of `nullFor` still unset.
 */
export function withDefaults(
  schema: Raw | null,
  value: Raw,
  nullFor: readonly string[] = [],
  only?: ReadonlySet<string>,
): Raw {
  const out: Raw = { ...value };
  const props = (schema?.properties ?? {}) as Record<string, Raw>;
  for (const [k, p] of Object.entries(props)) {
    if (only !== undefined && !only.has(k)) continue;
    const v = out[k];
    if (v === undefined && p.default !== undefined) out[k] = structuredClone(p.default);
    const now = out[k];
    if (p.properties !== undefined && now !== null && typeof now === 'object' && !Array.isArray(now))
      out[k] = withDefaults(p, now as Raw);
  }
  for (const k of nullFor) if (out[k] === undefined && !k.includes('.')) out[k] = null;
  return out;
}

/** The entity of `kind` as Kong's admin API would answer it. */
export function kongView(kind: Kind, e: Entity, schema: Raw): Entity {
  const kong = Object.keys(TABLES[kind]).filter((k) => !k.includes('.') && !k.startsWith('_'));
  const nulls = new Set(KONG_NULL[kind] ?? []);
  const out = withDefaults(schema, e, kong, new Set(kong.filter((k) => !nulls.has(k)))) as Entity;
  for (const k of HIDDEN) delete out[k];
  if (kind === 'plugins') {
    const name = String(e.name);
    const configSchema = pluginConfigSchema(name);
    const def = pluginByName(name);
    const unset = [...Object.keys((configSchema?.properties ?? {}) as Raw), ...Object.keys(def?.kong ?? {})];
    out.config = withDefaults(configSchema, (e.config ?? {}) as Raw, unset);
    if (e.protocols === undefined) out.protocols = PLUGIN_PROTOCOLS;
  }
  return out;
}
