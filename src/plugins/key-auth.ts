/**
 * key-auth: authenticate by an API key in a header, the query string or the body (Kong's key-auth,
 * same fields and messages). Keys are `keyauth_credentials` of consumers; one Map lookup per
 * request. The body is read (buffered up to `body_limit`) only with `key_in_body`, and only when
 * no key name was found in a header or the query first.
 */
import { Buffer } from 'node:buffer';
import { native } from '../config/kong-fields.ts';
import { alreadyAuthenticated, failOrAnonymous, setConsumer } from './auth-common.ts';
import { fieldValues, type ParsedBody, parseBody } from './body-fields.ts';
import { bool, int, optStr, strList } from './schema-kit.ts';
import {
  type ConfigProblem,
  isWait,
  type LocalReply,
  type PluginDef,
  type PluginRequest,
  type Wait,
} from './types.ts';

/** The default `body_limit` (Fulcrum addition): bodies larger than this are not searched for a key. */
export const DEFAULT_BODY_LIMIT_BYTES = 1048576;

export interface KeyAuthConfig {
  readonly key_names: readonly string[];
  readonly key_in_header: boolean;
  readonly key_in_query: boolean;
  readonly key_in_body: boolean;
  readonly hide_credentials: boolean;
  readonly anonymous: string | null;
  readonly run_on_preflight: boolean;
  readonly body_limit: number;
}

interface Built {
  /** Each key name as written (query arguments are case-sensitive) and lower-cased (headers). */
  readonly names: readonly { readonly query: string; readonly header: string }[];
  readonly conf: KeyAuthConfig;
}

const REALM = 'Key realm="fulcrum"';
const NO_KEY: LocalReply = {
  status: 401,
  reason: 'no-credentials',
  headers: { 'www-authenticate': REALM },
  body: { message: 'No API key found in request' },
};
const BAD_KEY: LocalReply = {
  status: 401,
  reason: 'invalid-credentials',
  headers: { 'www-authenticate': REALM },
  body: { message: 'Unauthorized' },
};
const DUPLICATE: LocalReply = {
  status: 401,
  reason: 'invalid-credentials',
  headers: { 'www-authenticate': REALM },
  body: { message: 'Duplicate API key found' },
};

/** Remove every `name=` argument from a query string (`?a=1&apikey=x` → `?a=1`). */
function dropQueryArg(query: string, name: string): string {
  const params = new URLSearchParams(query.slice(1));
  params.delete(name);
  const s = params.toString();
  return s === '' ? '' : `?${s}`;
}

/**
 * Every value of the argument `name` in a query string (with its `?`), as URLSearchParams.getAll
 * reads them. Without `%` or `+` nothing is decoded, so the arguments are split here without
 * building the URLSearchParams (its parse costs more than the rest of the hook).
 */
export function queryArgs(query: string, name: string): string[] {
  if (query.includes('%') || query.includes('+')) return new URLSearchParams(query.slice(1)).getAll(name);
  const out: string[] = [];
  const n = name.length;
  for (let at = 1; at <= query.length; ) {
    let end = query.indexOf('&', at);
    if (end < 0) end = query.length;
    // `name=value`, or `name` alone (an empty value); empty sequences between `&`s are skipped.
    if (query.startsWith(name, at)) {
      if (at + n === end) out.push('');
      else if (query.charCodeAt(at + n) === 61 && at + n < end) out.push(query.slice(at + n + 1, end));
    }
    at = end + 1;
  }
  return out;
}

/** The body's fields, parsed once per request (undefined: not read yet; null: none). */
function bodyFields(r: PluginRequest, limit: number): ParsedBody | null | Wait {
  const have = r.data('key-auth') as ParsedBody | null | undefined;
  if (have !== undefined) return have;
  const body = r.requestBody(limit);
  if (body !== null && !Buffer.isBuffer(body)) return body;
  const parsed = body === null ? null : parseBody(r.header('content-type'), body);
  r.setData('key-auth', parsed);
  return parsed;
}

/** Remove the key from a form or JSON body (multipart bodies are forwarded as they came). */
function hideInBody(r: PluginRequest, p: ParsedBody, name: string): void {
  if (p.kind === 'form') {
    p.params.delete(name);
    r.setRequestBody(Buffer.from(p.params.toString()));
  } else if (p.kind === 'json') {
    delete p.value[name];
    r.setRequestBody(Buffer.from(JSON.stringify(p.value)));
  }
}

