/**
 * An upstream's `sticky` object: session affinity on top of any algorithm, by a cookie the proxy
 * inserts (HAProxy `cookie SRV insert`, Envoy's stateful session cookie) or by the client address
 * (HAProxy `stick-table type ip` + `stick on src`). Normalized into a frozen StickySpec; times are
 * seconds in the file and milliseconds in the spec. docs/balancing.md#sticky-sessions explains it.
 */
import type { ConfigIssue, ParsedSource, PathPart } from './load.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;
type S = Record<string, unknown>;

export interface StickyCookieSpec {
  readonly name: string;
  /** Lifetime of the pin in ms (in the signed value and as Max-Age); 0: a session cookie, no expiry. */
  readonly ttlMs: number;
  readonly path: string;
  /** The Domain attribute, or '' for none (host-only). */
  readonly domain: string;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: 'Strict' | 'Lax' | 'None';
}

export interface StickySpec {
  readonly mode: 'cookie' | 'source-ip';
  readonly cookie: StickyCookieSpec;
  /** The HMAC key of the cookie, or '' for the node's default key (one per cluster: docs/cluster.md). */
  readonly secret: string;
  /** source-ip: most client addresses remembered, and how long an unused one is kept (ms). */
  readonly tableSize: number;
  readonly idleTimeoutMs: number;
  /**
   * source-ip: `local` (this process's table) or `cluster` (every node's table fed by the others'
   * assignments through the cluster's Redis: src/cluster/affinity-share.ts).
   */
  readonly tableStore: 'local' | 'cluster';
}

export const DEFAULT_STICKY_COOKIE = 'fulcrum_sticky';
export const DEFAULT_TABLE_SIZE = 100_000;
export const DEFAULT_IDLE_TIMEOUT_S = 1800;

const obj = (description: string, properties: Record<string, S>): S => ({
  type: 'object',
  description,
  additionalProperties: false,
  properties,
});

export const stickySchema: S = obj(
  'Sticky sessions on top of the algorithm: a client keeps going to the target it was first sent to while that target can take it; otherwise the algorithm picks again and the pin moves. See docs/balancing.md#sticky-sessions.',
  {
    mode: {
      type: 'string',
      enum: ['cookie', 'source-ip'],
      default: 'cookie',
      description:
        '`cookie`: the proxy inserts a signed cookie naming the target (HAProxy `cookie insert`); `source-ip`: a bounded table remembers the target of each client address (HAProxy `stick on src`).',
    },
    cookie: obj('`cookie` mode: the cookie the proxy sets.', {
      name: {
        type: 'string',
        description: 'The cookie name.',
        default: DEFAULT_STICKY_COOKIE,
        minLength: 1,
        pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$",
      },
      ttl: {
        type: 'number',
        minimum: 0,
        maximum: 31536000,
        default: 0,
        description:
          'Seconds the pin lasts, signed into the value and sent as Max-Age; the proxy renews the cookie once half of it has passed, so an active client stays pinned. 0: a session cookie without expiry.',
      },
      path: {
        type: 'string',
        description: 'The Path attribute.',
        default: '/',
        pattern: '^/[^;\\u0000-\\u001f\\u007f]*$',
      },
      domain: {
        type: 'string',
        description: 'The Domain attribute; unset: none (the cookie goes back to the same host only).',
        pattern: '^\\.?[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$',
      },
      secure: { type: 'boolean', description: 'Add the Secure attribute.', default: false },
      http_only: { type: 'boolean', description: 'Add the HttpOnly attribute.', default: true },
      same_site: {
        type: 'string',
        enum: ['Strict', 'Lax', 'None'],
        default: 'Lax',
        description: 'The SameSite attribute; `None` requires `secure` (browsers drop it otherwise).',
      },
    }),
    secret: {
      type: 'string',
      minLength: 16,
      description:
        'The HMAC-SHA256 key signing the cookie. Set the same value on every node behind one address, or a cookie from one node is ignored by the next; unset, each process makes a random key (pins then last until a restart).',
    },
    source_ip: obj('`source-ip` mode: the table of client addresses.', {
      table_size: {
        type: 'integer',
        minimum: 1,
        maximum: 10_000_000,
        default: DEFAULT_TABLE_SIZE,
        description: 'The most client addresses remembered; past it, the least recently used is forgotten.',
      },
      idle_timeout: {
        type: 'number',
        minimum: 1,
        maximum: 604800,
        default: DEFAULT_IDLE_TIMEOUT_S,
        description: 'Seconds an address is remembered after its last request (HAProxy `expire`).',
      },
      store: {
        type: 'string',
        enum: ['local', 'cluster'],
        default: 'local',
        description:
          "`local`: each node (each worker process) keeps its own table. `cluster`: every new assignment is written to the cluster's Redis and published, and every node applies it to its own table, so a client keeps its target whichever node it reaches (HAProxy peers); a pick never waits for Redis. Needs the node's `cluster` setting; without it, or while Redis is away, the table is the node's own. See docs/cluster.md#source-ip-affinity-across-nodes.",
      },
    }),
  },
);

/** The `sticky` object of upstream `u` (at `at`), or null when absent. */
export function normalizeSticky(
  src: ParsedSource,
  u: Raw,
  at: PathPart[],
  issues: ConfigIssue[],
): StickySpec | null {
  const raw: Raw | undefined = u.sticky;
  if (raw === undefined || raw === null) return null;
  const here = [...at, 'sticky'];
  const mode: StickySpec['mode'] = raw.mode ?? 'cookie';
  if (mode === 'source-ip' && (raw.cookie !== undefined || raw.secret !== undefined))
    issues.push(
      src.issue(here, '"cookie" and "secret" are read in cookie mode only, not with mode source-ip'),
    );
  if (mode === 'cookie' && raw.source_ip !== undefined)
    issues.push(src.issue([...here, 'source_ip'], 'read with mode source-ip only'));
  const c: Raw = raw.cookie ?? {};
  const sameSite: StickyCookieSpec['sameSite'] = c.same_site ?? 'Lax';
  const secure: boolean = c.secure ?? false;
  if (sameSite === 'None' && !secure)
    issues.push(src.issue([...here, 'cookie', 'same_site'], 'SameSite=None needs "secure: true"'));
  const name: string = c.name ?? DEFAULT_STICKY_COOKIE;
  if (mode === 'cookie' && u.hash_on_cookie === name)
    issues.push(
      src.issue([...here, 'cookie', 'name'], `expected a name other than hash_on_cookie ("${name}")`),
    );
  const s: Raw = raw.source_ip ?? {};
  return {
    mode,
    cookie: {
      name,
      ttlMs: Math.round((c.ttl ?? 0) * 1000),
      path: c.path ?? '/',
      domain: c.domain ?? '',
      secure,
      httpOnly: c.http_only ?? true,
      sameSite,
    },
    secret: raw.secret ?? '',
    tableSize: s.table_size ?? DEFAULT_TABLE_SIZE,
    idleTimeoutMs: Math.round((s.idle_timeout ?? DEFAULT_IDLE_TIMEOUT_S) * 1000),
    tableStore: s.store ?? 'local',
  };
}
