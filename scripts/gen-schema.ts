/**
 * Generates the published JSON Schema (schema/fulcrum.schema.json), the field reference
 * (docs/configuration.md) and the file's TypeScript types (gen-types.ts) from one source,
 * src/config/schema.ts. `npm run gen` writes both;
 * test/unit/config/generated.test.ts fails when the committed files differ from what this returns,
 * so the functions here are pure (they return strings) and only `main` touches the disk.
 */
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { listenerSchema, nodeSchemas } from '../src/config/node-schema.ts';
import {
  consumerSchema,
  fileSchema,
  pluginRef,
  pluginSchema,
  routeSchema,
  serviceSchema,
  targetSchema,
  upstreamSchema,
} from '../src/config/schema.ts';
import { configTypes, TYPES_PATH } from './gen-types.ts';

type S = Record<string, unknown>;

export const SCHEMA_PATH = 'schema/fulcrum.schema.json';
export const DOCS_PATH = 'docs/configuration.md';

/** The published editor schema, as committed. */
export function schemaJson(): string {
  return `${JSON.stringify(fileSchema, null, 2)}\n`;
}

/** The object kinds, in the order the reference presents them; each gets a section and an anchor. */
const OBJECTS: readonly { title: string; anchor: string; schema: S; lead: string }[] = [
  {
    title: 'Service',
    anchor: 'service',
    schema: serviceSchema,
    lead: 'Under `services:`. Give either `url` or `host` (with `protocol`, `port`, `path` as needed).',
  },
  {
    title: 'Route',
    anchor: 'route',
    schema: routeSchema,
    lead:
      "Under a service's `routes:` or under top-level `routes:` (then with `service`). " +
      'How routes are matched and ordered: [routing.md](routing.md).',
  },
  {
    title: 'Upstream',
    anchor: 'upstream',
    schema: upstreamSchema,
    lead: 'Under `upstreams:`. A service whose `host` is the name of an upstream is balanced over its targets.',
  },
  {
    title: 'Target',
    anchor: 'target',
    schema: targetSchema,
    lead: "Under an upstream's `targets:` or under top-level `targets:` (then with `upstream`).",
  },
  {
    title: 'Consumer',
    anchor: 'consumer',
    schema: consumerSchema,
    lead: 'Under `consumers:`. Credentials and groups sit beside the consumer ([plugins.md](plugins.md#consumers-and-credentials)); other Kong fields are accepted.',
  },
  {
    title: 'Plugin',
    anchor: 'plugin',
    schema: pluginSchema,
    lead: "Under top-level `plugins:` or the `plugins:` of a service, route or consumer. Scopes, precedence and each plugin's `config`: [plugins.md](plugins.md).",
  },
];

const NODE_LEADS: Record<string, string> = {
  listeners: 'Each item:',
  admin: '',
  limits: '',
  timeouts: '',
  logging: '',
  trusted_ips: '',
  headers: '',
};

function kindLink(schema: unknown): string | null {
  if (schema === pluginRef) return '[plugin](#plugin)';
  for (const o of OBJECTS) if (o.schema === schema) return `[${o.anchor}](#${o.anchor})`;
  if (schema === listenerSchema) return '[listener](#listeners)';
  return null;
}

