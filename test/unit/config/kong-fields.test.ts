/**
 * Every field of Kong 3.9's entities and of the bundled plugins Fulcrum implements loads: one test
 * per field of each table (config/kong-entities.ts, each plugin's `kong`), with a value Kong
 * accepts. A field Fulcrum acts on is in its schema; one it accepts without acting on is reported
 * by a warning naming it when set to anything but Kong's default, and not otherwise.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import {
  KONG_ACL,
  KONG_BASICAUTH_CREDENTIAL,
  KONG_CA_CERTIFICATE,
  KONG_CERTIFICATE,
  KONG_CONSUMER,
  KONG_JWT_SECRET,
  KONG_KEYAUTH_CREDENTIAL,
  KONG_PLUGIN,
  KONG_ROUTE,
  KONG_SERVICE,
  KONG_SNI,
  KONG_TARGET,
  KONG_UPSTREAM,
} from '../../../src/config/kong-entities.ts';
import type { KongField, KongTable } from '../../../src/config/kong-fields.ts';
import { ConfigError } from '../../../src/config/load.ts';
import { fileSchema } from '../../../src/config/schema.ts';
import type { Snapshot } from '../../../src/config/types.ts';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { BUILTINS } from '../../../src/plugins/builtins.ts';
import { pluginConfigSchema } from '../../../src/plugins/registry.ts';
import { TestPki } from '../../helpers/certs.ts';

type Raw = Record<string, unknown>;

function load(doc: Raw): Snapshot {
  try {
    return loadSnapshotText(JSON.stringify({ _format_version: '3.0', ...doc }), 'kong.json');
  } catch (err) {
    if (err instanceof ConfigError) assert.fail(`refused:\n${err.message}`);
    throw err;
  }
}

/** `{a: {b: 1}}` for `a.b`, merged into `base`. */
function withField(base: Raw, name: string, f: KongField): Raw {
  // A reference or PEM left out of the example is the base document's own.
  if (f.example === null && name in base) return structuredClone(base);
  const out: Raw = structuredClone({ ...base, ...(f.alongside ?? {}) });
  const parts = name.split('.');
  let o = out;
  for (const p of parts.slice(0, -1)) {
    o[p] = { ...((o[p] as Raw | undefined) ?? {}) };
    o = o[p] as Raw;
  }
  o[parts[parts.length - 1]!] = structuredClone(f.example);
  return out;
}

const pki = new TestPki();
const ca = pki.ca('Kong fields CA');
const leaf = pki.issue(ca, 'api.example.com', { sans: ['DNS:api.example.com'] });

