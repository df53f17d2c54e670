/**
 * The Kong-style entity endpoints: for each kind a collection (`GET` list, `POST` create) and an
 * item (`GET`, `PUT` upsert, `PATCH`, `DELETE`, addressed by id or by name), and the nested forms
 * (`/services/{service}/routes`, `/upstreams/{upstream}/targets`, ...) that scope the same
 * operations to a parent. Every write goes through ConfigControl.change: validated as a whole
 * document, swapped in as a new generation, persisted in managed mode, audited.
 */
import { Buffer } from 'node:buffer';
import { pluginConfigSchema } from '../plugins/registry.ts';
import { type ConfigControl, Refusal } from '../runtime/config-control.ts';
import { type Entity, KINDS, type Kind, type State } from '../store/document.ts';
import { parseBody, readBody } from './body.ts';
import {
  DEFS,
  deleteEntity,
  find,
  isUuid,
  notFound,
  present,
  type Scope,
  tagFilter,
  writeEntity,
} from './entities.ts';
import { wantsGiven } from './kong-view.ts';
import type { Ctx, Reply, Router } from './router.ts';

/** Default and largest page size of a list (Kong's). */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** Fields a list may be filtered by (`?custom_id=`), as Kong allows. */
const LIST_FILTERS: Partial<Record<Kind, readonly string[]>> = {
  consumers: ['custom_id', 'username'],
  plugins: ['name'],
};

/** Parent → child collections, and the child's field that points at the parent. */
export const NESTED: readonly { parent: Kind; child: Kind; field: string }[] = [
  { parent: 'services', child: 'routes', field: 'service' },
  { parent: 'services', child: 'plugins', field: 'service' },
  { parent: 'routes', child: 'plugins', field: 'route' },
  { parent: 'consumers', child: 'plugins', field: 'consumer' },
  { parent: 'upstreams', child: 'targets', field: 'upstream' },
  { parent: 'certificates', child: 'snis', field: 'certificate' },
];

export function refusalReply(r: Refusal): Reply {
  return { status: r.status, body: r.body };
}

export function fileModeRefusal(control: ConfigControl): Refusal {
  return new Refusal(
    405,
    'read-only',
    `this node runs in file mode: ${control.store.location} is the source of truth and is not written. ` +
      'Edit the file and reload (SIGHUP), replace the whole configuration with POST /config ' +
      '(kept until the next reload), or start with --managed to make the admin API the source of truth.',
  );
}

interface Parent {
  readonly kind: Kind;
  readonly param: string;
  readonly field: string;
}

function resolveScope(state: State, ctx: Ctx, parent: Parent | null): Scope | null | Refusal {
  if (parent === null) return null;
  const p = find(state, parent.kind, ctx.params[parent.param]!);
  return p ? { field: parent.field, id: p.id } : notFound();
}

/**
 * The targets an upstream's discovery gave it (src/discovery/), shown after the configured ones in
 * `GET /upstreams/{u}/targets`; null when the upstream discovers nothing.
 */
export type DiscoveredTargets = (upstream: string) => readonly Record<string, unknown>[] | null;

/** The rows of `GET /upstreams/{u}/targets`: configured targets (`source: config`), then discovered ones. */
function targetRows(
  state: State,
  scope: Scope,
  entities: Entity[],
  discovered?: DiscoveredTargets,
): Entity[] {
  const upstream = state.upstreams.find((u) => u.id === scope.id);
  const extra = upstream === undefined ? null : (discovered?.(String(upstream.name)) ?? null);
  const configured = entities.map((e) => ({ ...e, source: 'config', last_seen: null }));
  if (extra === null) return configured;
  return [
    ...configured,
    ...extra.map((row) => ({ ...row, upstream: { id: scope.id } }) as unknown as Entity),
  ];
}