function findKey(r: PluginRequest, b: Built): string | LocalReply | Wait | null {
  const c = b.conf;
  for (const { query: name, header } of b.names) {
    let v: string | null = null;
    if (c.key_in_header) {
      const h = r.header(header);
      if (typeof h === 'string') v = h;
    }
    if (v === null && c.key_in_query && r.query !== '') {
      const all = queryArgs(r.query, name);
      if (all.length > 1) return DUPLICATE;
      if (all.length === 1) v = all[0]!;
    }
    if (v === null && c.key_in_body) {
      const p = bodyFields(r, c.body_limit);
      if (p !== null && !('kind' in p)) return p;
      if (p !== null) {
        const all = fieldValues(p, name);
        if (all.length > 1) return DUPLICATE;
        if (all.length === 1) {
          if (c.hide_credentials) hideInBody(r, p, name);
          v = all[0]!;
        }
      }
    }
    if (v !== null) {
      if (c.hide_credentials) {
        r.setRequestHeader(header, null);
        if (r.query !== '') r.query = dropQueryArg(r.query, name);
      }
      return v;
    }
  }
  return null;
}

export const keyAuth: PluginDef<KeyAuthConfig, Built> = {
  name: 'key-auth',
  priority: 1250,
  noConsumer: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      key_names: strList(
        'Header and query-argument names the key is read from, tried in order.',
        { minItems: 1, default: ['apikey'] },
        { minLength: 1, pattern: '^[A-Za-z0-9_.~-]+$' },
      ),
      key_in_header: bool('Read the key from request headers.', true),
      key_in_query: bool('Read the key from the query string.', true),
      key_in_body: bool(
        'Read the key from the body: a JSON object, a form (urlencoded) or multipart form field, after headers and the query.',
        false,
      ),
      hide_credentials: bool('Remove the key (header and query argument) before proxying.', false),
      anonymous: optStr(
        'A consumer id or username used when authentication fails, instead of answering 401.',
      ),
      run_on_preflight: bool('Authenticate CORS preflight (OPTIONS) requests too.', true),
      realm: optStr('Accepted for Kong compatibility; the realm is `fulcrum`.'),
      body_limit: int(
        'Fulcrum addition: with `key_in_body`, the largest body (bytes) buffered and searched; a larger one is streamed on and holds no key.',
        1,
        67108864,
        { default: DEFAULT_BODY_LIMIT_BYTES },
      ),
    },
  },
  kong: {
    key_names: native(['x-api-key']),
    hide_credentials: native(true),
    anonymous: native(null),
    key_in_header: native(false),
    key_in_query: native(false),
    key_in_body: native(true),
    run_on_preflight: native(false),
    realm: native('api'),
  },
  check(raw, _problems: ConfigProblem[]): KeyAuthConfig {
    return {
      key_names: (raw.key_names as string[] | undefined) ?? ['apikey'],
      key_in_header: (raw.key_in_header as boolean | undefined) ?? true,
      key_in_query: (raw.key_in_query as boolean | undefined) ?? true,
      key_in_body: (raw.key_in_body as boolean | undefined) ?? false,
      hide_credentials: (raw.hide_credentials as boolean | undefined) ?? false,
      anonymous: (raw.anonymous as string | null | undefined) || null,
      run_on_preflight: (raw.run_on_preflight as boolean | undefined) ?? true,
      body_limit: (raw.body_limit as number | undefined) ?? DEFAULT_BODY_LIMIT_BYTES,
    };
  },
  build(conf) {
    return { conf, names: conf.key_names.map((n) => ({ query: n, header: n.toLowerCase() })) };
  },
  access(r, b) {
    const c = b.conf;
    if (!c.run_on_preflight && r.method === 'OPTIONS') return null;
    if (alreadyAuthenticated(r, c.anonymous)) return null;
    const key = findKey(r, b);
    if (key === null || key === '') return failOrAnonymous(r, c.anonymous, NO_KEY);
    if (typeof key !== 'string') return isWait(key) ? key : failOrAnonymous(r, c.anonymous, key);
    const hit = r.consumers.byKey(key);
    if (hit === null) return failOrAnonymous(r, c.anonymous, BAD_KEY);
    setConsumer(r, hit.consumer, hit.credential);
    return null;
  },
};
