/**
 * key-auth: authenticate by an API key in a header or the query string (Kong's key-auth, same
 * fields and messages). Keys are `keyauth_credentials` of consumers; one Map lookup per request.
 */
import { alreadyAuthenticated, failOrAnonymous, setConsumer } from './auth-common.ts';
import { bool, optStr, strList } from './schema-kit.ts';
import type { ConfigProblem, LocalReply, PluginDef, PluginRequest } from './types.ts';

export interface KeyAuthConfig {
  readonly key_names: readonly string[];
  readonly key_in_header: boolean;
  readonly key_in_query: boolean;
  readonly key_in_body: boolean;
  readonly hide_credentials: boolean;
  readonly anonymous: string | null;
  readonly run_on_preflight: boolean;
}

interface Built {
  /** Each key name as written (query arguments are case-sensitive) and lower-cased (headers). */
  readonly names: readonly { readonly query: string; readonly header: string }[];
  readonly conf: KeyAuthConfig;
}

const REALM = 'Key realm="fulcrum"';
const NO_KEY: LocalReply = {
  status: 401,
  headers: { 'www-authenticate': REALM },
  body: { message: 'No API key found in request' },
};
const BAD_KEY: LocalReply = {
  status: 401,
  headers: { 'www-authenticate': REALM },
  body: { message: 'Unauthorized' },
};
const DUPLICATE: LocalReply = {
  status: 401,
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

function findKey(r: PluginRequest, b: Built): string | LocalReply | null {
  const c = b.conf;
  let params: URLSearchParams | null = null;
  for (const { query: name, header } of b.names) {
    let v: string | null = null;
    if (c.key_in_header) {
      const h = r.req.headers[header];
      if (typeof h === 'string') v = h;
    }
    if (v === null && c.key_in_query && r.query !== '') {
      params ??= new URLSearchParams(r.query.slice(1));
      const all = params.getAll(name);
      if (all.length > 1) return DUPLICATE;
      if (all.length === 1) v = all[0]!;
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
        'Read the key from a form or JSON body. Not supported yet (bodies are streamed): must stay false.',
        false,
      ),
      hide_credentials: bool('Remove the key (header and query argument) before proxying.', false),
      anonymous: optStr(
        'A consumer id or username used when authentication fails, instead of answering 401.',
      ),
      run_on_preflight: bool('Authenticate CORS preflight (OPTIONS) requests too.', true),
      realm: optStr('Accepted for Kong compatibility; the realm is `fulcrum`.'),
    },
  },
  check(raw, problems: ConfigProblem[]): KeyAuthConfig {
    if (raw.key_in_body === true)
      problems.push({
        path: ['key_in_body'],
        message: 'key_in_body is not supported yet (request bodies are streamed, not buffered)',
      });
    return {
      key_names: (raw.key_names as string[] | undefined) ?? ['apikey'],
      key_in_header: (raw.key_in_header as boolean | undefined) ?? true,
      key_in_query: (raw.key_in_query as boolean | undefined) ?? true,
      key_in_body: false,
      hide_credentials: (raw.hide_credentials as boolean | undefined) ?? false,
      anonymous: (raw.anonymous as string | null | undefined) || null,
      run_on_preflight: (raw.run_on_preflight as boolean | undefined) ?? true,
    };
  },
  build(conf) {
    return { conf, names: conf.key_names.map((n) => ({ query: n, header: n.toLowerCase() })) };
  },
  access(r, b) {
    const c = b.conf;
    if (!c.run_on_preflight && r.req.method === 'OPTIONS') return null;
    if (alreadyAuthenticated(r, c.anonymous)) return null;
    const key = findKey(r, b);
    if (key === null || key === '') return failOrAnonymous(r, c.anonymous, NO_KEY);
    if (typeof key !== 'string') return failOrAnonymous(r, c.anonymous, key);
    const hit = r.consumers.byKey(key);
    if (hit === null) return failOrAnonymous(r, c.anonymous, BAD_KEY);
    setConsumer(r, hit.consumer, hit.credential);
    return null;
  },
};
