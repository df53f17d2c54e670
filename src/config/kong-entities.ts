/**
 * Kong 3.9's entity fields (kong/db/schema/entities/{services,routes,upstreams,targets,consumers,
 * plugins,certificates,snis,ca_certificates}.lua and the credential daos of key-auth, basic-auth,
 * jwt and acl), one table each, with what Fulcrum does with every field (kong-fields.ts). The
 * schemas in schema.ts and tls-schema.ts take their meta and ignored fields from here.
 */
import { ignored, type KongTable, meta, native, TIMESTAMPS } from './kong-fields.ts';

const ID = '9748f662-7711-4a90-8186-dc02f10eb0f5';
/** Kong's declarative files may annotate any entity (`kong config init`'s template does). */
const COMMENT = meta('why this exists', {
  type: 'string',
  description: "Free text (Kong's `_comment`); ignored.",
});
const common: KongTable = { id: native(ID), ...TIMESTAMPS, tags: native(['team-a']), _comment: COMMENT };

export const KONG_SERVICE: KongTable = {
  ...common,
  name: native('orders'),
  retries: native(3),
  protocol: native('https'),
  host: native('example.com'),
  port: native(8080),
  path: native('/v1'),
  url: native('http://example.com:8080/v1'),
  connect_timeout: native(5000),
  write_timeout: native(5000),
  read_timeout: native(5000),
  client_certificate: native(null),
  tls_verify: native(false),
  tls_verify_depth: ignored('chains are verified to any depth', null, 4),
  ca_certificates: native([]),
  enabled: native(false),
};

export const KONG_ROUTE: KongTable = {
  ...common,
  name: native('orders-api'),
  protocols: native(['https']),
  methods: native(['GET', 'POST']),
  hosts: native(['api.example.com']),
  paths: native(['/orders']),
  headers: native({ 'x-version': ['2'] }),
  https_redirect_status_code: native(301),
  regex_priority: native(10),
  strip_path: native(false),
  path_handling: native('v1'),
  preserve_host: native(true),
  request_buffering: meta(false, {
    type: 'boolean',
    description: 'Accepted for Kong compatibility; bodies are always streamed.',
  }),
  response_buffering: meta(false, {
    type: 'boolean',
    description: 'Accepted for Kong compatibility; bodies are always streamed.',
  }),
  snis: native(['api.example.com']),
  sources: native([{ ip: '10.0.0.0/8' }], { protocols: ['tcp'], paths: null }),
  destinations: native([{ port: 5432 }], { protocols: ['tcp'], paths: null }),
  service: native(null),
  expression: ignored(
    "Kong's expressions router is not built in; match with paths, hosts, methods and headers",
    null,
    'http.path ^= "/orders"',
    { type: 'string' },
  ),
  priority: native(5),
};

export const KONG_UPSTREAM: KongTable = {
  ...common,
  name: native('orders.upstream'),
  algorithm: native('least-connections'),
  hash_on: native('header', { algorithm: 'consistent-hashing', hash_on_header: 'x-user' }),
  hash_fallback: native('ip', {
    algorithm: 'consistent-hashing',
    hash_on: 'header',
    hash_on_header: 'x-user',
  }),
  hash_on_header: native('x-user'),
  hash_fallback_header: native('x-tenant'),
  hash_on_cookie: native('session'),
  hash_on_cookie_path: native('/app'),
  hash_on_query_arg: native('user'),
  hash_fallback_query_arg: native('tenant'),
  hash_on_uri_capture: native('id'),
  hash_fallback_uri_capture: native('name'),
  slots: native(1000),
  healthchecks: native({
    active: { type: 'http', http_path: '/health', healthy: { interval: 5, successes: 2 } },
    passive: { unhealthy: { http_failures: 3 } },
    threshold: 0,
  }),
  host_header: native('orders.internal'),
  client_certificate: ignored(
    "set the service's client_certificate: Fulcrum presents client certificates per service",
    null,
    { id: ID },
    { type: ['object', 'string'] },
  ),
  use_srv_name: native(true),
};

export const KONG_TARGET: KongTable = {
  ...common,
  target: native('10.0.0.1:8080'),
  weight: native(50),
  upstream: native(null),
};

export const KONG_CONSUMER: KongTable = {
  ...common,
  username: native('alice'),
  custom_id: native('crm-17'),
};

export const KONG_PLUGIN: KongTable = {
  ...common,
  name: native('cors'),
  instance_name: native('cors-1'),
  config: native({}),
  protocols: native(['https']),
  enabled: native(false),
  service: native(null),
  route: native(null),
  consumer: native(null),
  // In Kong OSS's schema (plugins.lua) and acted on by Kong Enterprise only.
  ordering: ignored(
    'plugins run in their fixed order (dynamic ordering is a Kong Enterprise feature)',
    null,
    { before: { access: ['basic-auth'] } },
    { type: 'object' },
  ),
};

export const KONG_CERTIFICATE: KongTable = {
  ...common,
  cert: native(null),
  key: native(null),
  cert_alt: native(null),
  key_alt: native(null),
  snis: native([]),
};

export const KONG_SNI: KongTable = {
  ...common,
  name: native('api.example.com'),
  certificate: native(null),
};

export const KONG_CA_CERTIFICATE: KongTable = {
  ...common,
  cert: native(null),
  cert_digest: native(null),
};

/** Credentials carry Kong's `consumer` reference in top-level collections only. */
const credential: KongTable = {
  id: native(ID),
  created_at: TIMESTAMPS.created_at!,
  tags: native(['a']),
  _comment: COMMENT,
};

export const KONG_KEYAUTH_CREDENTIAL: KongTable = {
  ...credential,
  key: native('c0ffee'),
  ttl: ignored('keys do not expire', null, 3600, { type: ['integer', 'null'] }),
};

export const KONG_BASICAUTH_CREDENTIAL: KongTable = {
  ...credential,
  username: native('alice'),
  password: native('open-sesame'),
};

export const KONG_JWT_SECRET: KongTable = {
  ...credential,
  key: native('alice-issuer'),
  algorithm: native('HS384'),
  secret: native('a-long-shared-secret-for-hmac'),
  rsa_public_key: native(null),
};

export const KONG_ACL: KongTable = {
  ...credential,
  group: native('admins'),
};
