/**
 * response-transformer: edit the response headers the client gets (Kong's response-transformer;
 * order remove, rename, replace, add, append), on proxied responses and on local replies alike.
 * JSON body fields are not supported yet (no body_filter hook).
 */
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

export interface ResponseTransformerConfig {
  readonly headers: TransformRules;
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

export const responseTransformer: PluginDef<ResponseTransformerConfig, TransformRules | null> = {
  name: 'response-transformer',
  priority: 800,
  noConsumer: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: Object.fromEntries(OPERATIONS.map((op) => [op, operationSchema(op, ['headers'], ['json'])])),
  },
  check(raw, problems: ConfigProblem[]): ResponseTransformerConfig {
    return { headers: rulesFor(raw, 'headers', problems, true) };
  },
  build(c) {
    return isEmpty(c.headers) ? null : c.headers;
  },
  headerFilter(_r, rules, head) {
    if (rules !== null) applyRules(flatMap(head.headers), rules);
  },
};
