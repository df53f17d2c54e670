/**
 * The OpenAPI 3 document of the admin API, generated from the router's own route list (so a route
 * cannot be served without being documented; a test checks both ways) and the entity schemas of
 * config/schema.ts.
 */
import { VERSION } from '../core/version.ts';
import { DEFAULT_MEDIA, mediaTypes } from './request-guard.ts';
import type { RouteEntry } from './router.ts';

type Json = Record<string, unknown>;

const errorSchema: Json = {
  type: 'object',
  properties: {
    code: { type: 'integer' },
    name: { type: 'string' },
    message: { type: 'string' },
    fields: { type: 'object', additionalProperties: { type: 'string' } },
  },
};

/** JSON Schema draft-07 → OpenAPI 3.0 schema object: drop the keys OpenAPI 3.0 does not know. */
function toOpenApiSchema(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(toOpenApiSchema);
  if (s === null || typeof s !== 'object') return s;
  const out: Json = {};
  for (const [k, v] of Object.entries(s as Json)) {
    if (k === '$schema' || k === '$id') continue;
    if (k === 'type' && Array.isArray(v)) {
      const t = v.filter((x) => x !== 'null');
      out.type = t[0];
      if (t.length < v.length) out.nullable = true;
      continue;
    }
    out[k] = toOpenApiSchema(v);
  }
  return out;
}

function responsesFor(r: RouteEntry): Json {
  const err = {
    description: 'An error',
    content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
  };
  const ok: Json = {};
  if (r.method === 'DELETE') ok['204'] = { description: 'Deleted (or did not exist)' };
  else if (r.method === 'POST' && r.tag !== 'config') ok['201'] = { description: 'Created' };
  else ok['200'] = { description: 'OK' };
  const out: Json = {
    ...ok,
    '401': { description: 'A token is required or wrong' },
    '403': {
      ...err,
      description: 'A request from another web origin, or a Host that is not a name of the listener',
    },
    '404': err,
  };
  if (r.method !== 'GET') {
    out['400'] = err;
    out['405'] = { description: 'Writes are refused in file mode' };
  }
  if (r.method === 'POST' || r.method === 'PUT' || r.method === 'PATCH') out['409'] = err;
  if (r.body) out['415'] = { ...err, description: 'A body of a media type this endpoint does not take' };
  return out;
}

export function openApiDocument(routes: readonly RouteEntry[]): Json {
  const paths: Record<string, Json> = {};
  for (const r of routes) {
    paths[r.pattern] ??= {};
    const item = paths[r.pattern]!;
    const params = [...r.pattern.matchAll(/\{([^}]+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    const op: Json = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method.toLowerCase()}${r.pattern.replace(/[{}]/g, '').replace(/[/_-](\w)/g, (_, c: string) => c.toUpperCase())}`,
      parameters: params,
      responses: responsesFor(r),
    };
    if (
      r.method === 'GET' &&
      !r.pattern.endsWith('}') &&
      params.length <= 1 &&
      r.tag !== 'config' &&
      r.tag !== 'admin' &&
      !r.pattern.endsWith('/health')
    )
      (op.parameters as unknown[]).push(
        { name: 'size', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        { name: 'offset', in: 'query', schema: { type: 'string' } },
        {
          name: 'tags',
          in: 'query',
          schema: { type: 'string' },
          description: '`a,b` all of them, `a/b` any',
        },
      );
    if (r.body)
      op.requestBody = {
        required: r.method !== 'PATCH',
        content: Object.fromEntries(
          (r.accepts ?? DEFAULT_MEDIA).map((k) => [
            mediaTypes([k])[0],
            {
              schema: k === 'json' ? toOpenApiSchema(r.body!) : { type: k === 'yaml' ? 'string' : 'object' },
            },
          ]),
        ),
      };
    item[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.0.3',
    info: {
      title: 'Fulcrum admin API',
      version: VERSION,
      description: 'Kong-style admin API of Fulcrum. See docs/admin.md.',
    },
    servers: [{ url: 'http://127.0.0.1:8001' }],
    components: {
      schemas: { Error: errorSchema },
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    },
    security: [{}, { bearer: [] }],
    paths,
  };
}
