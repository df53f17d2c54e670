/**
 * The Kong entity rules of the admin API, as pure functions over a State: how each kind is
 * addressed (id, or its name-like field), which fields reference other entities, what must be
 * unique (409), how a body becomes an entity (Kong's `url` shorthand, references given as a name,
 * `{id}` or `{name}`), and what deleting cascades to. Schema checks are not here: every write is
 * validated afterwards as a whole document by the file's validator (control.ts).
 */
import { randomUUID } from 'node:crypto';
import { canonicalTarget } from '../config/entity-ids.ts';
import {
  consumerSchema,
  pluginSchema,
  routeSchema,
  serviceSchema,
  targetSchema,
  upstreamSchema,
} from '../config/schema.ts';
import { caCertificateSchema, certificateSchema, sniSchema } from '../config/tls-schema.ts';
import { Refusal } from '../runtime/config-control.ts';
import { copyState, type Entity, expandServiceUrl, type Kind, type State } from '../store/document.ts';
import { kongView } from './kong-view.ts';

type Raw = Record<string, unknown>;

export interface KindDef {
  readonly kind: Kind;
  /** `service`, as used in references and messages. */
  readonly singular: string;
  readonly schema: Raw;
  /** Fields that address an item besides its id (`/services/{name}`), in lookup order. */
  readonly keys: readonly string[];
  /** Reference fields → the kind they point at. */
  readonly refs: Readonly<Record<string, Kind>>;
  /** Document-only nesting fields refused in an entity body, with where to go instead. */
  readonly nested: Readonly<Record<string, string>>;
}

