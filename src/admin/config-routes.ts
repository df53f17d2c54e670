/**
 * Whole-configuration endpoints: `GET /config` (the declarative document in force, JSON or YAML),
 * `POST /config` (replace it atomically, validated first as a file would be), `GET /schemas/{entity}`
 * (the JSON Schema of one entity kind, from config/schema.ts), and `GET /upstreams/{u}/health`.
 */
import type { Buffer } from 'node:buffer';
import { stringify } from 'yaml';
import { MAX_CONFIG_DOCUMENT_BYTES } from '../config/limits.ts';
import { fileSchema } from '../config/schema.ts';
import { type ConfigControl, Refusal } from '../runtime/config-control.ts';
import { exportDocument, KINDS, type Kind } from '../store/document.ts';
import { readBody } from './body.ts';
import { DEFS } from './entities.ts';
import { kongFields } from './kong-schema.ts';
import { redactSecrets } from './redact.ts';
import { refusalReply } from './resources.ts';
import type { Router } from './router.ts';

export interface HealthSource {
  /** The health of one upstream (by name or id) in the generation in service, or null. */
  upstreamHealth(nameOrId: string): unknown | null;
  /** Set a target's state by hand; false when the upstream or target does not exist. */
  setTargetState(upstream: string, target: string, state: 'healthy' | 'unhealthy' | 'draining'): boolean;
}

function kindOf(name: string): Kind | null {
  for (const k of KINDS) if (k === name || DEFS[k].singular === name) return k;
  return null;
}

/** The `config` part of a multipart body (a file or a field), or why there is none. */
async function configPart(buf: Buffer, contentType: string): Promise<string | Refusal> {
  let form: FormData;
  try {
    form = await new Response(buf, { headers: { 'content-type': contentType } }).formData();
  } catch (err) {
    return new Refusal(400, 'invalid body', `not a multipart/form-data body: ${(err as Error).message}`);
  }
  const part = form.get('config');
  if (part === null)
    return new Refusal(
      400,
      'schema violation',
      'config: required field missing (send --form config=@kong.yml)',
      {
        fields: { config: 'required field missing' },
      },
    );
  return typeof part === 'string' ? part : await part.text();
}

export function addConfigRoutes(router: Router, control: ConfigControl, health: HealthSource): void {
  router.add(
    'GET',
    '/config',
    { summary: 'The whole declarative configuration in force', tag: 'config' },
    async (c) => {
      const full = exportDocument(control.state).doc;
      // Without a token, private keys and secrets are left out (redact.ts); the JSON reply would be
      // redacted on its way out anyway, the YAML text would not.
      const doc = c.caller.token ? full : redactSecrets(full);
      const headers = { 'x-fulcrum-config-version': String(control.version) };
      if (c.query.get('format') === 'yaml')
        return {
          status: 200,
          text: { type: 'application/yaml; charset=utf-8', data: stringify(doc) },
          headers,
        };
      return { status: 200, body: doc, headers };
    },
  );

  router.add(
    'POST',
    '/config',
    {
      summary: 'Replace the whole configuration (validated first)',
      tag: 'config',
      body: fileSchema,
      accepts: ['json', 'yaml', 'multipart'],
    },
    async (c) => {
      const buf = await readBody(c.req, MAX_CONFIG_DOCUMENT_BYTES);
      if (buf instanceof Refusal) return refusalReply(buf);
      const raw = String(c.req.headers['content-type'] ?? '');
      let type = raw.split(';')[0]!.trim().toLowerCase();
      let text = buf.toString('utf8');
      if (type === 'multipart/form-data') {
        const part = await configPart(buf, raw);
        if (part instanceof Refusal) return refusalReply(part);
        text = part;
        // Kong's `config` part is YAML or JSON; JSON is read as JSON (its errors name paths).
        type = /^\s*[{[]/.test(text) ? 'application/json' : 'application/yaml';
      }
      // Parsed (YAML with lines, or JSON once after a bounded pre-scan), validated as given so that
      // errors name the document's own paths, imported and persisted: all off the main thread.
      const persist = control.store.writable;
      const result = await control.replace(
        c.caller,
        { text, yaml: type.includes('yaml'), file: '<POST /config>' },
        { persist },
      );
      if (result instanceof Refusal) return refusalReply(result);
      const s = control.state;
      return {
        status: 200,
        body: {
          message: persist
            ? 'configuration replaced'
            : `configuration replaced in memory; ${control.store.location} is unchanged and a reload restores it`,
          version: control.version,
          counts: Object.fromEntries(KINDS.map((k) => [k, s[k].length])),
        },
      };
    },
  );

  router.add(
    'GET',
    '/schemas/{entity}',
    { summary: 'The JSON Schema of an entity kind', tag: 'schemas' },
    async (c) => {
      const kind = kindOf(c.params.entity!);
      if (kind === null)
        return refusalReply(
          new Refusal(
            404,
            'not found',
            `no entity ${JSON.stringify(c.params.entity)}; known: ${KINDS.join(', ')}`,
          ),
        );
      // The JSON Schema, with Kong's `fields` form beside it (JSON Schema ignores the key): decK
      // releases that fill defaults from Kong's schemas read `fields`.
      const schema = DEFS[kind].schema;
      return { status: 200, body: { ...schema, fields: kongFields(schema) } };
    },
  );

  router.add(
    'GET',
    '/upstreams/{upstream}/health',
    { summary: "Each target's health, ejections and weight in effect", tag: 'upstreams' },
    async (c) => {
      const h = health.upstreamHealth(c.params.upstream!);
      return h === null ? refusalReply(new Refusal(404, 'not found', 'Not found')) : { status: 200, body: h };
    },
  );

  // Kong's manual health endpoints (PUT in Kong 3, POST in older releases: both are accepted), and
  // Fulcrum's `draining`. Runtime state, not configuration: kept across reloads, not restarts, and
  // allowed in file mode too.
  for (const state of ['healthy', 'unhealthy', 'draining'] as const)
    for (const method of ['PUT', 'POST'] as const)
      router.add(
        method,
        `/upstreams/{upstream}/targets/{target}/${state}`,
        {
          summary:
            state === 'draining'
              ? 'Drain a target: no new requests, in-flight ones finish (until set healthy)'
              : `Mark a target ${state} (health checks may change it again)`,
          tag: 'upstreams',
        },
        async (c) =>
          health.setTargetState(c.params.upstream!, c.params.target!, state)
            ? { status: 204 }
            : refusalReply(new Refusal(404, 'not found', 'Not found')),
      );
}
