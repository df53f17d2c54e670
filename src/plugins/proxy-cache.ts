/**
 * proxy-cache: keep responses in memory and answer repeated requests from the copy (Kong's
 * proxy-cache with the memory strategy: fields, X-Cache-Status values Miss / Hit / Refresh /
 * Bypass). With `cache_control` the request's and response's Cache-Control are honoured (RFC 9111
 * shared-cache rules, a subset: no-store, no-cache, private, max-age, s-maxage); the response's
 * Vary always is. The body is copied as it is relayed (never held back from the client) and kept
 * only when it fits `max_entry_bytes` and arrived whole.
 *
 * `strategy: redis` (Kong Enterprise's proxy-cache-advanced field names: `redis.host`, `port`,
 * `database`, `password`, ...; unset host: the node's cluster Redis) keeps the entries in Redis,
 * shared by every node and worker (src/cluster/proxy-cache-redis.ts): the access hook then waits
 * for the lookup (a Wait), bounded by `redis.timeout`; a failed lookup goes to the target as
 * `Bypass` (Kong's `bypass_on_err`), never an error.
 */
import { Buffer } from 'node:buffer';
import { ignored, native } from '../config/kong-fields.ts';
import type { Clock } from '../core/clock.ts';
import type { CachedResponse, RedisSettings, SharedCache } from './rate-limit-policy.ts';
import { REDIS_FIELDS, redisSettings, redisStore } from './redis-settings.ts';
import { cacheKeyDigest, ResponseCache } from './response-cache.ts';
import { bool, int, obj, strList } from './schema-kit.ts';
import type { AccessResult, LocalReply, PluginDef, PluginRequest, ResponseHead } from './types.ts';

export interface ProxyCacheConfig {
  readonly response_code: readonly number[];
  readonly request_method: readonly string[];
  readonly content_type: readonly string[];
  readonly cache_ttl: number;
  readonly cache_control: boolean;
  readonly vary_headers: readonly string[];
  readonly vary_query_params: readonly string[];
  readonly ignore_uri_case: boolean;
  readonly response_headers: { readonly age: boolean; readonly status: boolean; readonly key: boolean };
  readonly max_entry_bytes: number;
  readonly max_total_bytes: number;
  readonly strategy: 'memory' | 'redis';
  /** `strategy: redis`: where Redis is; host null: the node's cluster Redis. */
  readonly redis: RedisSettings;
}

interface Built {
  readonly conf: ProxyCacheConfig;
  readonly cache: ResponseCache;
  /** `strategy: redis` on a node that has a Redis for it, else null (entries in `cache`). */
  readonly shared: SharedCache | null;
  readonly clock: Clock;
  readonly codes: ReadonlySet<number>;
  readonly methods: ReadonlySet<string>;
}

/** Per request: the key, what the lookup found, and the copy being taken. */
interface Pending {
  readonly primary: string;
  readonly key: string;
  readonly status: 'Miss' | 'Refresh';
  capture: {
    status: number;
    headers: string[];
    chunks: Buffer[];
    bytes: number;
    ttlMs: number;
    vary: string[];
  } | null;
}

const NAME = 'proxy-cache';
/** The shared lookup's answer, kept between the access hook's two calls. */
const LOOKUP = 'proxy-cache:lookup';

/**
 * Kong Enterprise's Redis fields (proxy-cache-advanced) that Fulcrum accepts and does not use:
 * its connection to Redis is one multiplexed ioredis connection, not a pool.
 */
