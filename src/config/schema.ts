/**
 * The JSON Schema (draft-07) of Fulcrum's declarative file: Kong's declarative format
 * (`_format_version: "3.0"`, services with nested routes, upstreams with nested targets, consumers,
 * plugins) plus Fulcrum's node settings under keys of their own (`listeners`, `admin`, `limits`,
 * `timeouts`, `logging`, `trusted_ips`, `headers`).
 *
 * This one object is the source of truth for three things: structural validation (ajv, every error
 * at once), the published editor schema (`schema/fulcrum.schema.json`, written by
 * `scripts/gen-schema.ts` and checked by a test), and the field reference (`docs/configuration.md`,
 * generated from the `description`s and checked the same way). Semantic checks (references between
 * objects, regexes that compile, duplicate names) live in validate.ts.
 */

import { pluginConfigRules } from '../plugins/registry.ts';
import { balancingSchemaFields } from './balancing.ts';
import { consumerSchemaWith, refSchema, topLevelCredentials } from './consumer-schema.ts';
import { dnsNodeSchemas, fileSdSchema, resolveServiceField, resolveTargetField } from './discovery.ts';
import { healthchecksSchema } from './healthchecks.ts';
import { KONG_PLUGIN, KONG_ROUTE, KONG_SERVICE, KONG_TARGET, KONG_UPSTREAM } from './kong-entities.ts';
import { kongSchema } from './kong-fields.ts';
import { l4RouteProperties, l4ServiceProperties } from './l4.ts';
import { nodeSchemas } from './node-schema.ts';
import { registryNodeSchemas, registryUpstreamField } from './registry.ts';
import { circuitBreakerSchema, retryBudgetSchema, retryPolicySchema } from './resilience.ts';
import { bool, int, MS_MAX, type S, str, strList } from './schema-kit.ts';
import { stickySchema } from './sticky.ts';
import { caCertificateSchema, certificateSchema, serviceTlsFields, sniSchema } from './tls-schema.ts';

const tags = strList('Free-form labels, for your own bookkeeping and to filter objects in the admin API.');
const id = str(
  'A UUID. When omitted, a stable one is derived from the name (or the position in the file), so the same file always gives the same ids.',
);
const objectName = str(
  'A unique name (letters, digits, `.`, `_`, `~`, `-`) by which other objects, logs, metrics and the admin API refer to this one.',
  {
    minLength: 1,
    pattern: '^[A-Za-z0-9._~-]+$',
  },
);

export const pluginSchema: S = kongSchema(
  {
    type: 'object',
    description:
      "A plugin instance (Kong format): its name, its scope and its `config` (each plugin's fields: docs/plugins.md).",
    additionalProperties: false,
    required: ['name'],
    allOf: pluginConfigRules(),
    properties: {
      id,
      name: str('The plugin id, such as `key-auth` (built in: docs/plugins.md).'),
      instance_name: str('An optional unique name for this instance.'),
      enabled: bool('Whether the plugin runs.', true),
      config: { type: 'object', description: "The plugin's own settings.", default: {} },
      protocols: strList('Protocols the plugin runs on.'),
      service: refSchema('The service this plugin is scoped to, by name or id (top-level plugins only).'),
      route: refSchema('The route this plugin is scoped to, by name or id (top-level plugins only).'),
      consumer: refSchema(
        'The consumer this plugin is scoped to, by username or id (top-level plugins only). A consumer that does not exist makes the plugin never apply (a warning says so), as in Kong.',
      ),
      tags,
    },
  },
  KONG_PLUGIN,
);

/**
 * Where a plugin list points: one shared definition, so the generated validator compiles the
 * plugin schema (every plugin's config rules) once instead of once per place plugins may appear.
 */
export const pluginRef: S = { $ref: '#/definitions/plugin' };