export const DEFS: Readonly<Record<Kind, KindDef>> = {
  services: {
    kind: 'services',
    singular: 'service',
    schema: serviceSchema,
    keys: ['name'],
    refs: {},
    nested: { routes: '/services/{service}/routes', plugins: '/services/{service}/plugins' },
  },
  routes: {
    kind: 'routes',
    singular: 'route',
    schema: routeSchema,
    keys: ['name'],
    refs: { service: 'services' },
    nested: { plugins: '/routes/{route}/plugins' },
  },
  upstreams: {
    kind: 'upstreams',
    singular: 'upstream',
    schema: upstreamSchema,
    keys: ['name'],
    refs: {},
    nested: { targets: '/upstreams/{upstream}/targets' },
  },
  targets: {
    kind: 'targets',
    singular: 'target',
    schema: targetSchema,
    keys: ['target'],
    refs: { upstream: 'upstreams' },
    nested: {},
  },
  consumers: {
    kind: 'consumers',
    singular: 'consumer',
    schema: consumerSchema,
    keys: ['username', 'custom_id'],
    refs: {},
    nested: { plugins: '/consumers/{consumer}/plugins' },
  },
  plugins: {
    kind: 'plugins',
    singular: 'plugin',
    schema: pluginSchema,
    keys: ['instance_name'],
    refs: { service: 'services', route: 'routes', consumer: 'consumers' },
    nested: {},
  },
  certificates: {
    kind: 'certificates',
    singular: 'certificate',
    schema: certificateSchema,
    // Kong also addresses a certificate by one of its server names (see find).
    keys: [],
    refs: {},
    nested: {},
  },
  snis: {
    kind: 'snis',
    singular: 'sni',
    schema: sniSchema,
    keys: ['name'],
    refs: { certificate: 'certificates' },
    nested: {},
  },
  ca_certificates: {
    kind: 'ca_certificates',
    singular: 'ca_certificate',
    schema: caCertificateSchema,
    keys: [],
    refs: {},
    nested: {},
  },
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID.test(s);

/** A parent scope from a nested path: `/upstreams/{u}/targets` is `{field: 'upstream', id}`. */
export interface Scope {
  readonly field: string;
  readonly id: string;
}

const refOf = (v: unknown): string | null =>
  v !== null && typeof v === 'object' && typeof (v as Raw).id === 'string' ? ((v as Raw).id as string) : null;

const normTarget = (t: unknown): string => canonicalTarget(t)?.target ?? String(t);

function inScope(e: Entity, scope: Scope | null): boolean {
  return scope === null || refOf(e[scope.field]) === scope.id;
}

/** An entity by id, or by one of its key fields (targets compare `host:port` normalized). */
export function find(
  state: State,
  kind: Kind,
  idOrKey: string,
  scope: Scope | null = null,
): Entity | undefined {
  const list = state[kind];
  const byId = list.find((e) => e.id === idOrKey && inScope(e, scope));
  if (byId) return byId;
  for (const key of DEFS[kind].keys) {
    const want = kind === 'targets' ? normTarget(idOrKey) : idOrKey;
    const hit = list.find(
      (e) => inScope(e, scope) && (kind === 'targets' ? normTarget(e[key]) : e[key]) === want,
    );
    if (hit) return hit;
  }
  if (kind === 'certificates' && scope === null) {
    const sni = state.snis.find((n) => String(n.name).toLowerCase() === idOrKey.toLowerCase());
    const id = sni ? refOf(sni.certificate) : null;
    if (id !== null) return list.find((e) => e.id === id);
  }
  return undefined;
}

/** An entity as the API shows it: a certificate lists its server names (`snis`), as Kong's does. */
export function present(state: State, kind: Kind, e: Entity, given = false): Entity {
  const shown = given ? e : kongView(kind, e, DEFS[kind].schema);
  if (kind !== 'certificates') return shown;
  const snis = state.snis.filter((n) => refOf(n.certificate) === e.id).map((n) => n.name as string);
  return { ...shown, snis };
}

/**
 * Kong's `snis` shorthand on a certificate write: the names given become the certificate's sni
 * entities (new ones created, missing ones deleted); a name another certificate holds is a 409.
 */
function syncSnis(state: State, certId: string, names: unknown, now: number): State | Refusal {
  if (!Array.isArray(names) || names.some((n) => typeof n !== 'string'))
    return new Refusal(400, 'schema violation', 'snis: expected a list of server names', {
      fields: { snis: 'expected a list of server names' },
    });
  const want = new Set((names as string[]).map((n) => n.toLowerCase()));
  for (const n of state.snis) {
    const name = String(n.name).toLowerCase();
    if (want.has(name) && refOf(n.certificate) !== certId)
      return new Refusal(
        409,
        'unique constraint violation',
        `UNIQUE violation detected on '{name="${name}"}'`,
        {
          fields: { snis: `${name} already belongs to certificates/${refOf(n.certificate)}` },
        },
      );
  }
  const next = copyState(state);
  next.snis = next.snis.filter(
    (n) => refOf(n.certificate) !== certId || want.has(String(n.name).toLowerCase()),
  );
  const have = new Set(
    next.snis.filter((n) => refOf(n.certificate) === certId).map((n) => String(n.name).toLowerCase()),
  );
  for (const name of want)
    if (!have.has(name))
      next.snis.push({
        id: randomUUID(),
        name,
        certificate: { id: certId },
        created_at: now,
        updated_at: now,
      });
  return next;
}

export function notFound(): Refusal {
  return new Refusal(404, 'not found', 'Not found');
}

/** Resolve a reference given as a name/id string, `{id}`, `{name}`, `{username}`; null clears it. */
function resolveRef(state: State, field: string, target: Kind, v: unknown): { id: string } | null | Refusal {
  if (v === null) return null;
  let key: string | undefined;
  if (typeof v === 'string') key = v;
  else if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Raw;
    const k = Object.keys(o);
    if (
      k.length === 1 &&
      typeof o[k[0]!] === 'string' &&
      (k[0] === 'id' || DEFS[target].keys.includes(k[0]!))
    )
      key = o[k[0]!] as string;
  }
  if (key === undefined)
    return new Refusal(
      400,
      'schema violation',
      `${field}: expected a ${DEFS[target].singular} id or name, or {"id": ...}`,
      {
        fields: { [field]: 'expected a reference: an id or a name, or {"id": ...}' },
      },
    );
  const e = find(state, target, key);
  if (!e)
    return new Refusal(
      400,
      'foreign key violation',
      `the foreign key ${JSON.stringify(v)} does not reference an existing '${target}' entity`,
      { fields: { [field]: `no ${DEFS[target].singular} ${JSON.stringify(key)}` } },
    );
  return { id: e.id };
}

