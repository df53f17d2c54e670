/**
 * request-transformer: edit the request's headers and query string before it is proxied (Kong's
 * request-transformer; order remove, rename, replace, add, append). JSON and form body fields,
 * `replace.uri` and `http_method` are not supported yet: bodies are streamed, not buffered.
 */
import type { IncomingHttpHeaders } from 'node:http';
import {
  applyRules,
  isEmpty,
  type Multimap,
  OPERATIONS,
  operationSchema,
  rulesFor,
  type TransformRules,
} from './transform-rules.ts';
import type { ConfigProblem, PluginDef } from './types.ts';

export interface RequestTransformerConfig {
  readonly headers: TransformRules;
  readonly querystring: TransformRules;
}

interface Built {
  readonly headers: TransformRules | null;
  readonly querystring: TransformRules | null;
}

/** Headers the proxy owns (hop-by-hop and forwarding): never edited by a transform. */
const PROTECTED = new Set(['host', 'content-length', 'transfer-encoding', 'connection']);

export function headerMap(h: IncomingHttpHeaders): Multimap {
  return {
    has: (n) => h[n] !== undefined,
    get: (n) => {
      const v = h[n];
      return v === undefined ? [] : Array.isArray(v) ? [...v] : [v];
    },
    set: (n, vs) => {
      if (PROTECTED.has(n)) return;
      if (vs.length === 1) h[n] = vs[0]!;
      else (h as Record<string, string[]>)[n] = vs;
    },
    delete: (n) => {
      if (!PROTECTED.has(n)) delete h[n];
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
    properties: Object.fromEntries(
      OPERATIONS.map((op) => [op, operationSchema(op, ['headers', 'querystring'], ['body'])]),
    ),
  },
  check(raw, problems: ConfigProblem[]): RequestTransformerConfig {
    return {
      headers: rulesFor(raw, 'headers', problems, true),
      querystring: rulesFor(raw, 'querystring', problems, false),
    };
  },
  build(c) {
    return {
      headers: isEmpty(c.headers) ? null : c.headers,
      querystring: isEmpty(c.querystring) ? null : c.querystring,
    };
  },
  access(r, b) {
    if (b.headers !== null) applyRules(headerMap(r.req.headers), b.headers);
    if (b.querystring !== null) {
      const q = new URLSearchParams(r.query.slice(1));
      applyRules(queryMap(q), b.querystring);
      const s = q.toString();
      r.query = s === '' ? '' : `?${s}`;
    }
    return null;
  },
};
