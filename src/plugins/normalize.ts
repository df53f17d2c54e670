/**
 * The plugin half of normalization (called by config/normalize.ts): every plugin instance of the
 * file with its scope resolved (nested under a service, route or consumer, or top-level naming
 * them), its config checked by the plugin and defaulted; and the consumers' credentials.
 *
 * A plugin naming a service or route that does not exist refuses the file (as Kong's foreign keys
 * do): dropping an authentication plugin silently would open a route. A plugin of a consumer that
 * does not exist, or an `anonymous` consumer that does not exist, loads with a warning, as in Kong.
 */
import { refKey } from '../config/entity-ids.ts';
import { kongWarnings } from '../config/kong-fields.ts';
import { type ConfigIssue, formatPath, type ParsedSource, type PathPart } from '../config/load.ts';
import type {
  BasicAuthCredentialSpec,
  JwtSecretSpec,
  KeyAuthCredentialSpec,
  PluginSpec,
  Problem,
  RouteSpec,
  ServiceSpec,
} from '../config/types.ts';
import { REDACTED, REDACTED_REFUSAL } from '../core/redacted.ts';
import { checkJwtKey } from './jwt-verify.ts';
import { hashBasicPassword } from './password.ts';
import { checkPluginConfig, pluginByName, pluginNames } from './registry.ts';

/** Kong's refusal of a plugin it does not have, with the ones Fulcrum has. */
export function unknownPluginMessage(name: string): string {
  return `plugin '${name}' not enabled; add it to the 'plugins' configuration property (Fulcrum has: ${pluginNames().join(', ')})`;
}

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;
type Uuid = (kind: string, key: string) => string;

export interface ConsumerCredentials {
  readonly keyauthCredentials: readonly KeyAuthCredentialSpec[];
  readonly basicauthCredentials: readonly BasicAuthCredentialSpec[];
  readonly acls: readonly string[];
  readonly jwtSecrets: readonly JwtSecretSpec[];
}

/** Kong's stored basic-auth password: 40 hex digits (password.ts). */
const SHA1_HEX = /^[0-9a-f]{40}$/i;

/** One credential item and where it is in the file (nested in its consumer, or at the top level). */
export interface Located {
  readonly raw: Raw;
  readonly at: PathPart[];
}

/** A consumer's credential items by collection (`keyauth_credentials`, ...), gathered from the file. */
export interface ConsumerItems {
  readonly id: string;
  /** Whether the file gives the consumer's id (the salt of a stored basic-auth hash). */
  readonly idGiven: boolean;
  readonly at: PathPart[];
  readonly items: Readonly<Record<string, readonly Located[]>>;
}

/**
 * Credentials of every consumer (index-aligned with `consumers`); keys and usernames are unique.
 * `transform` is the document's `_transform` (Kong's): true, basic-auth passwords are in clear
 * and hashed here; false (a `db_export` or decK dump), they are Kong's stored hashes and kept as
 * given, so the user's cleartext verifies against them and the hash itself does not.
 */
