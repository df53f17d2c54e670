/**
 * The admin API's view of the configuration: a flat set of Kong entities (each with `id`,
 * `created_at`, `updated_at`, references by id as Kong's admin API shows them: `route.service =
 * {id}`), and the two conversions that tie it to the declarative document:
 *
 * - importDocument: a declarative document (the file's shape: nested routes, targets, plugins) →
 *   entities. Ids given in the document are kept; absent ones are derived exactly as normalize.ts
 *   derives them, so a file loaded twice gives the same ids in the admin API and in the snapshot.
 * - exportDocument: entities → a declarative document (routes nested in their service, targets in
 *   their upstream, single-scope plugins in their owner), plus where each entity landed in it, so
 *   a validator error at `services[2].routes[0].paths[1]` can be reported as `paths[1]` of the
 *   route being written.
 *
 * Every admin change goes entities → document → the same validator and normalizer as the file →
 * snapshot → generation swap; nothing here builds a Snapshot by hand.
 */

import { CREDENTIAL_COLLECTIONS } from '../config/consumer-schema.ts';
import { dnsNodeSchemas } from '../config/discovery.ts';
import {
  consumerId,
  idOf,
  parseServiceUrl,
  refKey,
  serviceName,
  targetId,
  uuidFrom,
} from '../config/entity-ids.ts';
import { kongPrepass } from '../config/kong-compat.ts';
import { formatPath, type PathPart } from '../config/load.ts';
import { nodeSchemas } from '../config/node-schema.ts';
import { registryNodeSchemas } from '../config/registry.ts';

// biome-ignore lint/suspicious/noExplicitAny: entity bodies are checked by the schema on export
export type Entity = Record<string, any> & { id: string; created_at: number; updated_at: number };

export const KINDS = [
  'services',
  'routes',
  'upstreams',
  'targets',
  'consumers',
  'plugins',
  'certificates',
  'snis',
  'ca_certificates',
] as const;
export type Kind = (typeof KINDS)[number];

/** The whole admin state: node settings as written (`_format_version`, `listeners`, ...) and entities. */
export interface State {
  readonly node: Readonly<Record<string, unknown>>;
  readonly services: readonly Entity[];
  readonly routes: readonly Entity[];
  readonly upstreams: readonly Entity[];
  readonly targets: readonly Entity[];
  readonly consumers: readonly Entity[];
  readonly plugins: readonly Entity[];
  readonly certificates: readonly Entity[];
  /** Server names, each referencing its certificate (`certificate: {id}`). */
  readonly snis: readonly Entity[];
  readonly ca_certificates: readonly Entity[];
}

export type MutableState = { node: Record<string, unknown> } & Record<Kind, Entity[]>;

/** Document keys that are node settings rather than entities. */
export const NODE_KEYS: readonly string[] = [
  '_format_version',
  '_transform',
  '_workspace',
  '_comment',
  ...Object.keys(nodeSchemas),
  // Discovery's node settings (a managed or cluster node kept none of them before).
  ...Object.keys(dnsNodeSchemas),
  ...Object.keys(registryNodeSchemas),
  'vaults',
];

export function emptyState(): State {
  return {
    node: { _format_version: '3.0' },
    services: [],
    routes: [],
    upstreams: [],
    targets: [],
    consumers: [],
    plugins: [],
    certificates: [],
    snis: [],
    ca_certificates: [],
  };
}

export function copyState(s: State): MutableState {
  return {
    node: { ...s.node },
    services: [...s.services],
    routes: [...s.routes],
    upstreams: [...s.upstreams],
    targets: [...s.targets],
    consumers: [...s.consumers],
    plugins: [...s.plugins],
    certificates: [...s.certificates],
    snis: [...s.snis],
    ca_certificates: [...s.ca_certificates],
  };
}

type Raw = Record<string, unknown>;
const isObj = (v: unknown): v is Raw => v !== null && typeof v === 'object' && !Array.isArray(v);
const list = (v: unknown): Raw[] => (Array.isArray(v) ? v.filter(isObj) : []);

function strip(raw: Raw, drop: readonly string[]): Raw {
  const out: Raw = {};
  for (const [k, v] of Object.entries(raw)) if (!drop.includes(k)) out[k] = v;
  return out;
}

