/**
 * The plugin half of normalization (called by config/normalize.ts): every plugin instance of the
 * file with its scope resolved (nested under a service, route or consumer, or top-level naming
 * them), its config checked by the plugin and defaulted; and the consumers' credentials.
 *
 * A plugin naming a service, route or consumer that does not exist refuses the file (as Kong's
 * foreign keys do): dropping an authentication plugin silently would open a route.
 */
import { type ConfigIssue, formatPath, type ParsedSource, type PathPart } from '../config/load.ts';
import type {
  BasicAuthCredentialSpec,
  JwtSecretSpec,
  KeyAuthCredentialSpec,
  PluginSpec,
  RouteSpec,
  ServiceSpec,
} from '../config/types.ts';
import { REDACTED, REDACTED_REFUSAL } from '../core/redacted.ts';
import { checkJwtKey } from './jwt-verify.ts';
import { hashBasicPassword } from './password.ts';
import { checkPluginConfig, pluginByName } from './registry.ts';

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

/**
 * Credentials of every consumer (index-aligned with `doc.consumers`); keys and usernames are
 * unique. `transform` is the document's `_transform` (Kong's): true, basic-auth passwords are in
 * clear and hashed here; false (a `db_export` or decK dump), they are Kong's stored hashes and
 * kept as given, so the user's cleartext verifies against them and the hash itself does not.
 */
export function normalizeCredentials(
  src: ParsedSource,
  consumers: Raw[] | undefined,
  ids: readonly string[],
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
  return (consumers ?? []).map((c, i) => {
    const id = ids[i]!;
    const at: PathPart[] = ['consumers', i];
    const keyauth = ((c.keyauth_credentials ?? []) as Raw[]).map((k, j) => {
      unique(keys, k.key, [...at, 'keyauth_credentials', j, 'key'], 'key-auth key');
      return { id: k.id ?? uuid('keyauth_credential', `${id}/${k.key}`), key: k.key, tags: k.tags ?? [] };
    });
    const basic = ((c.basicauth_credentials ?? []) as Raw[]).map((b, j) => {
      const bat: PathPart[] = [...at, 'basicauth_credentials', j];
      unique(users, b.username, [...bat, 'username'], 'basic-auth username');
      const password = String(b.password ?? '');
      if (!transform && typeof c.id !== 'string')
        issues.push(
          src.issue(
            [...at, 'id'],
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
    const acls = [...new Set(((c.acls ?? []) as Raw[]).map((a) => a.group as string))];
    const jwtSecrets = ((c.jwt_secrets ?? []) as Raw[]).map((j, k) => {
      const jat: PathPart[] = [...at, 'jwt_secrets', k];
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
    if (def === null) return; // reported by config/normalize.ts
    const scope: Scope = { ...parent };
    const refs: [keyof Scope, (r: string) => string | null][] = [
      ['service', serviceRef],
      ['route', routeRef],
      ['consumer', consumerRef],
    ];
    for (const [field, find] of refs) {
      if (p[field] === undefined || p[field] === null) continue;
      const ref = typeof p[field] === 'object' ? (p[field].id ?? p[field].name) : p[field];
      const resolved = find(String(ref));
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
    if (typeof anon === 'string' && consumerRef(anon) === null)
      issues.push(
        src.issue([...at, 'config', 'anonymous'], `consumer ${JSON.stringify(anon)} does not exist`),
      );
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