export function normalizeCredentials(
  src: ParsedSource,
  consumers: readonly ConsumerItems[],
  issues: ConfigIssue[],
  uuid: Uuid,
  transform: boolean,
): ConsumerCredentials[] {
  const keys = new Map<string, string>();
  const users = new Map<string, string>();
  const jwtKeys = new Map<string, string>();
  const unique = (seen: Map<string, string>, v: string, at: PathPart[], what: string) => {
    const first = seen.get(v);
    if (first !== undefined) issues.push(src.issue(at, `duplicate ${what} (also at ${first})`));
    else seen.set(v, formatPath(at));
  };
  return consumers.map((c) => {
    const id = c.id;
    const list = (field: string) => c.items[field] ?? [];
    const keyauth = list('keyauth_credentials').map(({ raw: k, at }) => {
      unique(keys, k.key, [...at, 'key'], 'key-auth key');
      return { id: k.id ?? uuid('keyauth_credential', `${id}/${k.key}`), key: k.key, tags: k.tags ?? [] };
    });
    const basic = list('basicauth_credentials').map(({ raw: b, at: bat }) => {
      unique(users, b.username, [...bat, 'username'], 'basic-auth username');
      const password = String(b.password ?? '');
      if (!transform && !c.idGiven)
        issues.push(
          src.issue(
            [...c.at, 'id'],
            "with _transform: false the consumer's id is needed: Kong's stored basic-auth password is salted with it",
          ),
        );
      else if (!transform && !SHA1_HEX.test(password))
        issues.push(
          src.issue(
            [...bat, 'password'],
            "with _transform: false a basic-auth password is Kong's stored hash (40 hex digits: SHA-1 of the password followed by the consumer id); give the cleartext password with _transform: true instead",
          ),
        );
      return {
        id: b.id ?? uuid('basicauth_credential', `${id}/${b.username}`),
        username: b.username,
        passwordHash: transform ? hashBasicPassword(password, id) : password.toLowerCase(),
        tags: b.tags ?? [],
      };
    });
    const acls = [...new Set(list('acls').map(({ raw: a }) => a.group as string))];
    const jwtSecrets = list('jwt_secrets').map(({ raw: j, at: jat }) => {
      unique(jwtKeys, j.key, [...jat, 'key'], 'jwt key');
      const algorithm: string = j.algorithm ?? 'HS256';
      const jwksUri: string = j.jwks_uri ?? '';
      const why =
        jwksUri === ''
          ? checkJwtKey(algorithm, j.secret ?? '', j.rsa_public_key ?? '')
          : algorithm.startsWith('HS')
            ? `jwks_uri needs an asymmetric algorithm, not ${algorithm}`
            : null;
      if (j.secret === REDACTED)
        issues.push(src.issue([...jat, 'secret'], `this secret ${REDACTED_REFUSAL}`));
      else if (why !== null) issues.push(src.issue(jat, why));
      return {
        id: j.id ?? uuid('jwt_secret', `${id}/${j.key}`),
        key: j.key,
        algorithm,
        secret: j.secret ?? '',
        publicKey: j.rsa_public_key ?? '',
        jwksUri,
        tags: j.tags ?? [],
      };
    });
    return { keyauthCredentials: keyauth, basicauthCredentials: basic, acls, jwtSecrets };
  });
}

interface Scope {
  service: string | null;
  route: string | null;
  consumer: string | null;
}