function list(
  ctx: Ctx,
  state: State,
  kind: Kind,
  scope: Scope | null,
  discovered?: DiscoveredTargets,
): Reply {
  const size = ctx.query.has('size') ? Number(ctx.query.get('size')) : DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE)
    return refusalReply(
      new Refusal(400, 'invalid size', `size: expected an integer from 1 to ${MAX_PAGE_SIZE}`, {
        fields: { size: `expected an integer from 1 to ${MAX_PAGE_SIZE}` },
      }),
    );
  const token = ctx.query.get('offset');
  let start = 0;
  if (token !== null && token !== '') {
    start = Number(Buffer.from(token, 'base64url').toString('utf8'));
    if (!Number.isInteger(start) || start < 0)
      return refusalReply(new Refusal(400, 'invalid offset', 'offset: not a token this API gave out'));
  }
  const filter = tagFilter(ctx.query.get('tags'));
  if (filter instanceof Refusal) return refusalReply(filter);
  // Kong's list filters (`GET /consumers?custom_id=...`): exact match on the field.
  const eq = (LIST_FILTERS[kind] ?? []).flatMap((f) => {
    const v = ctx.query.get(f);
    return v === null ? [] : [[f, v] as const];
  });
  let all = state[kind].filter(
    (e) =>
      (scope === null || refId(e[scope.field]) === scope.id) && filter(e) && eq.every(([f, v]) => e[f] === v),
  );
  if (kind === 'targets' && scope !== null) all = targetRows(state, scope, all, discovered);
  const given = wantsGiven(ctx.req.headers);
  const data = all.slice(start, start + size).map((e) => present(state, kind, e, given));
  const more = start + size < all.length;
  const offset = more ? Buffer.from(String(start + size)).toString('base64url') : null;
  const q = new URLSearchParams({ offset: offset ?? '', size: String(size) });
  const tags = ctx.query.get('tags');
  if (tags) q.set('tags', tags);
  return { status: 200, body: { data, next: more ? `${ctx.path}?${q}` : null, offset } };
}

const refId = (v: unknown): string | null =>
  v !== null && typeof v === 'object' && typeof (v as Record<string, unknown>).id === 'string'
    ? ((v as Record<string, unknown>).id as string)
    : null;

type Op = 'create' | 'replace' | 'patch' | 'delete';

async function write(
  control: ConfigControl,
  ctx: Ctx,
  kind: Kind,
  parent: Parent | null,
  op: Op,
  itemParam: string | null,
): Promise<Reply> {
  if (!control.store.writable) return refusalReply(fileModeRefusal(control));
  let body: Record<string, unknown> = {};
  if (op !== 'delete') {
    const buf = await readBody(ctx.req);
    if (buf instanceof Refusal) return refusalReply(buf);
    const parsed = parseBody(ctx.req, buf, (form) => bodySchema(control.state, kind, form, ctx, itemParam));
    if (parsed instanceof Refusal) return refusalReply(parsed);
    body = parsed;
  }
  const key = itemParam === null ? null : ctx.params[itemParam]!;
  const result = await control.change<Reply>(
    ctx.caller,
    (state) => {
      const scope = resolveScope(state, ctx, parent);
      if (scope instanceof Refusal) return scope;
      const existing = key === null ? undefined : find(state, kind, key, scope);
      if (op === 'delete') {
        // Kong answers 204 whether or not the entity existed: DELETE is idempotent.
        if (!existing) return { state, entity: `${kind}/${key}`, value: { status: 204 } };
        const next = deleteEntity(state, kind, existing);
        if (next instanceof Refusal) return next;
        return { state: next, entity: `${kind}/${existing.id}`, value: { status: 204 } };
      }
      if (op === 'patch' && !existing) return notFound();
      const b = { ...body };
      let id: string | undefined;
      if (op === 'replace' && key !== null) {
        // PUT to a name creates (or replaces) the entity with that name; PUT to a UUID creates it
        // with that id.
        if (isUuid(key)) id = existing ? undefined : key;
        else if (b[DEFS[kind].keys[0]!] === undefined) b[DEFS[kind].keys[0]!] = key;
      }
      const w = writeEntity(state, kind, b, {
        mode: op === 'patch' ? 'patch' : op === 'create' ? 'create' : 'replace',
        existing: op === 'create' ? undefined : existing,
        scope,
        now: control.nowSeconds(),
        id,
      });
      if (w instanceof Refusal) return w;
      return {
        state: w.state,
        entity: `${kind}/${w.entity.id}`,
        value: {
          status: op === 'create' ? 201 : 200,
          body: present(w.state, kind, w.entity, wantsGiven(ctx.req.headers)),
        },
      };
    },
    { persist: true },
  );
  return result instanceof Refusal ? refusalReply(result) : result;
}