/** The conflicts a new or changed entity would cause: 409 with the clashing field. */
function conflict(state: State, kind: Kind, e: Entity): Refusal | null {
  for (const other of state[kind]) {
    if (other.id === e.id) continue;
    const clash = (field: string, same: boolean) =>
      same
        ? new Refusal(
            409,
            'unique constraint violation',
            `UNIQUE violation detected on '{${field}="${String(e[field])}"}'`,
            { fields: { [field]: `already used by ${kind}/${other.id}` } },
          )
        : null;
    const checks: Refusal | null =
      kind === 'targets'
        ? clash(
            'target',
            refOf(other.upstream) === refOf(e.upstream) && normTarget(other.target) === normTarget(e.target),
          )
        : kind === 'plugins'
          ? (clash(
              'instance_name',
              e.instance_name !== undefined && other.instance_name === e.instance_name,
            ) ??
            clash(
              'name',
              other.name === e.name &&
                ['service', 'route', 'consumer'].every((k) => refOf(other[k]) === refOf(e[k])),
            ))
          : (DEFS[kind].keys
              .map((k) => clash(k, e[k] !== undefined && e[k] !== null && other[k] === e[k]))
              .find((r) => r !== null) ?? null);
    if (checks) return checks;
  }
  return null;
}

export type WriteMode = 'create' | 'replace' | 'patch';

function deepMerge(base: Raw, patch: Raw): Raw {
  const out: Raw = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const b = out[k];
    if (
      v !== null &&
      typeof v === 'object' &&
      !Array.isArray(v) &&
      b !== null &&
      typeof b === 'object' &&
      !Array.isArray(b) &&
      k !== 'service' &&
      k !== 'route' &&
      k !== 'consumer' &&
      k !== 'upstream'
    )
      out[k] = deepMerge(b as Raw, v as Raw);
    else out[k] = v;
  }
  return out;
}

/**
 * Write one entity: `create` (POST), `replace` (PUT: the body is the whole entity), `patch`
 * (PATCH: fields merged, objects merged deeply, `null` unsets). `existing` is the entity being
 * replaced or patched, if any. Returns the new state and the stored entity, or a refusal.
 */