/** Expand a service's `url` into protocol/host/port/path, as Kong stores it; null when not a URL. */
export function expandServiceUrl(raw: Raw): Raw | null {
  if (typeof raw.url !== 'string') return raw;
  if (
    raw.host !== undefined ||
    raw.port !== undefined ||
    raw.path !== undefined ||
    raw.protocol !== undefined
  )
    return null;
  const u = parseServiceUrl(raw.url);
  if (typeof u === 'string') return null;
  const out = strip(raw, ['url']);
  out.protocol = u.protocol;
  out.host = u.host;
  out.port = u.port;
  out.path = u.path;
  return out;
}

/**
 * Entities from a declarative document that the validator accepted (or that is about to be
 * validated: unknown shapes are carried through for the validator to name). `now` is in seconds.
 */
export function importDocument(given: Raw, now: number, previous?: State): State {
  // As the file is read: nulls are unset, an old format is migrated (kong-compat.ts).
  const doc = kongPrepass(given).value as Raw;
  const prevAt = new Map<string, number>();
  if (previous) for (const k of KINDS) for (const e of previous[k]) prevAt.set(`${k}/${e.id}`, e.created_at);
  const stamp = (kind: Kind, id: string): { created_at: number; updated_at: number } => ({
    created_at: prevAt.get(`${kind}/${id}`) ?? now,
    updated_at: now,
  });
  const node: Raw = {};
  for (const k of NODE_KEYS) if (doc[k] !== undefined) node[k] = doc[k];
  const s: MutableState = {
    node,
    services: [],
    routes: [],
    upstreams: [],
    targets: [],
    consumers: [],
    plugins: [],
    certificates: [],
    snis: [],
    ca_certificates: [],
  };
  importTls(doc, s, stamp);
  const serviceByName = new Map<string, string>();
  const routeByName = new Map<string, string>();
  const consumerByName = new Map<string, string>();
  /** Plugins are resolved last: top-level ones name their scope, which may come later in the file. */
  const pending: { raw: Raw; at: PathPart[]; scope: Raw }[] = [];
  const nested = (owner: string, id: string, plugins: unknown, at: PathPart[]) =>
    list(plugins).forEach((p, i) => {
      pending.push({ raw: p, at: [...at, 'plugins', i], scope: { [owner]: { id } } });
    });
  const addRoute = (r: Raw, at: PathPart[], serviceId: string | null) => {
    const id = idOf('route', r, (r.name as string) ?? formatPath(at));
    s.routes.push({
      ...strip(r, ['plugins', 'service']),
      id,
      service: serviceId === null ? null : { id: serviceId },
      ...stamp('routes', id),
    });
    if (typeof r.name === 'string') routeByName.set(r.name, id);
    routeByName.set(id, id);
    nested('route', id, r.plugins, at);
  };

  list(doc.upstreams).forEach((u) => {
    const name = String(u.name);
    const id = idOf('upstream', u, name);
    s.upstreams.push({ ...strip(u, ['targets', 'plugins']), id, ...stamp('upstreams', id) });
    for (const t of list(u.targets)) s.targets.push(importTarget(t, name, id, stamp));
  });
  const upstreamByRef = new Map<unknown, Entity>();
  for (const u of s.upstreams)
    for (const k of [u.id, u.name]) if (!upstreamByRef.has(k)) upstreamByRef.set(k, u);
  list(doc.targets).forEach((t) => {
    const u = upstreamByRef.get(refKey(t.upstream));
    if (u) s.targets.push(importTarget(strip(t, ['upstream']), u.name, u.id, stamp));
  });
  list(doc.services).forEach((sv, i) => {
    const name = serviceName(sv, i);
    const id = idOf('service', sv, name);
    const body = expandServiceUrl(strip(sv, ['routes', 'plugins'])) ?? strip(sv, ['routes', 'plugins']);
    s.services.push({ ...body, id, ...stamp('services', id) });
    serviceByName.set(name, id);
    serviceByName.set(id, id);
    nested('service', id, sv.plugins, ['services', i]);
    list(sv.routes).forEach((r, j) => {
      addRoute(r, ['services', i, 'routes', j], id);
    });
  });
  list(doc.routes).forEach((r, i) => {
    const ref = refKey(r.service);
    const sid = ref === null ? null : (serviceByName.get(ref) ?? null);
    addRoute(r, ['routes', i], sid);
  });
  list(doc.consumers).forEach((c, i) => {
    const id = consumerId(c);
    s.consumers.push({ ...strip(c, ['plugins']), id, ...stamp('consumers', id) });
    for (const k of [c.username, c.custom_id, id]) if (typeof k === 'string') consumerByName.set(k, id);
    nested('consumer', id, c.plugins, ['consumers', i]);
  });
  importTopLevelCredentials(doc, s, consumerByName);
  list(doc.plugins).forEach((p, i) => {
    const scope: Raw = {};
    const look = (m: Map<string, string>, v: unknown) => {
      const k = refKey(v);
      return k === null ? null : { id: m.get(k) ?? k };
    };
    if (p.service !== undefined) scope.service = look(serviceByName, p.service);
    if (p.route !== undefined) scope.route = look(routeByName, p.route);
    if (p.consumer !== undefined) scope.consumer = look(consumerByName, p.consumer);
    pending.push({ raw: strip(p, ['service', 'route', 'consumer']), at: ['plugins', i], scope });
  });
  for (const { raw, at, scope } of pending) {
    const id = typeof raw.id === 'string' ? raw.id : uuidFrom('plugin', formatPath(at));
    s.plugins.push({
      service: null,
      route: null,
      consumer: null,
      ...raw,
      ...scope,
      id,
      ...stamp('plugins', id),
    });
  }
  return s;
}