async function read(
  control: ConfigControl,
  ctx: Ctx,
  kind: Kind,
  parent: Parent | null,
  itemParam: string | null,
  discovered?: DiscoveredTargets,
) {
  const state = control.state;
  const scope = resolveScope(state, ctx, parent);
  if (scope instanceof Refusal) return refusalReply(scope);
  if (itemParam === null) return list(ctx, state, kind, scope, discovered);
  const e: Entity | undefined = find(state, kind, ctx.params[itemParam]!, scope);
  return e
    ? { status: 200, body: present(state, kind, e, wantsGiven(ctx.req.headers)) }
    : refusalReply(notFound());
}

/**
 * The schema a form body is typed by (Kong converts form values by the target's schema): the
 * entity's, and for a plugin its config's, found by the `name` in the form or of the plugin
 * being changed (`config.minute=5` is a number, `config.key_names=apikey` a list).
 */
function bodySchema(
  state: State,
  kind: Kind,
  form: URLSearchParams,
  ctx: Ctx,
  itemParam: string | null,
): Record<string, unknown> {
  const schema = DEFS[kind].schema;
  if (kind !== 'plugins') return schema;
  const existing = itemParam === null ? undefined : find(state, kind, ctx.params[itemParam]!);
  const name = form.get('name') ?? (existing?.name as string | undefined);
  const config = name === undefined ? null : pluginConfigSchema(name);
  if (config === null) return schema;
  const props = schema.properties as Record<string, unknown>;
  return { ...schema, properties: { ...props, config } };
}

/** Register every entity route on the router. */
export function addEntityRoutes(
  router: Router,
  control: ConfigControl,
  discovered?: DiscoveredTargets,
): void {
  const add = (kind: Kind, base: string, parent: Parent | null) => {
    const def = DEFS[kind];
    const item = `${base}/{${def.singular}}`;
    const tag = kind;
    const where = parent ? ` of a ${DEFS[parent.kind].singular}` : '';
    router.add('GET', base, { summary: `List ${kind}${where}`, tag }, (c) =>
      read(control, c, kind, parent, null, discovered),
    );
    router.add('POST', base, { summary: `Create a ${def.singular}${where}`, tag, body: def.schema }, (c) =>
      write(control, c, kind, parent, 'create', null),
    );
    const p = def.singular;
    router.add('GET', item, { summary: `Get a ${p} by id or name`, tag }, (c) =>
      read(control, c, kind, parent, p),
    );
    router.add('PUT', item, { summary: `Create or replace a ${p}`, tag, body: def.schema }, (c) =>
      write(control, c, kind, parent, 'replace', p),
    );
    router.add('PATCH', item, { summary: `Update fields of a ${p}`, tag, body: def.schema }, (c) =>
      write(control, c, kind, parent, 'patch', p),
    );
    router.add('DELETE', item, { summary: `Delete a ${p}`, tag }, (c) =>
      write(control, c, kind, parent, 'delete', p),
    );
  };
  for (const kind of KINDS) if (kind !== 'targets') add(kind, `/${kind}`, null);
  for (const n of NESTED) {
    const param = `${DEFS[n.parent].singular}_id`;
    add(n.child, `/${n.parent}/{${param}}/${n.child}`, { kind: n.parent, param, field: n.field });
  }
}
