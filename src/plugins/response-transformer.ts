/**
 * response-transformer: edit the response headers the client gets (Kong's response-transformer;
 * order remove, rename, replace, add, append), on proxied responses and on local replies alike,
 * and the top-level fields of a proxied JSON body (`json`, with `json_types`) up to `body_limit`
 * (json-body-transform.ts). A rewritten body loses its Content-Length and is sent chunked.
 */
import { native } from '../config/kong-fields.ts';
import type { BodyRules, JsonType } from './body-rules.ts';
import { JsonBodyTransform } from './json-body-transform.ts';
import { mediaType } from './request-body.ts';
import { int, strList } from './schema-kit.ts';
import {
  applyRules,
  isEmpty,
  type Multimap,
  OPERATIONS,
  operationSchema,
  rulesFor,
  type TransformRules,
} from './transform-rules.ts';
import type { ConfigProblem, PluginDef, ResponseHead } from './types.ts';

export interface ResponseTransformerConfig {
  readonly headers: TransformRules;
  readonly json: BodyRules;
  readonly body_limit: number;
}

interface Built {
  readonly headers: TransformRules | null;
  readonly json: BodyRules | null;
  readonly bodyLimit: number;
}

/** The default `body_limit` (Fulcrum addition): larger bodies pass untouched. */
const DEFAULT_BODY_LIMIT_BYTES = 1048576;

function schema(): Record<string, unknown> {
  const props: Record<string, unknown> = {};
  for (const op of OPERATIONS) {
    const o = operationSchema(op, ['headers', 'json'], []) as { properties: Record<string, unknown> };
    if (op === 'add' || op === 'replace' || op === 'append')
      o.properties.json_types = strList(
        'The type of each `json` value, by position: `string` (default), `number` or `boolean`.',
        { default: [] },
        { enum: ['string', 'number', 'boolean'] },
      );
    props[op] = o;
  }
  props.body_limit = int(
    'Fulcrum addition: the largest response body (bytes) held for the `json` rules; a larger one passes untouched.',
    1,
    67108864,
    { default: DEFAULT_BODY_LIMIT_BYTES },
  );
  return props;
}

function jsonTypes(raw: Record<string, unknown>, op: string, n: number, problems: ConfigProblem[]) {
  const t = (((raw[op] ?? {}) as Record<string, unknown>).json_types as JsonType[] | undefined) ?? [];
  if (t.length > n)
    problems.push({
      path: [op, 'json_types'],
      message: `${t.length} types for ${n} json entries`,
    });
  return t;
}

/** Whether the response is a JSON body this instance may rewrite. */
function rewritable(r: { method: string }, head: ResponseHead, limit: number): boolean {
  if (head.local || r.method === 'HEAD' || head.status === 204 || head.status === 304) return false;
  let type = '';
  let cl = -1;
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!.toLowerCase();
    if (n === 'content-encoding') return false;
    if (n === 'content-type') type = mediaType(h[i + 1]);
    else if (n === 'content-length') cl = Number(h[i + 1]);
  }
  if (type !== 'application/json' && !type.endsWith('+json')) return false;
  return cl < 0 || cl <= limit;
}

/** Framing headers the proxy owns. */
const PROTECTED = new Set(['content-length', 'transfer-encoding', 'connection']);

/** A flat [name, value, ...] list seen as a multimap; names compared lower case. */
function flatMap(hs: string[]): Multimap {
  const del = (n: string) => {
    for (let i = hs.length - 2; i >= 0; i -= 2) if (hs[i]!.toLowerCase() === n) hs.splice(i, 2);
  };
  return {
    has: (n) => {
      for (let i = 0; i < hs.length; i += 2) if (hs[i]!.toLowerCase() === n) return true;
      return false;
    },
    get: (n) => {
      const out: string[] = [];
      for (let i = 0; i < hs.length; i += 2) if (hs[i]!.toLowerCase() === n) out.push(hs[i + 1]!);
      return out;
    },
    set: (n, vs) => {
      if (PROTECTED.has(n)) return;
      del(n);
      for (const v of vs) hs.push(n, v);
    },
    delete: (n) => {
      if (!PROTECTED.has(n)) del(n);
    },
  };
}

export const responseTransformer: PluginDef<ResponseTransformerConfig, Built> = {
  name: 'response-transformer',
  priority: 800,
  noConsumer: false,
  schema: { type: 'object', additionalProperties: false, properties: schema() },
  kong: {
    'remove.headers': native(['x-powered-by']),
    'remove.json': native(['secret']),
    'rename.headers': native(['x-old:x-new']),
    'rename.json': native(['a:b']),
    'replace.headers': native(['x-env:prod']),
    'replace.json': native(['mode:live']),
    'replace.json_types': native(['string'], { replace: { json: ['mode:live'] } }),
    'add.headers': native(['x-added:1']),
    'add.json': native(['extra:1']),
    'add.json_types': native(['number'], { add: { json: ['extra:1'] } }),
    'append.headers': native(['x-list:a']),
    'append.json': native(['list:a']),
    'append.json_types': native(['string'], { append: { json: ['list:a'] } }),
  },
  check(raw, problems: ConfigProblem[]): ResponseTransformerConfig {
    const json = rulesFor(raw, 'json', problems, false);
    return {
      headers: rulesFor(raw, 'headers', problems, true),
      json: {
        ...json,
        types: {
          replace: jsonTypes(raw, 'replace', json.replace.length, problems),
          add: jsonTypes(raw, 'add', json.add.length, problems),
          append: jsonTypes(raw, 'append', json.append.length, problems),
        },
      },
      body_limit: (raw.body_limit as number | undefined) ?? DEFAULT_BODY_LIMIT_BYTES,
    };
  },
  build(c) {
    return {
      headers: isEmpty(c.headers) ? null : c.headers,
      json: isEmpty(c.json) ? null : c.json,
      bodyLimit: c.body_limit,
    };
  },
  headerFilter(r, b, head) {
    if (b.headers !== null) applyRules(flatMap(head.headers), b.headers);
    if (b.json === null || r.encoder !== null || !rewritable(r, head, b.bodyLimit)) return;
    const h = head.headers;
    for (let i = h.length - 2; i >= 0; i -= 2) if (h[i]!.toLowerCase() === 'content-length') h.splice(i, 2);
    r.encoder = new JsonBodyTransform(b.json, b.bodyLimit);
  },
};
