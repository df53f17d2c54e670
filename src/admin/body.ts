/**
 * Admin request bodies: a size limit, strict JSON (RFC 8259 only, duplicate keys refused), and
 * form-encoded bodies with Kong's conventions (`paths[]=/x` or a repeated `paths=/x` for lists,
 * `config.key_names=apikey` for nested objects, `service.id=...` for references), whose values are
 * turned into numbers and booleans where the entity's schema says so.
 */
import { Buffer } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import { parseBoundedJson } from '../config/json-scan.ts';
import { MAX_CONFIG_NESTING_DEPTH } from '../config/limits.ts';
import { Refusal } from '../runtime/config-control.ts';

/** The largest admin request body: big enough for a whole configuration of a few thousand objects. */
export const MAX_ADMIN_BODY_BYTES = 8 * 1024 * 1024;

type Raw = Record<string, unknown>;
type Schema = Record<string, unknown>;

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

export function readBody(req: IncomingMessage, limit = MAX_ADMIN_BODY_BYTES): Promise<Buffer | Refusal> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    return Promise.resolve(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        resolve(tooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}

function tooLarge(limit: number): Refusal {
  return new Refusal(413, 'payload too large', `the request body is larger than ${limit} bytes`);
}

/**
 * Parse a JSON text strictly: a linear pre-scan bounds the nesting depth and refuses duplicate keys
 * (src/config/json-scan.ts) before JSON.parse checks the grammar.
 */
export function parseStrictJson(text: string): unknown | Refusal {
  const r = parseBoundedJson(text, MAX_CONFIG_NESTING_DEPTH);
  if ('value' in r) return r.value;
  const where = r.breach.offset >= 0 ? ` (at offset ${r.breach.offset})` : '';
  return new Refusal(
    400,
    'invalid JSON',
    `the body is not valid JSON: ${r.breach.message.replace(/^not valid JSON: /, '')}${where}`,
  );
}

function typeAt(schema: Schema | undefined): string | undefined {
  const t = schema?.type;
  return Array.isArray(t) ? (t.find((x) => x !== 'null') as string | undefined) : (t as string | undefined);
}

function childSchema(schema: Schema | undefined, key: string): Schema | undefined {
  if (schema === undefined) return undefined;
  const props = schema.properties as Record<string, Schema> | undefined;
  if (props?.[key] !== undefined) return props[key];
  const extra = schema.additionalProperties;
  return extra !== null && typeof extra === 'object' ? (extra as Schema) : undefined;
}

function coerce(value: string, schema: Schema | undefined): unknown {
  switch (typeAt(schema)) {
    case 'integer':
    case 'number':
      return value.trim() !== '' && Number.isFinite(Number(value)) ? Number(value) : value;
    case 'boolean':
      return value === 'true' ? true : value === 'false' ? false : value;
    default:
      return value;
  }
}

/**
 * `a.b[]=1&a.b[]=2&name=x` → `{a: {b: [1, 2]}, name: 'x'}`, typed by `schema`. A key ending in
 * `[]`, a repeated key, or a key the schema types as a list gives a list; `x[]=` alone gives [].
 */
export function parseForm(text: string, schema: Schema): Raw | Refusal {
  const out: Raw = {};
  const params = new URLSearchParams(text);
  for (const [rawKey, value] of params) {
    const isList = rawKey.endsWith('[]');
    const parts = (isList ? rawKey.slice(0, -2) : rawKey).split('.');
    if (parts.some((p) => p === '' || FORBIDDEN_KEYS.has(p)))
      return new Refusal(400, 'invalid form', `invalid field name ${JSON.stringify(rawKey)}`);
    let obj = out;
    let sch: Schema | undefined = schema;
    for (const p of parts.slice(0, -1)) {
      sch = childSchema(sch, p);
      const next = obj[p];
      if (next === undefined || next === null || typeof next !== 'object' || Array.isArray(next)) obj[p] = {};
      obj = obj[p] as Raw;
    }
    const last = parts[parts.length - 1]!;
    const fieldSchema = childSchema(sch, last);
    const listy = isList || typeAt(fieldSchema) === 'array';
    const itemSchema = listy ? (fieldSchema?.items as Schema | undefined) : fieldSchema;
    if (listy) {
      const arr = Array.isArray(obj[last]) ? (obj[last] as unknown[]) : [];
      if (value !== '' || !isList) arr.push(coerce(value, itemSchema));
      obj[last] = arr;
    } else if (obj[last] !== undefined) {
      obj[last] = [...(Array.isArray(obj[last]) ? (obj[last] as unknown[]) : [obj[last]]), value];
    } else obj[last] = value === '' && typeAt(fieldSchema) !== 'string' ? null : coerce(value, itemSchema);
  }
  return out;
}

/**
 * The body as an object: JSON or form by content type; an empty body is `{}`. A form is typed by
 * `schema`, or by the schema a function picks from the form's own fields (a plugin's config
 * schema, by its `name`).
 */
export function parseBody(
  req: IncomingMessage,
  buf: Buffer,
  schema: Schema | ((form: URLSearchParams) => Schema),
): Raw | Refusal {
  const type = String(req.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
  const text = buf.toString('utf8');
  if (text.trim() === '' && buf.length === 0) return {};
  let value: unknown;
  if (type === 'application/x-www-form-urlencoded')
    value = parseForm(text, typeof schema === 'function' ? schema(new URLSearchParams(text)) : schema);
  else if (type === 'application/json' || type === '' || type.endsWith('+json'))
    value = parseStrictJson(text);
  else
    return new Refusal(
      415,
      'unsupported media type',
      `content-type ${JSON.stringify(type)} is not supported; send application/json or application/x-www-form-urlencoded`,
    );
  if (value instanceof Refusal) return value;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return new Refusal(400, 'invalid body', 'expected a JSON object');
  return value as Raw;
}