export const routeSchema: S = kongSchema(
  {
    type: 'object',
    description: 'Match rules that send a request to a service. Every field that is set must match.',
    additionalProperties: false,
    properties: {
      id,
      name: objectName,
      service: refSchema(
        'The name or id of the service this route sends to. Top-level routes only (nested routes belong to their parent). A route naming a missing service is kept but disabled: it answers 503; a route without a service (Kong allows one) answers 503 too, with a warning.',
      ),
      protocols: {
        ...strList(
          'Protocols this route accepts. HTTP listeners serve the `http`/`https` routes; a `tcp`, `udp` or `tls_passthrough` route (one of them, not mixed with HTTP ones) is served by listeners of that protocol (docs/l4.md).',
          {
            enum: ['http', 'https', 'grpc', 'grpcs', 'tcp', 'udp', 'tls_passthrough'],
          },
        ),
        default: ['http', 'https'],
      },
      methods: strList('HTTP methods that match, upper case (`GET`, `POST`, ...). Unset: any method.', {
        pattern: '^[A-Z]+$',
      }),
      hosts: strList(
        'Host header values that match, compared case-insensitively. `*.example.com` matches any name ending in `.example.com` (not `example.com` itself); `example.*` matches `example.` followed by anything. A host with a `:port` suffix matches that port only; without one, any port. A plain host is tried before a wildcard one.',
        { minLength: 1 },
      ),
      paths: strList(
        'Paths that match, against the normalized request path (no query). `/prefix` is a plain, case-sensitive string prefix (`/foo` matches `/foo`, `/foo/bar` and `/foobar`); `~regex` is a regular expression anchored at the start of the path. Regex paths are tried before prefix paths, longer prefixes before shorter ones.',
        {
          minLength: 1,
        },
      ),
      headers: {
        type: 'object',
        description:
          'Header name → list of values: the request must carry every named header with one of its values, compared case-insensitively. A value starting with `~*` is a case-insensitive regular expression (`~*^v[0-9]+$`). `Host` is refused here: use `hosts`.',
        additionalProperties: { type: 'array', items: { type: 'string' }, minItems: 1 },
      },
      strip_path: bool(
        'When the route matched by a path, remove the matched part (the prefix, or the whole regex match) from the forwarded path; the service path is then joined in front of what is left.',
        true,
      ),
      retry_non_idempotent: bool(
        "Let failed tries of non-idempotent methods (POST, PATCH) be retried on the service's `retry_policy` conditions; otherwise they are retried after a connect failure only.",
        false,
      ),
      preserve_host: bool(
        "Send the client's Host header to the target. Otherwise the target gets the upstream's `host_header` if set, else the service's `host` (with `:port` when the service names a hostname on a non-default port).",
        false,
      ),
      regex_priority: int(
        'Among regex paths that tie on the earlier rules of the matching order, a higher value is tried first. Prefix paths ignore it.',
        -2147483648,
        2147483647,
        0,
      ),
      priority: int(
        'Fulcrum extension: a route with a higher value is tried before any route with a lower one, whatever their rules; the first rule of the matching order.',
        -2147483648,
        2147483647,
        0,
      ),
      path_handling: {
        type: 'string',
        enum: ['v0', 'v1'],
        default: 'v0',
        description:
          "How the service path and the request path join, as Kong's `path_handling`: `v0` joins them as segments (`/s` and `/req` give `/s/req`); `v1` treats the service path as a plain prefix (`/s` and `req` give `/sreq`). See routing.md for the full table.",
      },
      https_redirect_status_code: {
        type: 'integer',
        enum: [301, 302, 307, 308, 426],
        default: 426,
        description:
          'What a plain-HTTP request gets on a route whose `protocols` allow `https` but not `http` (Kong): 426 `{"message":"Please use HTTPS protocol"}`, or a redirect (301, 302, 307, 308) to the same host and path over https.',
      },
      request_buffering: bool('Accepted for Kong compatibility; bodies are always streamed.', true),
      response_buffering: bool('Accepted for Kong compatibility; bodies are always streamed.', true),
      snis: strList(
        '`tls_passthrough` routes: server names the ClientHello must carry; `*.example.com` matches any name ending in `.example.com`. On HTTP routes accepted for Kong compatibility, not yet used for matching (docs/tls.md#not-yet); certificates are chosen by the top-level `certificates` and `snis`.',
      ),
      ...l4RouteProperties,
      plugins: { type: 'array', description: 'Plugins scoped to this route.', items: pluginRef },
      tags,
    },
  },
  KONG_ROUTE,
);