export function writeEntity(
  state: State,
  kind: Kind,
  body: Raw,
  opts: { mode: WriteMode; existing?: Entity; scope: Scope | null; now: number; id?: string },
): { state: State; entity: Entity } | Refusal {
  const def = DEFS[kind];
  for (const [field, where] of Object.entries(def.nested))
    if (body[field] !== undefined)
      return new Refusal(400, 'schema violation', `${field}: not accepted here; use ${where}`, {
        fields: { [field]: `not accepted here; use ${where}` },
      });
  if (body.id !== undefined && (typeof body.id !== 'string' || !isUuid(body.id)))
    return new Refusal(400, 'schema violation', 'id: expected a UUID', { fields: { id: 'expected a UUID' } });
  if (opts.existing && body.id !== undefined && body.id !== opts.existing.id)
    return new Refusal(400, 'schema violation', 'id: cannot change the id of an existing entity', {
      fields: { id: 'cannot be changed' },
    });
  const input: Raw = {};
  for (const [k, v] of Object.entries(body)) if (k !== 'created_at' && k !== 'updated_at') input[k] = v;
  const snis = kind === 'certificates' ? input.snis : undefined;
  delete input.snis;
  if (kind !== 'certificates' && body.snis !== undefined) input.snis = body.snis;
  // References: resolve to {id}; the URL's parent wins over the body.
  for (const [field, target] of Object.entries(def.refs)) {
    if (input[field] === undefined) continue;
    const r = resolveRef(state, field, target, input[field]);
    if (r instanceof Refusal) return r;
    input[field] = r;
  }
  if (opts.scope) input[opts.scope.field] = { id: opts.scope.id };
  let base: Raw = {};
  if (opts.mode === 'patch' && opts.existing) base = { ...opts.existing };
  if (kind === 'services' && input.url !== undefined) {
    // `url` replaces the four fields it stands for, as Kong stores it.
    if (opts.mode === 'patch') for (const k of ['protocol', 'host', 'port', 'path']) delete base[k];
    const expanded = expandServiceUrl(input);
    if (expanded !== null) {
      delete input.url;
      Object.assign(input, expanded);
    }
  }
  let merged = opts.mode === 'patch' ? deepMerge(base, input) : input;
  // `null` unsets a field (its default applies again); references stay, as null when unset.
  merged = Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== null));
  for (const field of Object.keys(def.refs)) if (merged[field] === undefined) merged[field] = null;
  // Kong always stores a plugin's config (an empty one when none is given).
  if (kind === 'plugins' && merged.config === undefined) merged.config = {};
  if (kind === 'targets' && merged.upstream === null)
    return new Refusal(400, 'schema violation', 'upstream: required', { fields: { upstream: 'required' } });
  const id = opts.existing?.id ?? (typeof input.id === 'string' ? input.id : (opts.id ?? randomUUID()));
  if (!opts.existing && state[kind].some((e) => e.id === id))
    return new Refusal(409, 'primary key violation', `an entity with id ${id} already exists`, {
      fields: { id: 'already exists' },
    });
  const entity: Entity = {
    ...merged,
    id,
    created_at: opts.existing?.created_at ?? opts.now,
    updated_at: opts.now,
  };
  if (kind === 'targets' && merged.upstream !== null) {
    // Kong keeps `host:port` with the default port filled in.
    const c = canonicalTarget(entity.target);
    if (c !== null) entity.target = c.target;
  }
  const c = conflict(state, kind, entity);
  if (c) return c;
  const next = copyState(state);
  const i = next[kind].findIndex((e) => e.id === id);
  if (i >= 0) next[kind][i] = entity;
  else next[kind].push(entity);
  if (snis !== undefined) {
    const synced = syncSnis(next, id, snis, opts.now);
    if (synced instanceof Refusal) return synced;
    return { state: synced, entity };
  }
  return { state: next, entity };
}

/**
 * Delete one entity and what it owns: an upstream's targets, and every plugin scoped to a deleted
 * service, route or consumer (Kong's cascades). A service that routes still point at is refused.
 */
export function deleteEntity(state: State, kind: Kind, e: Entity): State | Refusal {
  if (kind === 'services') {
    const r = state.routes.find((x) => refOf(x.service) === e.id);
    if (r)
      return new Refusal(
        400,
        'foreign key violation',
        `an existing 'routes' entity (${r.name ?? r.id}) references this 'services' entity; delete or move its routes first`,
      );
  }
  const next = copyState(state);
  next[kind] = next[kind].filter((x) => x.id !== e.id);
  if (kind === 'upstreams') next.targets = next.targets.filter((t) => refOf(t.upstream) !== e.id);
  if (kind === 'certificates') next.snis = next.snis.filter((n) => refOf(n.certificate) !== e.id);
  const field =
    kind === 'services' ? 'service' : kind === 'routes' ? 'route' : kind === 'consumers' ? 'consumer' : null;
  if (field) next.plugins = next.plugins.filter((p) => refOf(p[field]) !== e.id);
  return next;
}

/** Kong's tags filter: `a,b` needs every tag, `a/b` any of them. */
export function tagFilter(q: string | null): ((e: Entity) => boolean) | Refusal {
  if (q === null || q === '') return () => true;
  if (q.includes(',') && q.includes('/'))
    return new Refusal(400, 'invalid filter', 'tags: combine with "," (all) or "/" (any), not both');
  const any = q.includes('/');
  const want = q.split(any ? '/' : ',');
  return (e) => {
    const have: unknown[] = Array.isArray(e.tags) ? e.tags : [];
    return any ? want.some((t) => have.includes(t)) : want.every((t) => have.includes(t));
  };
}

export { refOf };
