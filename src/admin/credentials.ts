/**
 * Consumer credentials over the admin API, in Kong's nested form: `/consumers/{c}/key-auth`,
 * `/consumers/{c}/jwt` and `/consumers/{c}/acls` (list, create, get, delete). They live inside the
 * consumer in the declarative document (`keyauth_credentials`, `jwt_secrets`, `acls`, Kong's
 * declarative names), so a change is a change of that consumer: validated as a whole document,
 * swapped in, persisted and audited like any other write. basic-auth is left out on purpose: the
 * file holds its passwords in clear, and the admin API must not become a way to store them so.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { consumerSchema } from '../config/schema.ts';
import type { Entity, State } from '../store/document.ts';
import { parseBody, readBody } from './body.ts';
import { type ConfigControl, Refusal } from './control.ts';
import { find, notFound } from './entities.ts';
import { fileModeRefusal, refusalReply } from './resources.ts';
import type { Ctx, Reply, Router } from './router.ts';

interface CredentialKind {
  /** The path segment under /consumers/{c}/. */
  readonly path: string;
  /** The consumer field holding the list in the declarative document. */
  readonly field: string;
  /** The field that addresses an item besides its id. */
  readonly key: string;
  /** A value for `key` when the body gives none (Kong generates API keys and JWT keys). */
  readonly generate: (() => string) | null;
}

const KINDS: readonly CredentialKind[] = [
  {
    path: 'key-auth',
    field: 'keyauth_credentials',
    key: 'key',
    generate: () => randomBytes(16).toString('hex'),
  },
  { path: 'jwt', field: 'jwt_secrets', key: 'key', generate: () => randomBytes(16).toString('hex') },
  { path: 'acls', field: 'acls', key: 'group', generate: null },
];

type Raw = Record<string, unknown>;

function itemSchema(k: CredentialKind): Record<string, unknown> {
  const props = (consumerSchema as { properties: Record<string, { items: Record<string, unknown> }> })
    .properties;
  return props[k.field]!.items;
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

export function addCredentialRoutes(router: Router, control: ConfigControl): void {
  for (const k of KINDS) {
    const base = `/consumers/{consumer}/${k.path}`;
    const item = `${base}/{credential}`;
    const tag = 'consumers';
    const consumerOf = (state: State, ctx: Ctx) => find(state, 'consumers', ctx.params.consumer!);
    const lookup = (consumer: Entity, key: string) =>
      credentialsOf(consumer, k).find((c) => c.id === key || c[k.key] === key);

    router.add('GET', base, { summary: `List a consumer's ${k.path} credentials`, tag }, async (ctx) => {
      const consumer = consumerOf(control.state, ctx);
      if (!consumer) return refusalReply(notFound());
      return {
        status: 200,
        body: { data: credentialsOf(consumer, k).map((c) => present(consumer, c)), next: null },
      };
    });

    router.add(
      'GET',
      item,
      { summary: `Get one ${k.path} credential by id or ${k.key}`, tag },
      async (ctx) => {
        const consumer = consumerOf(control.state, ctx);
        const c = consumer ? lookup(consumer, ctx.params.credential!) : undefined;
        return consumer && c ? { status: 200, body: present(consumer, c) } : refusalReply(notFound());
      },
    );

    router.add(
      'POST',
      base,
      { summary: `Create a ${k.path} credential for a consumer`, tag, body: itemSchema(k) },
      async (ctx): Promise<Reply> => {
        if (!control.store.writable) return refusalReply(fileModeRefusal(control));
        const buf = await readBody(ctx.req);
        if (buf instanceof Refusal) return refusalReply(buf);
        const body = parseBody(ctx.req, buf, itemSchema(k) as never);
        if (body instanceof Refusal) return refusalReply(body);
        const result = await control.change<Reply>(
          ctx.caller,
          (state) => {
            const consumer = consumerOf(state, ctx);
            if (!consumer) return notFound();
            const c: Raw = { ...body, id: typeof body.id === 'string' ? body.id : randomUUID() };
            if (c[k.key] === undefined && k.generate !== null) c[k.key] = k.generate();
            if (lookup(consumer, String(c[k.key])) !== undefined)
              return new Refusal(
                409,
                'unique constraint violation',
                `${k.key} ${JSON.stringify(c[k.key])} already exists`,
              );
            return {
              state: replaceConsumer(state, consumer, [...credentialsOf(consumer, k), c], k.field),
              entity: `consumers/${consumer.id}/${k.path}`,
              value: { status: 201, body: present(consumer, c) },
            };
          },
          { persist: true },
        );
        return result instanceof Refusal ? refusalReply(result) : result;
      },
    );

    router.add(
      'DELETE',
      item,
      { summary: `Delete a ${k.path} credential`, tag },
      async (ctx): Promise<Reply> => {
        if (!control.store.writable) return refusalReply(fileModeRefusal(control));
        const result = await control.change<Reply>(
          ctx.caller,
          (state) => {
            const consumer = consumerOf(state, ctx);
            if (!consumer) return notFound();
            const c = lookup(consumer, ctx.params.credential!);
            // Kong answers 204 whether or not it existed.
            if (c === undefined)
              return { state, entity: `consumers/${consumer.id}/${k.path}`, value: { status: 204 } };
            return {
              state: replaceConsumer(
                state,
                consumer,
                credentialsOf(consumer, k).filter((x) => x !== c),
                k.field,
              ),
              entity: `consumers/${consumer.id}/${k.path}`,
              value: { status: 204 },
            };
          },
          { persist: true },
        );
        return result instanceof Refusal ? refusalReply(result) : result;
      },
    );
  }
}
