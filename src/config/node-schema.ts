/**
 * Fulcrum's own node settings in the declarative file (keys Kong's format does not have:
 * `listeners`, `admin`, `limits`, `timeouts`, `logging`, `tracing`, `trusted_ips`, `headers`, ...), beside the
 * Kong objects of schema.ts, which spreads them into the file schema.
 */
import { l4ListenerProperties } from './l4.ts';
import { bool, int, MS_MAX, type S, str, strList } from './schema-kit.ts';
import { listenerTlsSchema } from './tls-schema.ts';
import { tracingSchema } from './tracing.ts';

export const http2ListenerSchema: S = {
  type: 'object',
  description:
    'HTTP/2 settings and per-connection abuse limits of an `h2c` listener, or of an `https` listener, where giving this block (even empty) offers HTTP/2 by ALPN beside HTTP/1.1 (docs/http2.md). A connection over a limit gets GOAWAY(ENHANCE_YOUR_CALM) and is closed; other connections are untouched. 0 turns a limit off.',
  additionalProperties: false,
  properties: {
    codec: {
      type: 'string',
      enum: ['fulcrum', 'node'],
      default: 'fulcrum',
      description:
        'The HTTP/2 server implementation: `fulcrum`, Fulcrum\'s own codec on raw sockets (src/http2/; about three times less CPU per request), or `node`, node:http2 (nghttp2), kept selectable. Both enforce the settings and limits below (docs/http2.md, "Codecs").',
    },
    max_concurrent_streams: int(
      'SETTINGS_MAX_CONCURRENT_STREAMS: streams one connection may have open at once (nginx 128, Envoy 2147483647).',
      1,
      2147483647,
      128,
    ),
    max_header_list_size: int(
      'SETTINGS_MAX_HEADER_LIST_SIZE in bytes (names, values and 32 bytes per field, RFC 9113 §6.5.2); a larger header block resets the stream.',
      1024,
      16777216,
      65536,
    ),
    header_table_size: int(
      'SETTINGS_HEADER_TABLE_SIZE: the HPACK dynamic table, in bytes, each side keeps for the other (4096 is the RFC default).',
      0,
      65536,
      4096,
    ),
    initial_window_size: int(
      'SETTINGS_INITIAL_WINDOW_SIZE: bytes a client may send on a stream before the proxy reads them (flow control). The own codec opens the connection window to 16 times this (at most 2^31-1), given back only as bodies are read (docs/http2.md).',
      65535,
      2147483647,
      65535,
    ),
    max_resets: int(
      'Rapid reset (CVE-2023-44487): premature resets (cancelled by the client unanswered, within 1 s of opening) allowed per `reset_window`; past it the connection is closed if they are at least half of its ended streams (docs/http2.md).',
      0,
      1000000,
      200,
    ),
    reset_window: int('The window of `max_resets`, in milliseconds.', 1, MS_MAX, 10000),
    max_control_frames: int(
      'SETTINGS and PING frames a client may send per `control_window` (each obliges an acknowledgement).',
      0,
      1000000,
      200,
    ),
    control_window: int('The window of `max_control_frames`, in milliseconds.', 1, MS_MAX, 10000),
  },
};

export const listenerSchema: S = {
  type: 'object',
  description: 'A bound socket that carries proxied traffic.',
  additionalProperties: false,
  required: ['port'],
  properties: {
    name: str('A unique name (default: `proxy-<port>`).'),
    protocol: {
      type: 'string',
      enum: ['http', 'https', 'h2c', 'tcp', 'udp', 'tls_passthrough'],
      default: 'http',
      description:
        '`http`: HTTP/1.1 in clear text. `https`: HTTP/1.1 over TLS (settings in `tls`; docs/tls.md). `h2c`: HTTP/2 in cleartext with prior knowledge, each stream routed and balanced on its own; an HTTP/1.1 client on the same port is served as on an `http` listener (docs/http2.md). `tcp` and `udp` balance connections and datagrams; `tls_passthrough` routes TLS connections by the SNI of their ClientHello without terminating them (docs/l4.md).',
    },
    ...l4ListenerProperties,
    address: str('The address to bind.', { default: '0.0.0.0' }),
    port: int('The port to bind; 0 picks a free one.', 0, 65535),
    tls: listenerTlsSchema,
    http2: http2ListenerSchema,
  },
};

