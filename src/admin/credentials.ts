/**
 * Consumer credentials over the admin API, in Kong's forms: nested, `/consumers/{c}/key-auth`,
 * `/basic-auth`, `/jwt` and `/acls` (list, create, get, replace, update, delete), and flat,
 * `/key-auths`, `/basic-auths`, `/jwts` and `/acls` (every consumer's, and one by id). They live
 * inside the consumer in the declarative document (`keyauth_credentials`, `basicauth_credentials`,
 * `jwt_secrets`, `acls`, Kong's declarative names), so a change is a change of that consumer:
 * validated as a whole document, swapped in, persisted and audited like any other write.
 *
 * basic-auth passwords are stored as Kong stores them (sha1 of the password and the consumer id;
 * the state switches to `_transform: false`), never in clear; a jwt credential posted without a
 * body gets a generated key and secret, as in Kong.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { CREDENTIAL_COLLECTIONS } from '../config/consumer-schema.ts';
import { hashBasicPassword } from '../plugins/password.ts';
import { type ConfigControl, Refusal } from '../runtime/config-control.ts';
import { type Entity, type State, withHashedPasswords } from '../store/document.ts';
import { parseBody, readBody } from './body.ts';
import { find, isUuid, notFound } from './entities.ts';
import { fileModeRefusal, refusalReply } from './resources.ts';
import type { Ctx, Reply, Router } from './router.ts';

type Raw = Record<string, unknown>;

interface CredentialKind {
  /** The path segment under /consumers/{c}/. */
  readonly path: string;
  /** The flat collection (`/key-auths`). */
  readonly collection: string;
  /** The consumer field holding the list in the declarative document. */
  readonly field: string;
  /** The field that addresses an item besides its id. */
  readonly key: string;
  /** Whether `key` is unique across consumers (Kong's unique constraint) or within one. */
  readonly global: boolean;
  /**
   * Fill in what Kong fills in: a generated key, the hash of a password `given` in clear (`c` is
   * the credential with `given` merged in).
   */
  readonly complete: (c: Raw, given: Raw, consumerId: string) => Raw;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

const KINDS: readonly CredentialKind[] = [
  {
    path: 'key-auth',
    collection: 'key-auths',
    field: 'keyauth_credentials',
    key: 'key',
    global: true,
    complete: (c) => (c.key === undefined ? { ...c, key: hex(16) } : c),
  },
  {
    path: 'basic-auth',
    collection: 'basic-auths',
    field: 'basicauth_credentials',
    key: 'username',
    global: true,
    complete: (c, given, consumerId) =>
      typeof given.password === 'string'
        ? { ...c, password: hashBasicPassword(given.password, consumerId) }
        : c,
  },
  {
    path: 'jwt',
    collection: 'jwts',
    field: 'jwt_secrets',
    key: 'key',
    global: true,
    complete: (c) => {
      const out = { ...c };
      if (out.key === undefined) out.key = hex(16);
      const alg = typeof out.algorithm === 'string' ? out.algorithm : 'HS256';
      if (alg.startsWith('HS') && out.secret === undefined) out.secret = hex(16);
      return out;
    },
  },
  { path: 'acls', collection: 'acls', field: 'acls', key: 'group', global: false, complete: (c) => c },
];

function itemSchema(k: CredentialKind): Record<string, unknown> {
  return CREDENTIAL_COLLECTIONS.find((c) => c.name === k.field)!.item;
}

function credentialsOf(consumer: Entity, k: CredentialKind): Raw[] {
  const v = consumer[k.field];
  return Array.isArray(v) ? (v as Raw[]) : [];
}

function present(consumer: Entity, c: Raw): Raw {
  return { ...c, consumer: { id: consumer.id } };
}

function replaceConsumer(state: State, consumer: Entity, list: Raw[], field: string): State {
  const next: Entity = { ...consumer, [field]: list };
  if (list.length === 0) delete next[field];
  return { ...state, consumers: state.consumers.map((c) => (c.id === consumer.id ? next : c)) };
}

/** Where a credential is: its consumer and its index there. */
interface Found {
  readonly consumer: Entity;
  readonly index: number;
  readonly credential: Raw;
}

function locate(state: State, k: CredentialKind, idOrKey: string, consumer?: Entity): Found | undefined {
  for (const c of consumer === undefined ? state.consumers : [consumer]) {
    const list = credentialsOf(c, k);
    const index = list.findIndex((x) => x.id === idOrKey || x[k.key] === idOrKey);
    if (index >= 0) return { consumer: c, index, credential: list[index]! };
  }
  return undefined;
}