/** Each entity table: a document holding one such entity (the `where` of its path) around `e`. */
const ENTITIES: { name: string; table: KongTable; doc: (e: Raw) => Raw; base: Raw; at: string }[] = [
  {
    name: 'service',
    table: KONG_SERVICE,
    base: { name: 's', host: 'example.com' },
    doc: (e) => ({ services: [e.url === undefined ? e : { ...e, host: null }] }),
    at: 'services[0]',
  },
  {
    name: 'route',
    table: KONG_ROUTE,
    base: { name: 'r', paths: ['/r'] },
    doc: (e) => ({ services: [{ name: 's', host: 'example.com', routes: [e] }] }),
    at: 'services[0].routes[0]',
  },
  {
    name: 'upstream',
    table: KONG_UPSTREAM,
    base: { name: 'u' },
    doc: (e) => ({ upstreams: [e] }),
    at: 'upstreams[0]',
  },
  {
    name: 'target',
    table: KONG_TARGET,
    base: { target: '10.0.0.9:80' },
    doc: (e) => ({ upstreams: [{ name: 'u', targets: [e] }] }),
    at: 'upstreams[0].targets[0]',
  },
  {
    name: 'consumer',
    table: KONG_CONSUMER,
    base: { username: 'c' },
    doc: (e) => ({ consumers: [e] }),
    at: 'consumers[0]',
  },
  {
    name: 'plugin',
    table: KONG_PLUGIN,
    base: { name: 'cors' },
    doc: (e) => ({ plugins: [e] }),
    at: 'plugins[0]',
  },
  {
    name: 'certificate',
    table: KONG_CERTIFICATE,
    base: { cert: leaf.cert, key: leaf.key },
    doc: (e) => ({ certificates: [e] }),
    at: 'certificates[0]',
  },
  {
    name: 'sni',
    table: KONG_SNI,
    base: { name: 'api.example.com', certificate: '9748f662-7711-4a90-8186-dc02f10eb0f5' },
    doc: (e) => ({
      certificates: [{ id: '9748f662-7711-4a90-8186-dc02f10eb0f5', cert: leaf.cert, key: leaf.key }],
      snis: [e.certificate == null ? { ...e, certificate: '9748f662-7711-4a90-8186-dc02f10eb0f5' } : e],
    }),
    at: 'snis[0]',
  },
  {
    name: 'ca_certificate',
    table: KONG_CA_CERTIFICATE,
    base: { cert: ca.cert },
    doc: (e) => ({ ca_certificates: [e] }),
    at: 'ca_certificates[0]',
  },
  ...(
    [
      ['keyauth_credentials', KONG_KEYAUTH_CREDENTIAL, { key: 'k1' }],
      ['basicauth_credentials', KONG_BASICAUTH_CREDENTIAL, { username: 'u1', password: 'p' }],
      ['jwt_secrets', KONG_JWT_SECRET, { key: 'iss1', secret: 'a-long-shared-secret-for-hmac' }],
      ['acls', KONG_ACL, { group: 'g' }],
    ] as const
  ).map(([field, table, base]) => ({
    name: field,
    table,
    base: base as Raw,
    doc: (e: Raw) => ({ consumers: [{ username: 'c', [field]: [e] }] }),
    at: `consumers[0].${field}[0]`,
  })),
];

/** The properties of the schema object at `path` (`definitions.plugin`, dotted). */
function propertiesOf(schema: Raw): Raw {
  return (schema.properties ?? {}) as Raw;
}

function assertField(snap: Snapshot, at: string, name: string, f: KongField, props: Raw) {
  const path = `${at}.${name}`;
  const warned = snap.warnings.filter((w) => w.path === path);
  const top = name.split('.')[0]!;
  assert.ok(top in props, `${top} is in Fulcrum's schema`);
  if (f.kind === 'ignored' && JSON.stringify(f.example) !== JSON.stringify(f.default)) {
    assert.equal(warned.length, 1, `a warning names ${path}: ${JSON.stringify(snap.warnings)}`);
    assert.match(
      warned[0]!.message,
      new RegExp(`^Kong's "${name.replace('.', '\\.')}" is accepted but not supported: `),
    );
  } else assert.deepEqual(warned, [], `no warning for ${path}`);
}

describe('Kong 3.9 entity fields load', () => {
  after(() => pki.dir);
  const schemas: Record<string, Raw> = {
    service: (fileSchema.properties as Raw).services as Raw,
  };
  for (const e of ENTITIES) {
    describe(e.name, () => {
      for (const [name, f] of Object.entries(e.table))
        it(`${name}${f.kind === 'native' ? '' : ` (${f.kind})`}`, () => {
          const snap = load(e.doc(withField(e.base, name, f)));
          const schema = entitySchema(e.at);
          assertField(snap, e.at, name, f, propertiesOf(schema));
        });
    });
  }
  assert.ok(schemas.service);
});

/** The schema of the entity at a document path like `services[0].routes[0]`. */
function entitySchema(at: string): Raw {
  let s: Raw = fileSchema;
  for (const part of at.replace(/\[\d+\]/g, '').split('.')) {
    const p = propertiesOf(s)[part] as Raw;
    const items = p.items as Raw;
    s = items.$ref === '#/definitions/plugin' ? ((fileSchema.definitions as Raw).plugin as Raw) : items;
  }
  return s;
}