const KONG_EE_REDIS_IGNORED = {
  keepalive_pool_size: int(
    'Kong Enterprise field, accepted and not used (one multiplexed connection).',
    1,
    2147483646,
  ),
  keepalive_backlog: int('Kong Enterprise field, accepted and not used.', 0, 2147483646),
  connect_timeout: int(
    'Kong Enterprise field: milliseconds to connect; Fulcrum waits `timeout` for the whole lookup.',
    0,
    2147483646,
  ),
  send_timeout: int(
    'Kong Enterprise field, accepted; Fulcrum waits `timeout` for the whole lookup.',
    0,
    2147483646,
  ),
  read_timeout: int('Kong Enterprise field: when set, it is the lookup timeout (over `timeout`).', 1, 60000),
};
/** Not stored: framing, hop-by-hop, per-response and per-client fields. */
/**
 * Kong's spelling of its headers: field names are case-insensitive, but Kong's documentation has
 * users `grep X-Cache` in `curl -i` output, which only the exact spelling matches.
 */
const STATUS_HEADER = 'X-Cache-Status';
const KEY_HEADER = 'X-Cache-Key';

const NOT_STORED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'date',
  'server',
  'set-cookie',
  'age',
  'x-cache-status',
  'x-cache-key',
  'via',
]);

function directives(v: string | string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (v === undefined) return out;
  for (const part of (Array.isArray(v) ? v.join(',') : v).split(',')) {
    const [k, val] = part.trim().toLowerCase().split('=', 2);
    if (k) out.set(k, (val ?? '').replace(/^"|"$/g, ''));
  }
  return out;
}

function headerOf(flat: readonly string[], name: string): string | undefined {
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.toLowerCase() === name) return flat[i + 1];
  return undefined;
}

function typeAllowed(allowed: readonly string[], ct: string | undefined): boolean {
  if (ct === undefined) return false;
  const media = ct.split(';')[0]!.trim().toLowerCase();
  for (const a of allowed) {
    if (a === '*/*' || a === media) return true;
    if (a.endsWith('/*') && media.startsWith(a.slice(0, -1))) return true;
  }
  return false;
}

function primaryKey(r: PluginRequest, c: ProxyCacheConfig): string {
  let query = '';
  if (r.query !== '') {
    const q = new URLSearchParams(r.query.slice(1));
    const names = c.vary_query_params.length > 0 ? c.vary_query_params : [...new Set(q.keys())];
    query = [...names]
      .sort()
      .map((n) => `${n}=${q.getAll(n).join(',')}`)
      .join('&');
  }
  const path = c.ignore_uri_case ? r.path.toLowerCase() : r.path;
  const vh = c.vary_headers.map((h) => `${h}=${String(r.header(h) ?? '')}`).join('&');
  // The service too: traffic-split (which runs first) may send the route's requests elsewhere.
  const service = r.serviceOverride ?? r.service.name;
  return `${r.route.id}|${service}|${r.consumer?.id ?? ''}|${(r.header('host') ?? '').toLowerCase()}|${path}|${query}|${vh}`;
}

function fullKey(r: PluginRequest, primary: string, vary: readonly string[]): string {
  if (vary.length === 0) return primary;
  return `${primary}|${vary.map((n) => String(r.header(n) ?? '')).join('|')}`;
}

/** Whether and for how long a response may be stored, from its head. */
function storable(b: Built, head: ResponseHead): { ttlMs: number; vary: string[] } | null {
  const c = b.conf;
  if (!b.codes.has(head.status)) return null;
  if (!typeAllowed(c.content_type, headerOf(head.headers, 'content-type'))) return null;
  const cl = headerOf(head.headers, 'content-length');
  if (cl !== undefined && Number(cl) > c.max_entry_bytes) return null;
  const varyHeader = headerOf(head.headers, 'vary');
  const vary =
    varyHeader === undefined
      ? []
      : varyHeader
          .split(',')
          .map((v) => v.trim().toLowerCase())
          .filter(Boolean);
  if (vary.includes('*')) return null;
  let ttlMs = c.cache_ttl * 1000;
  if (c.cache_control) {
    const d = directives(headerOf(head.headers, 'cache-control'));
    if (d.has('no-store') || d.has('private') || d.has('no-cache')) return null;
    const age = d.get('s-maxage') ?? d.get('max-age');
    if (age !== undefined) {
      const s = Number(age);
      if (!Number.isFinite(s) || s <= 0) return null;
      ttlMs = s * 1000;
    }
  }
  return { ttlMs, vary };
}