/** Certificates with their nested snis (strings or objects), top-level snis, CA certificates. */
function importTls(
  doc: Raw,
  s: MutableState,
  stamp: (k: Kind, id: string) => { created_at: number; updated_at: number },
): void {
  const sni = (name: unknown, certificate: unknown, extra: Raw) => {
    const id = typeof extra.id === 'string' ? extra.id : uuidFrom('sni', String(name).toLowerCase());
    s.snis.push({ ...extra, name, certificate, id, ...stamp('snis', id) });
  };
  for (const c of list(doc.certificates)) {
    const id = typeof c.id === 'string' ? c.id : uuidFrom('certificate', String(c.cert));
    s.certificates.push({ ...strip(c, ['snis']), id, ...stamp('certificates', id) });
    if (Array.isArray(c.snis))
      for (const n of c.snis) {
        if (typeof n === 'string') sni(n, { id }, {});
        else if (isObj(n)) sni(n.name, { id }, strip(n, ['name', 'certificate']));
      }
  }
  for (const n of list(doc.snis)) {
    const ref = n.certificate;
    sni(n.name, typeof ref === 'string' ? { id: ref } : (ref ?? null), strip(n, ['name', 'certificate']));
  }
  for (const c of list(doc.ca_certificates)) {
    const id = typeof c.id === 'string' ? c.id : uuidFrom('ca_certificate', String(c.cert));
    s.ca_certificates.push({ ...c, id, ...stamp('ca_certificates', id) });
  }
}

function importTarget(
  t: Raw,
  upstream: string,
  upstreamId: string,
  stamp: (k: Kind, id: string) => { created_at: number; updated_at: number },
): Entity {
  const id = targetId(t, upstream);
  return { ...t, id, upstream: { id: upstreamId }, ...stamp('targets', id) };
}

/**
 * Kong's flat credential collections (`keyauth_credentials: [{consumer: ..., key: ...}]`, as
 * `db_export` writes them) moved into their consumer, where the admin state keeps them; those
 * naming no known consumer stay at the top level for the validator to refuse.
 */
function importTopLevelCredentials(doc: Raw, s: MutableState, consumerByRef: Map<string, string>): void {
  for (const { name } of CREDENTIAL_COLLECTIONS) {
    const loose: Raw[] = [];
    for (const c of list(doc[name])) {
      const ref = refKey(c.consumer);
      const cid = ref === null ? undefined : consumerByRef.get(ref);
      const i = cid === undefined ? -1 : s.consumers.findIndex((e) => e.id === cid);
      if (i < 0) {
        loose.push(c);
        continue;
      }
      const owner = s.consumers[i]!;
      const items = Array.isArray(owner[name]) ? (owner[name] as Raw[]) : [];
      s.consumers[i] = { ...owner, [name]: [...items, strip(c, ['consumer'])] };
    }
    if (loose.length > 0) s.node[name] = loose;
  }
}

