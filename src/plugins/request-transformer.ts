/**
 * request-transformer: edit the request's headers, query string and body fields before it is
 * proxied (Kong's request-transformer; order remove, rename, replace, add, append). Body rules
 * apply to JSON objects and urlencoded forms buffered up to `body_limit` (request-body.ts); a
 * larger body, or another type, is forwarded untouched. `replace.uri` and `http_method` are not
 * supported yet.
 */
import { Buffer } from 'node:buffer';
import { ignored, native } from '../config/kong-fields.ts';
import { applyFormRules, applyJsonRules } from './body-rules.ts';
import { mediaType } from './request-body.ts';
import { int } from './schema-kit.ts';
import {
  applyRules,
  isEmpty,
  type Multimap,
  OPERATIONS,
  operationSchema,
  rulesFor,
  type TransformRules,
} from './transform-rules.ts';
import type { AccessResult, ConfigProblem, PluginDef, PluginRequest } from './types.ts';

export interface RequestTransformerConfig {
  readonly headers: TransformRules;
  readonly querystring: TransformRules;
  readonly body: TransformRules;
  readonly body_limit: number;
}

interface Built {
  readonly headers: TransformRules | null;
  readonly querystring: TransformRules | null;
  readonly body: TransformRules | null;
  readonly bodyLimit: number;
}

/** The default `body_limit` (Fulcrum addition): larger bodies pass untouched. */
const DEFAULT_BODY_LIMIT_BYTES = 1048576;

/** Headers the proxy owns (hop-by-hop and forwarding): never edited by a transform. */
const PROTECTED = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);

/** The request's fields as the rules see them; edits go through setRequestHeader (several values joined). */
export function headerMap(r: PluginRequest): Multimap {
  return {
    has: (n) => r.header(n) !== undefined,
    get: (n) => {
      const v = r.header(n);
      return v === undefined ? [] : [v];
    },
    set: (n, vs) => {
      if (PROTECTED.has(n)) return;
      r.setRequestHeader(n, vs.join(', '));
    },
    delete: (n) => {
      if (!PROTECTED.has(n)) r.setRequestHeader(n, null);
    },
  };
}

function queryMap(q: URLSearchParams): Multimap {
  return {
    has: (n) => q.has(n),
    get: (n) => q.getAll(n),
    set: (n, vs) => {
      // One value keeps the argument's place (replace); several are appended after the others.
      if (vs.length === 1) return q.set(n, vs[0]!);
      q.delete(n);
      for (const v of vs) q.append(n, v);
    },
    delete: (n) => q.delete(n),
  };
}

export const requestTransformer: PluginDef<RequestTransformerConfig, Built> = {
  name: 'request-transformer',
  priority: 801,
  noConsumer: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...Object.fromEntries(
        OPERATIONS.map((op) => [op, operationSchema(op, ['headers', 'querystring', 'body'], [])]),
      ),
      body_limit: int(
        'Fulcrum addition: the largest request body (bytes) buffered for the `body` rules; a larger one is forwarded untouched.',
        1,
        67108864,
        { default: DEFAULT_BODY_LIMIT_BYTES },
      ),
    },
  },
  kong: {
    http_method: ignored(
      "the method sent to the target is the client's; a plugin cannot change it yet",
      undefined,
      'POST',
      { type: 'string' },
    ),
    'remove.headers': native(['x-drop']),
    'remove.querystring': native(['debug']),
    'remove.body': native(['secret']),
    'rename.headers': native(['x-old:x-new']),
    'rename.querystring': native(['q:query']),
    'rename.body': native(['a:b']),
    'replace.uri': ignored(
      'the path sent to the target is set by the route and service; a plugin cannot rewrite it yet',
      undefined,
      '/v2/orders',
      { type: 'string' },
    ),
    'replace.headers': native(['x-env:prod']),
    'replace.querystring': native(['v:2']),
    'replace.body': native(['mode:live']),
    'add.headers': native(['x-added:1']),
    'add.querystring': native(['source:kong']),
    'add.body': native(['extra:1']),
    'append.headers': native(['x-list:a']),
    'append.querystring': native(['tag:a']),
    'append.body': native(['list:a']),
  },
  check(raw, problems: ConfigProblem[]): RequestTransformerConfig {
    return {
      headers: rulesFor(raw, 'headers', problems, true),
      querystring: rulesFor(raw, 'querystring', problems, false),
      body: rulesFor(raw, 'body', problems, false),
      body_limit: (raw.body_limit as number | undefined) ?? DEFAULT_BODY_LIMIT_BYTES,
    };
  },
  build(c) {
    return {
      headers: isEmpty(c.headers) ? null : c.headers,
      querystring: isEmpty(c.querystring) ? null : c.querystring,
      body: isEmpty(c.body) ? null : c.body,
      bodyLimit: c.body_limit,
    };
  },
  access(r, b) {
    // Runs again after a wait for the body: headers and query are edited once.
    if (b.body !== null && r.data('request-transformer') === true)
      return transformBody(r, b.body, b.bodyLimit);
    if (b.headers !== null) applyRules(headerMap(r), b.headers);
    if (b.querystring !== null) {
      const q = new URLSearchParams(r.query.slice(1));
      applyRules(queryMap(q), b.querystring);
      const s = q.toString();
      r.query = s === '' ? '' : `?${s}`;
    }
    if (b.body === null) return null;
    r.setData('request-transformer', true);
    return transformBody(r, b.body, b.bodyLimit);
  },
};

/** The body rules, on a JSON object or a form; another type, or a body over the limit, is left as is. */
function transformBody(r: PluginRequest, rules: TransformRules, limit: number): AccessResult {
  const type = mediaType(r.header('content-type'));
  const json = type === 'application/json' || type.endsWith('+json');
  if (!json && type !== 'application/x-www-form-urlencoded') return null;
  let body: Buffer;
  if (!r.hasBody) body = Buffer.alloc(0);
  else {
    const got = r.requestBody(limit);
    if (got === null) return null;
    if (!Buffer.isBuffer(got)) return got;
    body = got;
  }
  if (json) {
    let v: unknown = {};
    if (body.length > 0)
      try {
        v = JSON.parse(body.toString('utf8'));
      } catch {
        return null;
      }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
    applyJsonRules(v as Record<string, unknown>, rules);
    r.setRequestBody(Buffer.from(JSON.stringify(v)));
  } else {
    const params = new URLSearchParams(body.toString('utf8'));
    applyFormRules(params, rules);
    r.setRequestBody(Buffer.from(params.toString()));
  }
  return null;
}