/** The `redis` block, with Kong Enterprise's `read_timeout` over `timeout` when given. */
function cacheRedis(raw: Record<string, unknown>): RedisSettings {
  const nested = (raw.redis as Record<string, unknown> | null | undefined) ?? {};
  const base = redisSettings({ redis: nested });
  const read = nested.read_timeout as number | null | undefined;
  return read === undefined || read === null ? base : { ...base, timeout: read };
}

/** The reply of a hit: the stored head and body, with Age and X-Cache-Status. */
function hitReply(c: ProxyCacheConfig, hit: CachedResponse, now: number): LocalReply {
  const headers: Record<string, string> = {};
  for (let i = 0; i < hit.headers.length; i += 2)
    headers[hit.headers[i]!.toLowerCase()] = hit.headers[i + 1]!;
  if (c.response_headers.age) headers.age = String(Math.max(0, Math.floor((now - hit.storedMs) / 1000)));
  if (c.response_headers.status) headers[STATUS_HEADER] = 'Hit';
  return { status: hit.status, reason: 'hit', headers, body: hit.body };
}

/**
 * The access hook with a shared store: ask it (a Wait), then, called again, answer the hit or go
 * on to the target. A lookup that failed goes to the target as Bypass, and nothing is stored.
 */
function sharedAccess(
  r: PluginRequest,
  b: Built,
  shared: SharedCache,
  primary: string,
  status: Pending['status'],
): AccessResult {
  const c = b.conf;
  const key = primary;
  if (status === 'Miss') {
    const kept = r.data(LOOKUP) as { found: Awaited<ReturnType<SharedCache['lookup']>> } | undefined;
    if (kept === undefined) {
      const asked = shared.lookup(primary, (names) => fullKey(r, primary, names));
      if (asked !== 'error') return { wait: asked.then((found) => r.setData(LOOKUP, { found })) };
    }
    const found = kept === undefined ? 'error' : kept.found;
    if (found === 'error') {
      if (c.response_headers.status) r.addResponseHeader(STATUS_HEADER, 'Bypass');
      return null;
    }
    if (found !== null) {
      if (c.response_headers.key) r.addResponseHeader(KEY_HEADER, cacheKeyDigest(found.key));
      return hitReply(c, found.entry, b.clock.nowMs());
    }
  }
  if (c.response_headers.key) r.addResponseHeader(KEY_HEADER, cacheKeyDigest(key));
  const pending: Pending = { primary, key, status, capture: null };
  r.setData(NAME, pending);
  return null;
}