/** What an entity looks like inside the document: no timestamps, no id-references. */
function bare(e: Entity, drop: readonly string[]): Raw {
  const out: Raw = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === 'created_at' || k === 'updated_at' || drop.includes(k) || v === null || v === undefined)
      continue;
    out[k] = v;
  }
  return out;
}

export interface Exported {
  readonly doc: Raw;
  /** Entity id → its path in `doc` (`services[1].routes[0]`), for error messages. */
  readonly at: ReadonlyMap<string, readonly PathPart[]>;
}

const refId = (v: unknown): string | null =>
  isObj(v) && typeof v.id === 'string' ? v.id : typeof v === 'string' ? v : null;

/** The declarative document of a state: what GET /config answers and the validator checks. */
export function exportDocument(s: State): Exported {
  const at = new Map<string, PathPart[]>();
  const doc: Raw = { ...s.node };
  if (doc._format_version === undefined) doc._format_version = '3.0';
  const scopes = (p: Entity) =>
    (['service', 'route', 'consumer'] as const).filter((k) => refId(p[k]) !== null);
  // Plugins of one scope, grouped once by owner (a scan of every plugin per owner would be
  // quadratic in a large configuration).
  const single = new Map<string, Entity[]>();
  for (const p of s.plugins) {
    const sc = scopes(p);
    if (sc.length !== 1) continue;
    const key = `${sc[0]}/${refId(p[sc[0]!])}`;
    const l = single.get(key);
    if (l) l.push(p);
    else single.set(key, [p]);
  }
  const ownPlugins = (kind: 'service' | 'route' | 'consumer', id: string, where: PathPart[]) =>
    (single.get(`${kind}/${id}`) ?? []).map((p, i) => {
      at.set(p.id, [...where, 'plugins', i]);
      return bare(p, ['service', 'route', 'consumer']);
    });
  const routesOf = new Map<string, Entity[]>();
  const serviceIds = new Set(s.services.map((x) => x.id));
  const loose: Entity[] = [];
  for (const r of s.routes) {
    const sid = refId(r.service);
    if (sid !== null && serviceIds.has(sid)) {
      const l = routesOf.get(sid) ?? [];
      l.push(r);
      routesOf.set(sid, l);
    } else loose.push(r);
  }
  const withRoute = (r: Entity, where: PathPart[]): Raw => {
    at.set(r.id, where);
    const out = bare(r, ['service']);
    const plugins = ownPlugins('route', r.id, where);
    if (plugins.length > 0) out.plugins = plugins;
    return out;
  };
  if (s.services.length > 0)
    doc.services = s.services.map((sv, i) => {
      const where: PathPart[] = ['services', i];
      at.set(sv.id, where);
      const out = bare(sv, []);
      const routes = (routesOf.get(sv.id) ?? []).map((r, j) => withRoute(r, [...where, 'routes', j]));
      if (routes.length > 0) out.routes = routes;
      const plugins = ownPlugins('service', sv.id, where);
      if (plugins.length > 0) out.plugins = plugins;
      return out;
    });
  if (loose.length > 0) doc.routes = loose.map((r, i) => withRoute(r, ['routes', i]));
  const targetsOf = groupBy(s.targets, 'upstream');
  if (s.upstreams.length > 0)
    doc.upstreams = s.upstreams.map((u, i) => {
      const where: PathPart[] = ['upstreams', i];
      at.set(u.id, where);
      const out = bare(u, []);
      const targets = childrenOf(targetsOf, 'upstream', u.id, [...where, 'targets'], at);
      if (targets.length > 0) out.targets = targets;
      return out;
    });
  if (s.consumers.length > 0)
    doc.consumers = s.consumers.map((c, i) => {
      const where: PathPart[] = ['consumers', i];
      at.set(c.id, where);
      const out = bare(c, []);
      const plugins = ownPlugins('consumer', c.id, where);
      if (plugins.length > 0) out.plugins = plugins;
      return out;
    });
  const byId = new Map<string, Entity>();
  for (const k of ['services', 'routes', 'consumers'] as const)
    for (const e of s[k]) if (!byId.has(`${k}/${e.id}`)) byId.set(`${k}/${e.id}`, e);
  const nameOf = (kind: 'services' | 'routes' | 'consumers', field: string, id: string) => {
    const e = byId.get(`${kind}/${id}`);
    return e && typeof e[field] === 'string' ? (e[field] as string) : id;
  };
  const global: Raw[] = [];
  for (const p of s.plugins) {
    const sc = scopes(p);
    if (sc.length === 1) continue;
    const out = bare(p, ['service', 'route', 'consumer']);
    if (sc.includes('service')) out.service = nameOf('services', 'name', refId(p.service)!);
    if (sc.includes('route')) out.route = nameOf('routes', 'name', refId(p.route)!);
    if (sc.includes('consumer')) out.consumer = nameOf('consumers', 'username', refId(p.consumer)!);
    at.set(p.id, ['plugins', global.length]);
    global.push(out);
  }
  if (global.length > 0) doc.plugins = global;
  exportTls(s, doc, at);
  return { doc, at };
}