export const serviceSchema: S = kongSchema(
  {
    type: 'object',
    description: 'Where matched traffic goes.',
    additionalProperties: false,
    properties: {
      id,
      name: objectName,
      url: str(
        'Shorthand for `protocol`, `host`, `port` and `path` in one: `http://host:port/path`. Fields given beside it must agree with it (Kong dumps and converters write both); no credentials, query or fragment.',
      ),
      protocol: {
        type: 'string',
        enum: ['http', 'https', 'grpc', 'grpcs', 'tcp', 'udp', 'tls_passthrough'],
        default: 'http',
        description:
          'The protocol used to reach the targets. `grpc` is HTTP/2 in cleartext (h2c, prior knowledge) and `grpcs` HTTP/2 over TLS, as Kong names them (docs/http2.md). `tcp` (or `tls_passthrough`, the same here) for `tcp` and `tls_passthrough` routes, `udp` for `udp` routes (docs/l4.md).',
      },
      ...l4ServiceProperties,
      http2: bool(
        'Speak HTTP/2 to the targets of an `http` (h2c, prior knowledge) or `https` (ALPN h2) service. Always on for `grpc` and `grpcs`.',
        false,
      ),
      host: str(
        'The name of an upstream (traffic is balanced over its targets) or a hostname or IP address (one target at `host:port`). Required unless `url` is given.',
        {
          minLength: 1,
        },
      ),
      port: int(
        'The port of a hostname or IP `host` (443 when `protocol` is https or grpcs). Ignored for an upstream, whose targets carry their own ports.',
        1,
        65535,
        80,
      ),
      resolve: resolveServiceField,
      path: str(
        "A path put in front of every forwarded path; how it joins the request path depends on the route's `strip_path` and `path_handling`.",
        { pattern: '^/', default: '/' },
      ),
      connect_timeout: int('Milliseconds to establish a connection to a target.', 1, MS_MAX, 60000),
      read_timeout: int(
        'Milliseconds to wait for response headers, and between two reads of the response body.',
        1,
        MS_MAX,
        60000,
      ),
      write_timeout: int(
        'Milliseconds allowed between two writes of the request body to the target.',
        1,
        MS_MAX,
        60000,
      ),
      retries: int(
        'How many times a failed try is repeated on another target (the conditions are in `retry_policy`).',
        0,
        32767,
        5,
      ),
      retry_policy: retryPolicySchema,
      request_timeout: {
        type: 'integer',
        minimum: 0,
        maximum: MS_MAX,
        description:
          "Milliseconds from the end of the request (its head, or the last byte of its body) to the response headers, across every try and backoff; on expiry the client gets 504 and nothing is retried. Unset: twice `read_timeout` (enough for one timed-out try and a retry elsewhere). 0: no limit beyond each try's own.",
      },
      enabled: bool('A disabled service is kept in the file but its routes answer 503.', true),
      tls_verify: bool('Verify the target certificate for https services.', true),
      ...serviceTlsFields,
      routes: { type: 'array', description: "This service's routes.", items: routeSchema },
      plugins: { type: 'array', description: 'Plugins scoped to this service.', items: pluginRef },
      tags,
    },
  },
  KONG_SERVICE,
);