/** The cluster store and what the nodes of a cluster share through it (docs/cluster.md). */
export const clusterSchema: S = {
  type: 'object',
  description:
    'Run this node as one of a cluster sharing its configuration and `policy: redis` rate-limit counters through Redis (docs/cluster.md). `fulcrum start --cluster redis://HOST:PORT` sets `redis`. Read at start; a change needs a restart.',
  additionalProperties: false,
  required: ['redis'],
  properties: {
    redis: str(
      'The Redis 7 the cluster shares: `redis://[[user]:password@]host:port[/db]` (`rediss://` for TLS).',
      { pattern: '^rediss?://' },
    ),
    prefix: str(
      'The prefix of every key this cluster keeps in Redis (several clusters can share one Redis).',
      {
        default: 'fulcrum',
        pattern: '^[A-Za-z0-9_.:-]+$',
      },
    ),
    node_id: str(
      "This node's name in the cluster (`/status`, logs). Default: the host name and process id.",
      { pattern: '^[A-Za-z0-9_.:-]+$' },
    ),
    cache_file: str(
      'Where the last configuration received from the cluster is kept, so that a restart while Redis is away still serves it. Default: `fulcrum.cluster-cache.json` beside the configuration file.',
    ),
    timeout: int(
      'Milliseconds a command of the configuration store may take before the node treats Redis as away (admin writes refused, the last configuration applied keeps serving).',
      10,
      MS_MAX,
      1000,
    ),
  },
};