/** Every plugin of the document, scoped, checked and defaulted. */
export function collectPlugins(
  src: ParsedSource,
  doc: Raw,
  known: {
    services: readonly ServiceSpec[];
    routes: readonly RouteSpec[];
    consumers: readonly { id: string; username: string | undefined }[];
  },
  issues: ConfigIssue[],
  warnings: Problem[],
  uuid: Uuid,
): PluginSpec[] {
  const out: PluginSpec[] = [];
  const seen = new Map<string, string>();
  // References by name or id, indexed once (a lookup per plugin must not scan every route: a
  // configuration of 10,000 routes would cost 10,000² steps). The first object that matches wins,
  // as a scan in file order would find it.
  const index = <T>(list: readonly T[], keys: (x: T) => (string | undefined)[], value: (x: T) => string) => {
    const m = new Map<string, string>();
    for (const x of list) for (const k of keys(x)) if (k !== undefined && !m.has(k)) m.set(k, value(x));
    return m;
  };
  const services = index(
    known.services,
    (s) => [s.name, s.id],
    (s) => s.name,
  );
  const routes = index(
    known.routes,
    (r) => [r.name, r.id],
    (r) => r.id,
  );
  const consumers = index(
    known.consumers,
    (c) => [c.id, c.username],
    (c) => c.id,
  );
  const routeAt = new Map(known.routes.map((r) => [r.path, r.id]));
  const serviceRef = (ref: string) => services.get(ref) ?? null;
  const routeRef = (ref: string) => routes.get(ref) ?? null;
  const consumerRef = (ref: string) => consumers.get(ref) ?? null;

  const one = (p: Raw, at: PathPart[], parent: Scope) => {
    const def = pluginByName(p.name);
    if (def === null) {
      issues.push(src.issue([...at, 'name'], unknownPluginMessage(String(p.name))));
      return;
    }
    const scope: Scope = { ...parent };
    const refs: [keyof Scope, (r: string) => string | null][] = [
      ['service', serviceRef],
      ['route', routeRef],
      ['consumer', consumerRef],
    ];
    for (const [field, find] of refs) {
      if (p[field] === undefined || p[field] === null) continue;
      const ref = refKey(p[field]) ?? String(p[field]);
      const resolved = find(ref);
      if (resolved === null && field === 'consumer') {
        // Kong loads it: a plugin of a consumer that does not exist never applies (dropping it
        // opens nothing, unlike an authentication plugin of a missing route or service).
        warnings.push({
          path: formatPath([...at, field]),
          message: `consumer ${JSON.stringify(ref)} does not exist; this plugin never applies`,
        });
        return;
      }
      if (resolved === null) {
        issues.push(src.issue([...at, field], `${field} ${JSON.stringify(ref)} does not exist`));
        return;
      }
      if (parent[field] !== null && parent[field] !== resolved) {
        issues.push(
          src.issue([...at, field], `a nested plugin belongs to its parent ${field}; remove "${field}"`),
        );
        return;
      }
      scope[field] = resolved;
    }
    if (def.kong !== undefined) kongWarnings(p.config, def.kong, [...at, 'config'], warnings);
    const { config, problems } = checkPluginConfig(p.name, (p.config ?? {}) as Raw);
    for (const pr of problems) issues.push(src.issue([...at, 'config', ...pr.path], pr.message));
    if (def.noConsumer && scope.consumer !== null)
      issues.push(
        src.issue(
          parent.consumer !== null ? at : [...at, 'consumer'],
          `${p.name} authenticates consumers and cannot be scoped to one`,
        ),
      );
    for (const ref of def.serviceRefs?.(config) ?? [])
      if (serviceRef(ref.name) === null)
        issues.push(
          src.issue([...at, 'config', ...ref.path], `service ${JSON.stringify(ref.name)} does not exist`),
        );
    const anon = config.anonymous;
    // Kong loads it and fails closed at request time: a request that does not authenticate is
    // answered 500 (auth-common.ts), never let through.
    if (typeof anon === 'string' && consumerRef(anon) === null)
      warnings.push({
        path: formatPath([...at, 'config', 'anonymous']),
        message: `consumer ${JSON.stringify(anon)} does not exist; a request that does not authenticate is answered 500, as in Kong`,
      });
    const key = `${p.name}|${scope.service}|${scope.route}|${scope.consumer}`;
    const first = seen.get(key);
    if (first !== undefined) {
      issues.push(src.issue(at, `${p.name} is already configured for this scope (at ${first})`));
      return;
    }
    seen.set(key, formatPath(at));
    out.push({
      id: p.id ?? uuid('plugin', key),
      name: p.name,
      instanceName: p.instance_name ?? '',
      enabled: p.enabled ?? true,
      config,
      service: scope.service,
      route: scope.route,
      consumer: scope.consumer,
      path: formatPath(at),
      tags: p.tags ?? [],
    });
  };

  const none: Scope = { service: null, route: null, consumer: null };
  const each = (list: Raw[] | undefined, at: PathPart[], parent: Scope) => {
    (list ?? []).forEach((p, i) => {
      one(p, [...at, i], parent);
    });
  };
  (doc.services ?? []).forEach((s: Raw, i: number) => {
    const name = known.services[i]?.name ?? null;
    each(s.plugins, ['services', i, 'plugins'], { ...none, service: name });
    (s.routes ?? []).forEach((r: Raw, j: number) => {
      const route = routeAt.get(formatPath(['services', i, 'routes', j]));
      each(r.plugins, ['services', i, 'routes', j, 'plugins'], { ...none, route: route ?? null });
    });
  });
  (doc.routes ?? []).forEach((r: Raw, i: number) => {
    const route = routeAt.get(formatPath(['routes', i]));
    each(r.plugins, ['routes', i, 'plugins'], { ...none, route: route ?? null });
  });
  (doc.consumers ?? []).forEach((c: Raw, i: number) => {
    each(c.plugins, ['consumers', i, 'plugins'], { ...none, consumer: known.consumers[i]?.id ?? null });
  });
  each(doc.plugins, ['plugins'], none);
  return out;
}