/**
 * The entities of `list` whose `field` refers to `parentId`, as nested document items (the
 * reference dropped), each position recorded in `at` under `where`.
 */
function childrenOf(
  groups: ReadonlyMap<string, Entity[]>,
  field: string,
  parentId: string,
  where: PathPart[],
  at: Map<string, PathPart[]>,
): Raw[] {
  return (groups.get(parentId) ?? []).map((e, i) => {
    at.set(e.id, [...where, i]);
    return bare(e, [field]);
  });
}

/** The entities of `list` by the id their `field` refers to, in list order (grouped once, not per parent). */
function groupBy(list: readonly Entity[], field: string): Map<string, Entity[]> {
  const out = new Map<string, Entity[]>();
  for (const e of list) {
    const id = refId(e[field]);
    if (id === null) continue;
    const l = out.get(id);
    if (l) l.push(e);
    else out.set(id, [e]);
  }
  return out;
}

/** Certificates with their snis nested (as `{name, id, tags}`); snis of a missing certificate at top level. */
function exportTls(s: State, doc: Raw, at: Map<string, PathPart[]>): void {
  const certIds = new Set(s.certificates.map((c) => c.id));
  const snisOf = groupBy(s.snis, 'certificate');
  if (s.certificates.length > 0)
    doc.certificates = s.certificates.map((c, i) => {
      const where: PathPart[] = ['certificates', i];
      at.set(c.id, where);
      const out = bare(c, []);
      const names = childrenOf(snisOf, 'certificate', c.id, [...where, 'snis'], at);
      if (names.length > 0) out.snis = names;
      return out;
    });
  const loose = s.snis.filter((n) => !certIds.has(refId(n.certificate) ?? ''));
  if (loose.length > 0)
    doc.snis = loose.map((n, i) => {
      at.set(n.id, ['snis', i]);
      const out = bare(n, ['certificate']);
      const ref = refId(n.certificate);
      if (ref !== null) out.certificate = ref;
      return out;
    });
  if (s.ca_certificates.length > 0)
    doc.ca_certificates = s.ca_certificates.map((c, i) => {
      at.set(c.id, ['ca_certificates', i]);
      return bare(c, []);
    });
}

/** A secret reference (`{vault://...}`, `${NAME}`), resolved only when a document is validated. */
const SECRET_REFERENCE = /^\{vault:\/\/|^\$\{/;

/**
 * The state with every basic-auth password in Kong's stored form and `_transform: false`, as
 * Kong keeps them: what a credential written through the admin API needs (it is stored hashed,
 * never in clear). A password that is a secret reference cannot be hashed here: null then.
 */
export function withHashedPasswords(
  s: State,
  hash: (password: string, consumerId: string) => string,
): State | null {
  if (s.node._transform === false) return s;
  const next = copyState(s);
  for (let i = 0; i < next.consumers.length; i++) {
    const c = next.consumers[i]!;
    const creds = c.basicauth_credentials;
    if (!Array.isArray(creds) || creds.length === 0) continue;
    const hashed: Raw[] = [];
    for (const b of creds as Raw[]) {
      const pw = String(b.password ?? '');
      if (SECRET_REFERENCE.test(pw)) return null;
      hashed.push({ ...b, password: hash(pw, c.id) });
    }
    next.consumers[i] = { ...c, basicauth_credentials: hashed };
  }
  next.node._transform = false;
  return next;
}