function code(v: unknown): string {
  return `\`${typeof v === 'string' ? v : JSON.stringify(v)}\``;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** `string`, `list of string`, `list of [route](#route)`, `map of list of string`, `integer or null`. */
function typeOf(s: S): string {
  const link = kindLink(s);
  if (link) return link;
  const t = s.type;
  if (Array.isArray(t)) return t.join(' or ');
  if (t === 'array') {
    const items = (s.items ?? {}) as S;
    return `list of ${items.type === undefined && kindLink(items) === null ? 'any' : typeOf(items)}`;
  }
  if (t === 'object' && typeof s.additionalProperties === 'object')
    return `map of ${typeOf(s.additionalProperties as S)}`;
  if (typeof t === 'string') return t;
  return 'any';
}

function formatRange(s: S): string | null {
  const min = s.minimum as number | undefined;
  const max = s.maximum as number | undefined;
  if (min === undefined && max === undefined) return null;
  const f = (n: number) =>
    Math.abs(n) >= 1e15 ? String(n) : String(n).replace(/\B(?=(\d{3})+(?!\d))/g, '_');
  if (min !== undefined && max !== undefined) return `${f(min)} to ${f(max)}`;
  return min !== undefined ? `≥ ${f(min)}` : `≤ ${f(max!)}`;
}

/** Constraints a value must meet, in words: enum values, integer ranges, patterns, non-empty. */
function allowed(s: S): string {
  const parts: string[] = [];
  const enumOf = (x: S) => (Array.isArray(x.enum) ? (x.enum as unknown[]).map(code).join(', ') : null);
  const e = enumOf(s);
  if (e) parts.push(e);
  const r = formatRange(s);
  if (r) parts.push(r);
  if (typeof s.pattern === 'string') parts.push(`matches ${code(s.pattern)}`);
  else if (s.minLength === 1) parts.push('non-empty');
  if (s.type === 'array' && s.items && kindLink(s.items) === null) {
    const items = s.items as S;
    const ie = enumOf(items);
    if (ie) parts.push(`each one of ${ie}`);
    if (typeof items.pattern === 'string') parts.push(`each matches ${code(items.pattern)}`);
    else if (items.minLength === 1) parts.push('each non-empty');
  }
  if (typeof s.additionalProperties === 'object') {
    const v = s.additionalProperties as S;
    if (v.minItems === 1) parts.push('each list non-empty');
  }
  return parts.join('; ');
}

function fieldTable(schema: S): string {
  const props = (schema.properties ?? {}) as Record<string, S>;
  const required = new Set((schema.required ?? []) as string[]);
  const rows = ['| Field | Type | Default | Allowed | Description |', '|---|---|---|---|---|'];
  for (const [name, s] of Object.entries(props)) {
    const field = required.has(name) ? `\`${name}\` (required)` : `\`${name}\``;
    const dflt = s.default === undefined ? '' : code(s.default);
    const desc = String(s.description ?? '');
    rows.push(`| ${field} | ${cell(typeOf(s))} | ${cell(dflt)} | ${cell(allowed(s))} | ${cell(desc)} |`);
  }
  return rows.join('\n');
}

function section(level: string, title: string, anchorNote: string, lead: string, schema: S): string {
  const out = [`${level} ${title}`, ''];
  const desc = String(schema.description ?? '');
  if (desc) out.push(desc, '');
  if (anchorNote) out.push(anchorNote, '');
  if (lead) out.push(lead, '');
  if (schema.anyOf) out.push('At least one of `username` or `custom_id` is required.', '');
  if (schema.additionalProperties === true) out.push('Fields not listed here are accepted and ignored.', '');
  else if (schema.properties) out.push('Any other field is refused.', '');
  if (schema.properties) out.push(fieldTable(schema), '');
  return out.join('\n');
}

/** The field reference, as committed in docs/configuration.md. */
export function configurationMarkdown(): string {
  const out: string[] = [];
  out.push(
    '# Configuration reference',
    '',
    '<!-- Generated by `npm run gen` (scripts/gen-schema.ts) from src/config/schema.ts. Do not edit by hand: ' +
      'change the descriptions in schema.ts and run `npm run gen`; a test fails when this file is stale. -->',
    '',
    "Fulcrum reads one declarative file, YAML or JSON, in Kong's DB-less format " +
      '(`_format_version: "3.0"`): a Kong file of services, routes, upstreams, targets and consumers loads as is. ' +
      "Fulcrum's own node settings (listeners, admin, limits, timeouts, logging, trusted_ips, headers) sit " +
      'beside them under keys of their own.',
    '',
    'The editor schema is [schema/fulcrum.schema.json](../schema/fulcrum.schema.json) (JSON Schema draft-07); ' +
      'point your editor at it for completion and checks as you type.',
    '',
    '## Validation',
    '',
    '`fulcrum validate FILE` (and every start or reload) checks the file in two passes and reports every ' +
      'problem of a pass at once, each as `file:line:column: path: what was expected`:',
    '',
    '```text',
    'fulcrum.yaml:7:11: services[0].port: expected a number <= 65535, got 70000',
    'fulcrum.yaml:5:5: services[0].colour: unknown field; expected one of: id, name, url, protocol, ...',
    '```',
    '',
    '1. **Structure**: YAML/JSON syntax, then every field against the schema below (unknown fields, types, ' +
      'allowed values, ranges, required fields). A file with structural errors stops here.',
    '2. **Meaning**: regex paths that compile, hosts and `host:port` targets that parse, unique names, ' +
      '`url` and `host` not both given, plugins that exist.',
    '',
    'Either kind of error refuses the whole file (a reload keeps the running configuration). A dangling ' +
      'reference does not: a top-level route whose `service` does not exist is kept but disabled (it answers ' +
      '503 `FULCRUM_ERR_ROUTE_DISABLED`), a top-level target whose `upstream` does not exist is ignored, ' +
      'each reported as a problem in the log and the admin status, and the rest serves.',
    '',
    '## Top level',
    '',
    fieldTable(fileSchema),
    '',
    '## Node settings',
    '',
  );
  for (const [key, schema] of Object.entries(nodeSchemas)) {
    const body = schema.type === 'array' && schema.items ? (schema.items as S) : schema;
    const lead = NODE_LEADS[key] ?? '';
    if (!body.properties) {
      const dflt = schema.default === undefined ? '' : ` Default: ${code(schema.default)}.`;
      out.push(
        `### \`${key}\``,
        '',
        String(schema.description ?? ''),
        '',
        `Type: ${typeOf(schema)}.${dflt}`,
        '',
      );
    } else if (body === schema) out.push(section('###', `\`${key}\``, '', lead, schema));
    else {
      out.push(`### \`${key}\``, '', String(schema.description ?? ''), '');
      out.push(section('', '', '', lead, body).replace(/^ \n\n/, ''));
    }
  }
  out.push('## Objects', '');
  for (const o of OBJECTS) out.push(section('###', o.title, '', o.lead, o.schema));
  return `${out
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}

function main(): void {
  // dist/scripts/gen-schema.js → the repository root.
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  writeFileSync(join(root, SCHEMA_PATH), schemaJson());
  writeFileSync(join(root, DOCS_PATH), configurationMarkdown());
  writeFileSync(join(root, TYPES_PATH), configTypes());
  process.stdout.write(`wrote ${SCHEMA_PATH}, ${DOCS_PATH} and ${TYPES_PATH}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