export const proxyCache: PluginDef<ProxyCacheConfig, Built> = {
  name: 'proxy-cache',
  priority: 100,
  noConsumer: false,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      response_code: {
        type: 'array',
        items: { type: 'integer', minimum: 100, maximum: 599 },
        minItems: 1,
        default: [200, 301, 404],
        description: 'Statuses that are cached.',
      },
      request_method: strList(
        'Methods whose responses are cached (GET stores; HEAD is answered from it).',
        {
          default: ['GET', 'HEAD'],
        },
        { enum: ['GET', 'HEAD'] },
      ),
      content_type: strList('Media types cached: exact, `type/*` or `*/*`.', {
        default: ['text/plain', 'application/json'],
      }),
      cache_ttl: int('Seconds an entry stays fresh (unless Cache-Control says otherwise).', 1, 31536000, {
        default: 300,
      }),
      cache_control: bool('Honour the request and response Cache-Control (RFC 9111).', false),
      vary_headers: strList('Request headers whose values are part of the key.', { default: [] }),
      vary_query_params: strList('Query arguments that are part of the key; empty: all of them.', {
        default: [],
      }),
      ignore_uri_case: bool('Compare paths case-insensitively.', false),
      response_headers: {
        type: 'object',
        additionalProperties: false,
        default: {},
        description: 'Which informational headers to send.',
        properties: {
          age: bool('`Age` on hits.', true),
          'X-Cache-Status': bool('`X-Cache-Status`: Miss, Hit, Refresh or Bypass.', true),
          'X-Cache-Key': bool(
            "`X-Cache-Key`: a digest of the key, as Kong sends it; the admin API's `/proxy-cache/{key}` looks up and purges by it.",
            true,
          ),
        },
      },
      strategy: {
        type: 'string',
        enum: ['memory', 'redis'],
        default: 'memory',
        description:
          "Where entries live: `memory` (this process's) or `redis` (shared by every node and worker; Kong Enterprise's proxy-cache-advanced; docs/cluster.md#proxy-cache-in-redis).",
      },
      redis: obj(
        "`strategy: redis`: where Redis is (Kong Enterprise's proxy-cache-advanced `redis` block).",
        {
          ...REDIS_FIELDS,
          host: {
            ...REDIS_FIELDS.host,
            description:
              "The Redis host. Unset: the Redis of the node's `cluster` setting (and its `prefix`).",
          },
          timeout: {
            ...REDIS_FIELDS.timeout,
            description:
              'Milliseconds a lookup may wait for Redis; slower or failed, the request goes to the target (`Bypass`) and Redis is not asked again until it answers a PING.',
          },
          ...KONG_EE_REDIS_IGNORED,
        },
      ),
      bypass_on_err: bool(
        "Kong Enterprise's field: a lookup that fails goes to the target with `X-Cache-Status: Bypass`. Fulcrum always does so (a cache never fails a request); accepted for compatibility.",
        false,
      ),
      max_entry_bytes: int('Fulcrum addition: the largest body stored.', 1, 1073741824, { default: 1048576 }),
      max_total_bytes: int(
        'Fulcrum addition: total body bytes kept; least recently used entries go first.',
        1,
        17179869184,
        {
          default: 67108864,
        },
      ),
    },
  },
  kong: {
    response_code: native([200]),
    request_method: native(['GET']),
    content_type: native(['application/json']),
    cache_ttl: native(60),
    strategy: native('memory'),
    cache_control: native(true),
    ignore_uri_case: native(true),
    storage_ttl: ignored("entries are dropped at cache_ttl (or the response's own max-age)", undefined, 600, {
      type: 'integer',
    }),
    memory: ignored(
      "the cache is this node's own memory, bounded by max_total_bytes; there is no shared dictionary",
      { dictionary_name: 'kong_db_cache' },
      { dictionary_name: 'my_cache' },
      { type: 'object' },
    ),
    vary_query_params: native(['page']),
    vary_headers: native(['accept-language']),
    'response_headers.age': native(false),
    'response_headers.X-Cache-Status': native(false),
    'response_headers.X-Cache-Key': native(false),
  },
  check(raw): ProxyCacheConfig {
    const rh = (raw.response_headers ?? {}) as Record<string, boolean | undefined>;
    return {
      response_code: (raw.response_code as number[] | undefined) ?? [200, 301, 404],
      request_method: (raw.request_method as string[] | undefined) ?? ['GET', 'HEAD'],
      content_type: ((raw.content_type as string[] | undefined) ?? ['text/plain', 'application/json']).map(
        (t) => t.toLowerCase(),
      ),
      cache_ttl: (raw.cache_ttl as number | undefined) ?? 300,
      cache_control: (raw.cache_control as boolean | undefined) ?? false,
      vary_headers: ((raw.vary_headers as string[] | undefined) ?? []).map((h) => h.toLowerCase()),
      vary_query_params: (raw.vary_query_params as string[] | undefined) ?? [],
      ignore_uri_case: (raw.ignore_uri_case as boolean | undefined) ?? false,
      response_headers: {
        age: rh.age ?? true,
        status: rh['X-Cache-Status'] ?? true,
        key: rh['X-Cache-Key'] ?? true,
      },
      max_entry_bytes: (raw.max_entry_bytes as number | undefined) ?? 1048576,
      max_total_bytes: (raw.max_total_bytes as number | undefined) ?? 67108864,
      strategy: (raw.strategy as 'memory' | 'redis' | undefined) ?? 'memory',
      redis: cacheRedis(raw),
    };
  },
  build(conf, env, id) {
    const cache = env.state(`${id}|${conf.max_total_bytes}`, () => new ResponseCache(conf.max_total_bytes));
    const shared =
      conf.strategy === 'redis'
        ? redisStore(env, id, conf.redis, () => env.counters?.cache?.({ key: id, redis: conf.redis }) ?? null)
        : null;
    return {
      conf,
      cache,
      shared,
      clock: env.clock,
      codes: new Set(conf.response_code),
      methods: new Set(conf.request_method),
    };
  },
  access(r, b) {
    const c = b.conf;
    const method = r.method ?? 'GET';
    if (!b.methods.has(method)) {
      if (c.response_headers.status) r.addResponseHeader(STATUS_HEADER, 'Bypass');
      return null;
    }
    let status: Pending['status'] = 'Miss';
    if (c.cache_control) {
      const d = directives(r.header('cache-control'));
      if (d.has('no-store')) {
        if (c.response_headers.status) r.addResponseHeader(STATUS_HEADER, 'Bypass');
        return null;
      }
      if (d.has('no-cache') || d.get('max-age') === '0') status = 'Refresh';
    }
    const primary = primaryKey(r, c);
    if (b.shared !== null) return sharedAccess(r, b, b.shared, primary, status);
    const key = fullKey(r, primary, b.cache.varyNames(primary));
    const now = b.clock.nowMs();
    if (c.response_headers.key) r.addResponseHeader(KEY_HEADER, cacheKeyDigest(key));
    if (status === 'Miss') {
      const hit = b.cache.get(key, now);
      if (hit !== null) return hitReply(c, hit, now);
    }
    const pending: Pending = { primary, key, status, capture: null };
    r.setData(NAME, pending);
    return null;
  },
  headerFilter(r, b, head) {
    if (head.local) return;
    const p = r.data(NAME) as Pending | undefined;
    if (p === undefined) return;
    const ok = r.method === 'GET' ? storable(b, head) : null;
    if (ok !== null) {
      const headers: string[] = [];
      for (let i = 0; i < head.headers.length; i += 2)
        if (!NOT_STORED.has(head.headers[i]!.toLowerCase()))
          headers.push(head.headers[i]!, head.headers[i + 1]!);
      p.capture = { status: head.status, headers, chunks: [], bytes: 0, ttlMs: ok.ttlMs, vary: ok.vary };
    }
    if (b.conf.response_headers.status) head.headers.push(STATUS_HEADER, ok !== null ? p.status : 'Bypass');
  },
  bodyFilter(r, b, chunk) {
    const p = r.data(NAME) as Pending | undefined;
    const cap = p?.capture;
    if (p === undefined || cap === null || cap === undefined) return;
    if (chunk !== null) {
      cap.bytes += chunk.length;
      if (cap.bytes > b.conf.max_entry_bytes) p.capture = null;
      else cap.chunks.push(chunk);
      return;
    }
    p.capture = null;
    const key = fullKey(r, p.primary, cap.vary);
    const entry: CachedResponse = {
      status: cap.status,
      headers: cap.headers,
      body: Buffer.concat(cap.chunks, cap.bytes),
      storedMs: b.clock.nowMs(),
      ttlMs: cap.ttlMs,
    };
    if (b.shared !== null) b.shared.store(p.primary, cap.vary, key, entry);
    else b.cache.set(p.primary, cap.vary, key, entry);
  },
};

/** Each proxy-cache instance's cache in the runtime's plugin state, by instance id. */
export function proxyCachesIn(state: ReadonlyMap<string, unknown>): Map<string, ResponseCache> {
  const out = new Map<string, ResponseCache>();
  for (const [key, v] of state) if (v instanceof ResponseCache) out.set(key.split('|')[0]!, v);
  return out;
}