export const targetSchema: S = kongSchema(
  {
    type: 'object',
    description: 'One address of an upstream.',
    additionalProperties: false,
    required: ['target'],
    properties: {
      id,
      target: str(
        '`host:port` of one server: a hostname, an IPv4 address or `[IPv6]`; the port is 8000 when omitted (as Kong). Unique within its upstream.',
        { minLength: 1 },
      ),
      weight: int(
        'Share of traffic relative to the other targets of the upstream; 0 takes none.',
        0,
        65535,
        100,
      ),
      priority: int(
        "Priority level, 0 the highest: lower levels take traffic only when the healthy share of higher ones, times the upstream's `overprovisioning_factor`, falls below 100% (Envoy priorities).",
        0,
        255,
        0,
      ),
      zone: str(
        'The zone (availability zone, rack, data centre) the target runs in. A node with a top-level `zone` keeps traffic on targets of its own zone while they have the capacity, and spills the rest proportionally (docs/balancing.md#zone-awareness).',
        { minLength: 1, maxLength: 128 },
      ),
      upstream: refSchema(
        'The name or id of the upstream this target belongs to. Top-level targets only; a target naming a missing upstream is ignored and reported.',
      ),
      resolve: resolveTargetField,
      tags,
    },
  },
  KONG_TARGET,
);

/** Where a hashing algorithm takes its key from (Kong's `hash_on`). */
export const HASH_SOURCES = [
  'none',
  'consumer',
  'ip',
  'header',
  'cookie',
  'path',
  'query_arg',
  'uri_capture',
];

export const upstreamSchema: S = kongSchema(
  {
    type: 'object',
    description: 'A balanced group of targets.',
    additionalProperties: false,
    required: ['name'],
    properties: {
      id,
      name: objectName,
      ...balancingSchemaFields(),
      host_header: str(
        "The Host header sent to this upstream's targets, unless the route has `preserve_host`. Unset: the upstream's name.",
        { pattern: '^[^\\u0000-\\u0020\\u007f]+$' },
      ),
      use_srv_name: {
        type: 'boolean',
        default: false,
        description:
          "Kong's field: a target found through an SRV record (`resolve: true`) is sent the record's target name as its Host header and TLS SNI (with `:port` off the scheme's default), unless the route has `preserve_host` or the upstream a `host_header`.",
      },
      hash_on: {
        type: 'string',
        enum: HASH_SOURCES,
        default: 'none',
        description:
          'Hashing algorithms: what the key is made of. `none` picks at random (weights and bounded load still apply); `cookie` sets the cookie when the request has none.',
      },
      hash_fallback: {
        type: 'string',
        enum: HASH_SOURCES,
        default: 'none',
        description:
          'The key source used when `hash_on` yields nothing (not allowed with `hash_on: cookie`).',
      },
      hash_on_header: str('The header read when `hash_on` is `header`.', { minLength: 1 }),
      hash_fallback_header: str('The header read when `hash_fallback` is `header`.', { minLength: 1 }),
      hash_on_cookie: str(
        'The cookie read (and set when absent) when `hash_on` or `hash_fallback` is `cookie`.',
        {
          minLength: 1,
          pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
        },
      ),
      hash_on_cookie_path: str('The Path attribute of the cookie the proxy sets.', {
        default: '/',
        pattern: '^/',
      }),
      hash_on_query_arg: str('The query argument read when `hash_on` is `query_arg`.', { minLength: 1 }),
      hash_on_uri_capture: str(
        "The capture of the matched route's regex path read when `hash_on` is `uri_capture`: a group name, or its number (`1` for the first group).",
        { minLength: 1 },
      ),
      hash_fallback_uri_capture: str('The capture read when `hash_fallback` is `uri_capture`.', {
        minLength: 1,
      }),
      hash_fallback_query_arg: str('The query argument read when `hash_fallback` is `query_arg`.', {
        minLength: 1,
      }),
      slow_start: {
        type: 'number',
        minimum: 0,
        maximum: 3600,
        default: 0,
        description:
          'Seconds over which a target added to this upstream, or healthy again, ramps from `slow_start_min_weight_percent` to its full weight; every algorithm honours it. 0 is off.',
      },
      slow_start_aggression: {
        type: 'number',
        minimum: 0.1,
        maximum: 100,
        default: 1,
        description:
          "Shape of the ramp (Envoy's `aggression`): the weight grows as (elapsed / slow_start)^(1 / aggression); 1 is linear, above 1 gains weight faster early.",
      },
      slow_start_min_weight_percent: {
        type: 'number',
        minimum: 1,
        maximum: 100,
        default: 10,
        description: "The share of its weight a ramping target gets at first (Envoy's `min_weight_percent`).",
      },
      overprovisioning_factor: {
        type: 'number',
        minimum: 1,
        maximum: 100,
        default: 1.4,
        description:
          "With targets of several `priority` levels: a level keeps all its traffic while its healthy share × this factor is at least 100%, and spills the rest to the next level (Envoy's overprovisioning factor).",
      },
      healthchecks: healthchecksSchema,
      circuit_breaker: circuitBreakerSchema,
      retry_budget: retryBudgetSchema,
      sticky: stickySchema,
      targets: { type: 'array', description: "This upstream's targets.", items: targetSchema },
      file_sd: fileSdSchema,
      registry: registryUpstreamField,
      tags,
    },
  },
  KONG_UPSTREAM,
);