export const nodeSchemas: Record<string, S> = {
  workers: {
    description:
      'Worker processes serving every listener on the same ports: a number, or `auto` for one per core (docs/cluster.md). `fulcrum start --workers N` overrides it. Default 1: the node is one process. Read at start; a change needs a restart.',
    oneOf: [
      { type: 'integer', minimum: 1, maximum: 1024 },
      { type: 'string', enum: ['auto'] },
    ],
  },
  worker_listen: {
    type: 'string',
    enum: ['auto', 'reuseport', 'cluster'],
    default: 'auto',
    description:
      "How workers share the ports: `reuseport` (each binds its own socket and the kernel spreads connections; Node 22.12+ on Linux), `cluster` (Node's cluster module: the primary accepts and hands connections round robin), or `auto`: reuseport where available (docs/cluster.md).",
  },
  accept_sockets: {
    description:
      "Listening sockets each TCP listener (http, https, tcp, tls_passthrough) binds on its port, in an SO_REUSEPORT group: Node accepts one connection per socket per event-loop turn, so a burst of new connections is taken up to this many a turn (nginx's `multi_accept`, HAProxy's `tune.maxaccept`). `auto` (the default): 16 where Node can bind such a group (22.12+ on Linux), else 1. A number above 1 needs that Node (docs/cluster.md#accepting-bursts-of-connections). Read when a listener binds.",
    oneOf: [
      { type: 'integer', minimum: 1, maximum: 256 },
      { type: 'string', enum: ['auto'] },
    ],
  },
  cluster: clusterSchema,
  zone: str(
    "This node's zone (availability zone, rack, data centre). Upstreams whose targets carry a `zone` prefer the targets of this one (zone-aware balancing, docs/balancing.md#zone-awareness). Unset: no preference.",
    { minLength: 1, maxLength: 128 },
  ),
  listeners: {
    type: 'array',
    description: "Proxy listeners. Default: one http listener on 0.0.0.0:8000 (Kong's default).",
    items: listenerSchema,
  },
  admin: {
    type: 'object',
    description: 'The admin listener: the admin API, status and metrics (docs/admin.md).',
    additionalProperties: false,
    properties: {
      enabled: bool('Whether to bind the admin listener.', true),
      address: str('The address to bind.', { default: '127.0.0.1' }),
      port: int('The port to bind; 0 picks a free one.', 0, 65535, 8001),
      token: str(
        'A bearer token every admin request must present (`Authorization: Bearer <token>` or `Kong-Admin-Token: <token>`), compared in constant time. Unset or empty: no auth, which is only allowed on a loopback address (see `allow_insecure`).',
      ),
      tls: {
        ...listenerTlsSchema,
        description:
          "Serve the admin API over HTTPS: the same fields as an https listener's `tls` (docs/tls.md); `certificate` and `key` name its own certificate files, and `verify_client: required` with `client_ca` demands client certificates (mTLS).",
      },
      allowed_hosts: strList(
        'Names besides `localhost`, IP addresses and `address` that the Host header of an admin request may carry (an /etc/hosts alias, a tunnel). Any other name is refused (403) on a loopback address or without a token: a web page that re-points its own name at this machine (DNS rebinding) would send it. The port is not compared. Applies to the next request.',
        { minLength: 1, pattern: '^[A-Za-z0-9._-]+$' },
      ),
      allow_insecure: bool(
        'Allow a non-loopback `address` without a `token`. Anyone who can reach that address could then change the configuration: use only on a network you fully control.',
        false,
      ),
    },
  },
  limits: {
    type: 'object',
    description:
      'Limits on what a client may send. Over-limit requests are refused before anything is forwarded.',
    additionalProperties: false,
    properties: {
      max_uri_bytes: int('Longest request target (path and query); longer answers 414.', 256, 1048576, 8192),
      max_header_bytes: int(
        'Largest request head (request line and all headers); larger answers 431.',
        1024,
        1048576,
        32768,
      ),
      max_headers: int('Most header fields in a request; more answers 431.', 8, 10000, 100),
      max_body_bytes: int(
        'Largest request body; larger answers 413. 0 means no limit.',
        0,
        Number.MAX_SAFE_INTEGER,
        0,
      ),
    },
  },
  timeouts: {
    type: 'object',
    description: 'Client-side timeouts, in milliseconds.',
    additionalProperties: false,
    properties: {
      client_header_ms: int(
        'Time allowed to receive the whole request head; a slower client gets 408.',
        100,
        MS_MAX,
        10000,
      ),
      client_request_ms: int(
        'Time allowed to receive the whole request, body included; 0 disables.',
        0,
        MS_MAX,
        300000,
      ),
      keepalive_ms: int('How long an idle client connection is kept open.', 0, MS_MAX, 60000),
      drain_ms: int('On shutdown, how long in-flight requests may take to finish.', 0, MS_MAX, 10000),
      upstream_keepalive_ms: int(
        'How long an idle connection to a target is kept in the pool.',
        100,
        MS_MAX,
        60000,
      ),
    },
  },
  logging: {
    type: 'object',
    description: 'Application logs (JSON lines on stderr) and access logs (one JSON line per request).',
    additionalProperties: false,
    properties: {
      level: {
        type: 'string',
        enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
        default: 'info',
        description: 'The application log level (to stderr). `fulcrum start --log-level` overrides it.',
      },
      format: {
        type: 'string',
        enum: ['auto', 'json', 'pretty'],
        default: 'auto',
        description:
          'The application log format: `json` (one JSON object per line), `pretty` (one human line per event: time, level, message, fields), or `auto`: pretty when stderr is a terminal, JSON otherwise. `fulcrum start --log-format` overrides it.',
      },
      access_log: str(
        'Where access-log lines go: `stdout`, `stderr`, `off`, or a file path, relative to the configuration file. A file is reopened on SIGUSR1 (after logrotate moved it).',
        {
          default: 'stdout',
        },
      ),
    },
  },
  tracing: tracingSchema,
  trusted_ips: {
    ...strList(
      'Addresses and CIDRs (`10.0.0.0/8`, `::1`) of proxies in front of Fulcrum whose `X-Forwarded-*` headers are kept and extended. From any other client those headers are replaced.',
    ),
    default: [],
  },
  headers: {
    type: 'object',
    description: 'Headers the proxy adds to what it forwards and answers.',
    additionalProperties: false,
    properties: {
      via: bool('Add `Via: 1.1 fulcrum` to requests and responses.', true),
      forwarded: bool('Also add an RFC 7239 `Forwarded` header to requests.', false),
      request_id: str(
        'The request-id header: passed through when present, generated otherwise. Empty disables.',
        {
          default: 'x-request-id',
          // A header name (RFC 9110 token), or '' to turn request ids off.
          pattern: "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]*$",
        },
      ),
      server_tokens: bool('Add `Server: fulcrum/<version>` to locally generated responses.', true),
    },
  },
};