/** What a plugin's config needs before any other field means anything. */
const REQUIRED: Record<string, Raw> = {
  'rate-limiting': { minute: 10 },
  redirect: { location: 'https://example.com' },
  acl: { allow: ['admins'] },
  'ip-restriction': { allow: ['10.0.0.0/8'] },
};

describe('Kong 3.9 plugin config fields load', () => {
  for (const def of BUILTINS) {
    if (def.kong === undefined) continue;
    const table = def.kong;
    describe(def.name, () => {
      for (const [name, f] of Object.entries(table))
        it(`config.${name}${f.kind === 'native' ? '' : ` (${f.kind})`}`, () => {
          const minimal: Raw = REQUIRED[def.name] ?? {};
          const config = withField(minimal, name, f);
          const snap = load({
            services: [
              {
                name: 's',
                host: 'example.com',
                routes: [{ name: 'r', paths: ['/'], plugins: [{ name: def.name, config }] }],
              },
            ],
          });
          assertField(
            snap,
            'services[0].routes[0].plugins[0].config',
            name,
            f,
            propertiesOf(pluginConfigSchema(def.name)!),
          );
        });
    });
  }

  it('a Kong field set to its default is not reported (a dump writes every default)', () => {
    const snap = load({
      services: [
        {
          name: 's',
          host: 'example.com',
          tls_verify_depth: null,
          plugins: [
            {
              name: 'rate-limiting',
              config: {
                minute: 5,
                policy: 'local',
                redis_port: 6379,
                redis_timeout: 2000,
                sync_rate: -1,
                redis: { port: 6379, timeout: 2000, database: 0, ssl: false, ssl_verify: false },
              },
            },
          ],
        },
      ],
    });
    assert.deepEqual(snap.warnings, []);
  });

  /** The warnings of a rate-limiting plugin with `config`. */
  const rateLimitWarnings = (config: Raw) =>
    load({
      services: [
        {
          name: 's',
          host: 'example.com',
          plugins: [{ name: 'rate-limiting', config: { minute: 5, ...config } }],
        },
      ],
    }).warnings;

  it("rate-limiting's policy redis and its Redis fields are supported: no warning", () => {
    assert.deepEqual(
      rateLimitWarnings({
        policy: 'redis',
        redis_host: 'redis.internal',
        redis_port: 6380,
        redis_password: 'secret',
        redis_database: 2,
        redis_timeout: 500,
      }),
      [],
    );
    assert.deepEqual(
      rateLimitWarnings({ policy: 'redis', redis: { host: 'redis.internal', port: 6380, ssl: true } }),
      [],
    );
  });

  it("rate-limiting's policy cluster (Kong's database) is reported: each node counts alone", () => {
    const warned = rateLimitWarnings({ policy: 'cluster' });
    assert.equal(warned.length, 1, JSON.stringify(warned));
    assert.equal(warned[0]!.path, 'services[0].plugins[0].config.policy');
    assert.match(warned[0]!.message, /^Kong's "policy" is accepted but not supported: the cluster policy/);
  });
});

describe('a misspelled field is still refused, with a did-you-mean', () => {
  it('on an entity', () => {
    assert.throws(
      () =>
        loadSnapshotText(
          '_format_version: "3.0"\nservices:\n  - name: s\n    host: h\n    read_timout: 5\n',
          'k.yaml',
        ),
      (e: ConfigError) => /read_timout: unknown field; did you mean "read_timeout"\?/.test(e.message),
    );
  });
  it('in a plugin config', () => {
    assert.throws(
      () =>
        loadSnapshotText(
          '_format_version: "3.0"\nplugins:\n  - name: key-auth\n    config: { key_name: [apikey] }\n',
          'k.yaml',
        ),
      (e: ConfigError) => /key_name: unknown field; did you mean "key_names"\?/.test(e.message),
    );
  });
});
