/**
 * Where each Kong entity sits in a declarative document (nested or at the top level), to report
 * the Kong fields it sets that Fulcrum accepts without acting on (kong-fields.ts). Plugin configs
 * are reported by plugins/normalize.ts, which knows each plugin's table.
 */
import {
  KONG_ACL,
  KONG_BASICAUTH_CREDENTIAL,
  KONG_CA_CERTIFICATE,
  KONG_CERTIFICATE,
  KONG_CONSUMER,
  KONG_JWT_SECRET,
  KONG_KEYAUTH_CREDENTIAL,
  KONG_PLUGIN,
  KONG_ROUTE,
  KONG_SERVICE,
  KONG_SNI,
  KONG_TARGET,
  KONG_UPSTREAM,
} from './kong-entities.ts';
import { type KongTable, kongWarnings } from './kong-fields.ts';
import type { PathPart } from './load.ts';
import type { Problem } from './types.ts';

type Raw = Record<string, unknown>;
const list = (v: unknown): Raw[] => (Array.isArray(v) ? (v as Raw[]) : []);

const CREDENTIALS: Readonly<Record<string, KongTable>> = {
  keyauth_credentials: KONG_KEYAUTH_CREDENTIAL,
  basicauth_credentials: KONG_BASICAUTH_CREDENTIAL,
  jwt_secrets: KONG_JWT_SECRET,
  acls: KONG_ACL,
};

/** Top-level Kong collections Fulcrum has nothing for: accepted, reported when not empty. */
const UNSUPPORTED_TOP: Readonly<Record<string, string>> = {
  consumer_groups: 'consumer groups are an Enterprise feature Fulcrum does not have',
  key_sets: 'key sets (and keys) are not used by any built-in plugin',
  keys: 'key sets (and keys) are not used by any built-in plugin',
  filter_chains: 'Wasm filter chains are not supported',
};

export function kongEntityWarnings(doc: Raw, out: Problem[]): void {
  const each = (items: unknown, at: PathPart[], table: KongTable, inner?: (e: Raw, at: PathPart[]) => void) =>
    list(items).forEach((e, i) => {
      kongWarnings(e, table, [...at, i], out);
      inner?.(e, [...at, i]);
    });
  const plugins = (e: Raw, at: PathPart[]) => each(e.plugins, [...at, 'plugins'], KONG_PLUGIN);
  const credentials = (e: Raw, at: PathPart[]) => {
    for (const [k, t] of Object.entries(CREDENTIALS)) each(e[k], [...at, k], t);
  };
  const route = (e: Raw, at: PathPart[]) => plugins(e, at);
  each(doc.services, ['services'], KONG_SERVICE, (s, at) => {
    plugins(s, at);
    each(s.routes, [...at, 'routes'], KONG_ROUTE, route);
  });
  each(doc.routes, ['routes'], KONG_ROUTE, route);
  each(doc.upstreams, ['upstreams'], KONG_UPSTREAM, (u, at) =>
    each(u.targets, [...at, 'targets'], KONG_TARGET),
  );
  each(doc.targets, ['targets'], KONG_TARGET);
  each(doc.consumers, ['consumers'], KONG_CONSUMER, (c, at) => {
    plugins(c, at);
    credentials(c, at);
  });
  credentials(doc, []);
  each(doc.plugins, ['plugins'], KONG_PLUGIN);
  each(doc.certificates, ['certificates'], KONG_CERTIFICATE);
  each(doc.snis, ['snis'], KONG_SNI);
  each(doc.ca_certificates, ['ca_certificates'], KONG_CA_CERTIFICATE);
  for (const [k, why] of Object.entries(UNSUPPORTED_TOP))
    if (list(doc[k]).length > 0)
      out.push({ path: k, message: `Kong's "${k}" is accepted but not supported: ${why}` });
}