const unique = (k: CredentialKind, value: unknown) =>
  new Refusal(
    409,
    'unique constraint violation',
    `UNIQUE violation detected on '{${k.key}="${String(value)}"}'`,
    {
      code: 5,
      fields: { [k.key]: `${String(value)} is already used` },
    },
  );

/**
 * Put `given` (a whole credential, or fields to merge into `before`) on `consumer`: filled in,
 * checked for a clash of its key, and stored; the state it gives and the stored credential.
 */
function store(
  state0: State,
  k: CredentialKind,
  consumer0: Entity,
  given: Raw,
  before: Found | undefined,
  now: number,
): { state: State; credential: Raw; consumer: Entity } | Refusal {
  let state = state0;
  if (k.path === 'basic-auth') {
    const hashed = withHashedPasswords(state, hashBasicPassword);
    if (hashed === null)
      return new Refusal(
        400,
        'schema violation',
        'basic-auth passwords of this configuration are secret references; change them in the file',
      );
    state = hashed;
  }
  const consumer = state.consumers.find((c) => c.id === consumer0.id)!;
  const id = before?.credential.id ?? (typeof given.id === 'string' ? given.id : randomUUID());
  const base: Raw = before === undefined ? {} : { ...before.credential };
  const merged: Raw = { ...base, ...given, id };
  for (const [f, v] of Object.entries(merged)) if (v === null) delete merged[f];
  delete merged.consumer;
  if (merged.created_at === undefined) merged.created_at = now;
  const done = k.complete(merged, given, consumer.id);
  const key = done[k.key];
  const clash = k.global ? locate(state, k, String(key)) : locate(state, k, String(key), consumer);
  if (key !== undefined && clash !== undefined && clash.credential.id !== id) return unique(k, key);
  if (typeof given.id === 'string' && before === undefined && locate(state, k, given.id) !== undefined)
    return unique({ ...k, key: 'id' }, given.id);
  // Moving to another consumer (a PUT or PATCH naming one): out of the old list, into the new.
  let next = state;
  if (before !== undefined && before.consumer.id !== consumer.id) {
    const from = next.consumers.find((c) => c.id === before.consumer.id)!;
    next = replaceConsumer(
      next,
      from,
      credentialsOf(from, k).filter((x) => x.id !== id),
      k.field,
    );
  }
  const owner = next.consumers.find((c) => c.id === consumer.id)!;
  const list = credentialsOf(owner, k);
  const at = list.findIndex((x) => x.id === id);
  const updated = at >= 0 ? list.map((x, i) => (i === at ? done : x)) : [...list, done];
  next = replaceConsumer(next, owner, updated, k.field);
  return { state: next, credential: done, consumer: owner };
}

export function addCredentialRoutes(router: Router, control: ConfigControl): void {
  for (const k of KINDS) addKind(router, control, k);
}