export const consumerSchema: S = consumerSchemaWith(pluginRef);

export const fileSchema: S = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://fulcrum.dev/schema/fulcrum.schema.json',
  title: 'Fulcrum declarative configuration',
  type: 'object',
  additionalProperties: false,
  required: ['_format_version'],
  definitions: { plugin: pluginSchema },
  properties: {
    _format_version: {
      type: 'string',
      enum: ['1.1', '2.1', '3.0'],
      description: "Kong's declarative format version; `3.0` is current.",
    },
    _transform: bool(
      "Kong's: `true`, basic-auth passwords are given in clear and hashed on load; `false` (a `kong config db_export` or `deck dump`), they are Kong's stored hashes and kept as given.",
      true,
    ),
    _workspace: str('Accepted for Kong compatibility; ignored.'),
    _comment: str('Free text; ignored.'),
    _ignore: { type: 'array', description: "Kong's place for anything (YAML anchors to reuse); ignored." },
    _info: { type: 'object', description: "decK's file metadata (`select_tags`, `defaults`); ignored." },
    _konnect: { type: 'object', description: "decK's Konnect settings; ignored." },
    parameters: {
      type: 'array',
      description:
        "Kong's internal parameters (`cluster_id`), as `kong config db_export` writes them; ignored.",
    },
    ...nodeSchemas,
    ...dnsNodeSchemas,
    ...registryNodeSchemas,
    services: { type: 'array', description: 'Services, each with its routes.', items: serviceSchema },
    routes: {
      type: 'array',
      description: 'Routes given at top level; each names its `service`.',
      items: routeSchema,
    },
    upstreams: { type: 'array', description: 'Upstreams, each with its targets.', items: upstreamSchema },
    targets: {
      type: 'array',
      description: 'Targets given at top level; each names its `upstream`.',
      items: targetSchema,
    },
    consumers: { type: 'array', description: 'Consumers.', items: consumerSchema },
    plugins: {
      type: 'array',
      description: 'Global plugins, or plugins naming their scope.',
      items: pluginRef,
    },
    certificates: {
      type: 'array',
      description: 'Certificates served by https listeners, chosen by SNI (docs/tls.md).',
      items: certificateSchema,
    },
    snis: {
      type: 'array',
      description: 'Server names given at top level; each names its `certificate`.',
      items: sniSchema,
    },
    ca_certificates: {
      type: 'array',
      description: 'CA certificates that services trust for their targets (docs/tls.md).',
      items: caCertificateSchema,
    },
    vaults: { type: 'array', description: 'Accepted for Kong compatibility.' },
    ...topLevelCredentials(),
    ...Object.fromEntries(
      ['consumer_groups', 'key_sets', 'keys', 'filter_chains'].map((k) => [
        k,
        { type: 'array', description: `Kong's ${k}: accepted and not supported (a warning names them).` },
      ]),
    ),
  },
};