function addKind(router: Router, control: ConfigControl, k: CredentialKind): void {
  const base = `/consumers/{consumer}/${k.path}`;
  const item = `${base}/{credential}`;
  const flat = `/${k.collection}`;
  const flatItem = `${flat}/{credential}`;
  const tag = 'consumers';
  const consumerOf = (state: State, ctx: Ctx) =>
    ctx.params.consumer === undefined ? undefined : find(state, 'consumers', ctx.params.consumer);

  const body = async (ctx: Ctx): Promise<Raw | Refusal> => {
    const buf = await readBody(ctx.req);
    if (buf instanceof Refusal) return buf;
    return parseBody(ctx.req, buf, itemSchema(k) as never);
  };

  /** A write: the consumer from the path or the body, the credential from the path (if any). */
  const write =
    (mode: 'create' | 'replace' | 'patch', nested: boolean) =>
    async (ctx: Ctx): Promise<Reply> => {
      if (!control.store.writable) return refusalReply(fileModeRefusal(control));
      const given = await body(ctx);
      if (given instanceof Refusal) return refusalReply(given);
      const result = await control.change<Reply>(
        ctx.caller,
        (state) => {
          const pathConsumer = nested ? consumerOf(state, ctx) : undefined;
          if (nested && pathConsumer === undefined) return notFound();
          const key = ctx.params.credential;
          const before = key === undefined ? undefined : locate(state, k, key, pathConsumer);
          if (mode === 'patch' && before === undefined) return notFound();
          const ref = given.consumer;
          const named =
            ref === undefined
              ? undefined
              : find(
                  state,
                  'consumers',
                  typeof ref === 'object' && ref !== null
                    ? String((ref as Raw).id ?? (ref as Raw).username)
                    : String(ref),
                );
          if (ref !== undefined && named === undefined)
            return new Refusal(
              400,
              'foreign key violation',
              `the consumer ${JSON.stringify(ref)} does not exist`,
              {
                code: 3,
                fields: { consumer: 'does not exist' },
              },
            );
          const consumer = pathConsumer ?? named ?? before?.consumer;
          if (consumer === undefined)
            return new Refusal(400, 'schema violation', 'consumer: required field missing', {
              code: 2,
              fields: { consumer: 'required field missing' },
            });
          const fields: Raw = { ...given };
          if (mode === 'replace' && key !== undefined && before === undefined) {
            // PUT to a UUID creates the credential with that id; to a key (a username) with that key.
            if (isUuid(key)) fields.id = key;
            else if (fields[k.key] === undefined) fields[k.key] = key;
          }
          const whole = mode === 'replace' ? { ...fields, id: before?.credential.id ?? fields.id } : fields;
          const stored = store(
            state,
            k,
            consumer,
            whole,
            mode === 'replace' && before !== undefined
              ? {
                  ...before,
                  credential: { id: before.credential.id, created_at: before.credential.created_at },
                }
              : before,
            control.nowSeconds(),
          );
          if (stored instanceof Refusal) return stored;
          return {
            state: stored.state,
            entity: `consumers/${stored.consumer.id}/${k.path}`,
            value: {
              status: mode === 'create' || before === undefined ? 201 : 200,
              body: present(stored.consumer, stored.credential),
            },
          };
        },
        { persist: true },
      );
      return result instanceof Refusal ? refusalReply(result) : result;
    };

  const remove =
    (nested: boolean) =>
    async (ctx: Ctx): Promise<Reply> => {
      if (!control.store.writable) return refusalReply(fileModeRefusal(control));
      const result = await control.change<Reply>(
        ctx.caller,
        (state) => {
          const consumer = nested ? consumerOf(state, ctx) : undefined;
          if (nested && consumer === undefined) return notFound();
          const f = locate(state, k, ctx.params.credential!, consumer);
          // Kong answers 204 whether or not it existed.
          if (f === undefined) return { state, entity: `consumers/${k.path}`, value: { status: 204 } };
          return {
            state: replaceConsumer(
              state,
              f.consumer,
              credentialsOf(f.consumer, k).filter((_, i) => i !== f.index),
              k.field,
            ),
            entity: `consumers/${f.consumer.id}/${k.path}`,
            value: { status: 204 },
          };
        },
        { persist: true },
      );
      return result instanceof Refusal ? refusalReply(result) : result;
    };

  const get =
    (nested: boolean) =>
    async (ctx: Ctx): Promise<Reply> => {
      const consumer = nested ? consumerOf(control.state, ctx) : undefined;
      if (nested && consumer === undefined) return refusalReply(notFound());
      const f = locate(control.state, k, ctx.params.credential!, consumer);
      return f ? { status: 200, body: present(f.consumer, f.credential) } : refusalReply(notFound());
    };

  const list =
    (nested: boolean) =>
    async (ctx: Ctx): Promise<Reply> => {
      const state = control.state;
      const consumer = nested ? consumerOf(state, ctx) : undefined;
      if (nested && consumer === undefined) return refusalReply(notFound());
      const data = (consumer === undefined ? state.consumers : [consumer]).flatMap((c) =>
        credentialsOf(c, k).map((x) => present(c, x)),
      );
      return { status: 200, body: { data, next: null } };
    };

  const schema = itemSchema(k);
  router.add('GET', base, { summary: `List a consumer's ${k.path} credentials`, tag }, list(true));
  router.add(
    'POST',
    base,
    { summary: `Create a ${k.path} credential for a consumer`, tag, body: schema },
    write('create', true),
  );
  router.add('GET', item, { summary: `Get one ${k.path} credential by id or ${k.key}`, tag }, get(true));
  router.add(
    'PUT',
    item,
    { summary: `Create or replace a ${k.path} credential`, tag, body: schema },
    write('replace', true),
  );
  router.add(
    'PATCH',
    item,
    { summary: `Update fields of a ${k.path} credential`, tag, body: schema },
    write('patch', true),
  );
  router.add('DELETE', item, { summary: `Delete a ${k.path} credential`, tag }, remove(true));
  router.add('GET', flat, { summary: `List every consumer's ${k.path} credentials`, tag }, list(false));
  router.add('GET', flatItem, { summary: `Get a ${k.path} credential by id or ${k.key}`, tag }, get(false));
  router.add(
    'PUT',
    flatItem,
    { summary: `Create or replace a ${k.path} credential (the body names its consumer)`, tag, body: schema },
    write('replace', false),
  );
  router.add(
    'PATCH',
    flatItem,
    { summary: `Update fields of a ${k.path} credential`, tag, body: schema },
    write('patch', false),
  );
  router.add('DELETE', flatItem, { summary: `Delete a ${k.path} credential`, tag }, remove(false));
}
