/**
 * jwt: authenticate by a signed JSON Web Token (Kong's jwt plugin: fields, lookup and messages).
 * The token comes from a query argument, a cookie or `Authorization: Bearer`; its `key_claim_name`
 * claim (`iss`) selects a consumer's `jwt_secrets` entry, whose algorithm and key verify the
 * signature (jwt-verify.ts); then `exp` / `nbf` are checked when listed in `claims_to_verify`,
 * with `leeway` seconds of clock skew allowed (a Fulcrum addition; Kong has none).
 */
import { Buffer } from 'node:buffer';
import { native } from '../config/kong-fields.ts';
import type { Clock } from '../core/clock.ts';
import { readCookie } from '../proxy/hash-key.ts';
import { alreadyAuthenticated, failOrAnonymous, setConsumer } from './auth-common.ts';
import type { JwtHit } from './consumers.ts';
import { JwksCache } from './jwks.ts';
import { decodeJwt, type JwtAlgorithm, type JwtKey, jwtKey } from './jwt-verify.ts';
import { bool, int, optStr, strList } from './schema-kit.ts';
import {
  type AccessResult,
  type ConfigProblem,
  isWait,
  type LocalReply,
  type PluginDef,
  type PluginRequest,
} from './types.ts';

export interface JwtConfig {
  readonly uri_param_names: readonly string[];
  readonly cookie_names: readonly string[];
  readonly header_names: readonly string[];
  readonly claims_to_verify: readonly ('exp' | 'nbf')[];
  readonly key_claim_name: string;
  readonly secret_is_base64: boolean;
  readonly anonymous: string | null;
  readonly run_on_preflight: boolean;
  readonly maximum_expiration: number;
  readonly leeway: number;
  readonly jwks_cache_ttl: number;
  readonly jwks_max_stale: number;
  readonly jwks_timeout: number;
  readonly jwks_refresh_interval: number;
  readonly realm: string | null;
}

interface Built {
  readonly conf: JwtConfig;
  readonly clock: Clock;
  readonly headers: readonly string[];
  /** Per secret key: the consumer hit and its compiled verifier, or its key set (`jwks_uri`). */
  readonly keys: ReadonlyMap<string, { hit: JwtHit; key: JwtKey | null; jwks: JwksCache | null }>;
  /** `WWW-Authenticate` of a 401, when `realm` is set (Kong 3.9). */
  readonly challenge: Readonly<Record<string, string>> | null;
}

const msg = (message: string): LocalReply => ({
  status: 401,
  reason: 'invalid-credentials',
  body: { message },
});
const UNAUTHORIZED: LocalReply = { status: 401, reason: 'no-credentials', body: { message: 'Unauthorized' } };
const BEARER = /^\s*bearer\s+(\S+)\s*$/i;

/** The token, `null` when none, or a reply (several tokens). */
function findToken(r: PluginRequest, b: Built): string | LocalReply | null {
  const c = b.conf;
  const found: string[] = [];
  if (c.uri_param_names.length > 0 && r.query !== '') {
    const q = new URLSearchParams(r.query.slice(1));
    for (const n of c.uri_param_names) for (const v of q.getAll(n)) found.push(v);
  }
  if (found.length === 0)
    for (const n of c.cookie_names) {
      const v = readCookie(r.header('cookie'), n);
      if (v !== null) found.push(v);
    }
  if (found.length === 0)
    for (const n of b.headers) {
      const v = r.header(n);
      const m = typeof v === 'string' ? BEARER.exec(v) : null;
      if (m !== null) found.push(m[1]!);
    }
  if (found.length > 1 && new Set(found).size > 1) return msg('Multiple tokens provided');
  return found[0] ?? null;
}

/** Registered-claim errors, Kong style (`{"exp": "token expired"}`), or null. */
function claimErrors(
  claims: Record<string, unknown>,
  c: JwtConfig,
  nowS: number,
): Record<string, string> | null {
  const errors: Record<string, string> = {};
  for (const name of c.claims_to_verify) {
    const v = claims[name];
    if (typeof v !== 'number' || !Number.isFinite(v)) errors[name] = `must be a number`;
    else if (name === 'exp' && v <= nowS - c.leeway) errors[name] = 'token expired';
    else if (name === 'nbf' && v > nowS + c.leeway) errors[name] = 'token not valid yet';
  }
  if (c.maximum_expiration > 0 && errors.exp === undefined) {
    const exp = claims.exp;
    if (typeof exp !== 'number') errors.exp = 'must be a number';
    else if (exp - nowS > c.maximum_expiration) errors.exp = 'exceeds maximum allowed expiration';
  }
  return Object.keys(errors).length === 0 ? null : errors;
}

function authenticate(r: PluginRequest, b: Built): AccessResult {
  const token = findToken(r, b);
  if (token === null) return UNAUTHORIZED;
  if (typeof token !== 'string') return token;
  const jwt = decodeJwt(token);
  if (jwt === null) return msg('Bad token; invalid JSON');
  const name = b.conf.key_claim_name;
  const keyClaim = jwt.claims[name] ?? jwt.header[name];
  if (keyClaim === undefined) return msg(`No mandatory '${name}' in claims`);
  if (typeof keyClaim !== 'string' || keyClaim === '') return msg(`Invalid '${name}' in claims`);
  const entry = b.keys.get(keyClaim);
  if (entry === undefined) return msg(`No credentials found for given '${name}'`);
  if (jwt.header.alg !== entry.hit.secret.algorithm) return msg('Invalid algorithm');
  let key = entry.key;
  if (entry.jwks !== null) {
    const kid = jwt.header.kid;
    const k = entry.jwks.lookup(typeof kid === 'string' ? kid : null);
    if (k !== null && 'wait' in k) return k;
    key = k;
  }
  if (key === null) return msg('No key found for the token');
  if (!key.verify(jwt.signingInput, jwt.signature)) return msg('Invalid signature');
  const errors = claimErrors(jwt.claims, b.conf, Math.floor(b.clock.nowMs() / 1000));
  if (errors !== null) return { status: 401, reason: 'invalid-claims', body: errors };
  setConsumer(r, entry.hit.consumer, entry.hit.credential);
  return null;
}

export const jwt: PluginDef<JwtConfig, Built> = {
  name: 'jwt',
  priority: 1450,
  noConsumer: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      uri_param_names: strList('Query arguments the token is read from.', { default: ['jwt'] }),
      cookie_names: strList('Cookies the token is read from.', { default: [] }),
      header_names: strList('Headers the token is read from, as `Bearer <token>`.', {
        default: ['authorization'],
      }),
      claims_to_verify: strList(
        'Registered claims to check: `exp`, `nbf`.',
        { default: [] },
        { enum: ['exp', 'nbf'] },
      ),
      key_claim_name: {
        type: 'string',
        minLength: 1,
        default: 'iss',
        description: 'The claim that names the secret.',
      },
      secret_is_base64: bool('HMAC secrets are written base64-encoded.', false),
      anonymous: optStr(
        'A consumer id or username used when authentication fails, instead of answering 401.',
      ),
      run_on_preflight: bool('Authenticate CORS preflight (OPTIONS) requests too.', true),
      maximum_expiration: int(
        'Refuse tokens whose `exp` is further than this many seconds away; 0: no limit.',
        0,
        31536000,
        {
          default: 0,
        },
      ),
      leeway: int('Fulcrum addition: seconds of clock skew allowed on `exp` and `nbf`.', 0, 3600, {
        default: 0,
      }),
      jwks_cache_ttl: int(
        'Fulcrum addition: seconds a key set fetched from a credential `jwks_uri` stays fresh.',
        1,
        86400,
        { default: 300 },
      ),
      jwks_max_stale: int(
        'Fulcrum addition: seconds past `jwks_cache_ttl` the cached keys are still used while the JWKS URL cannot be fetched.',
        0,
        604800,
        { default: 3600 },
      ),
      jwks_timeout: int('Fulcrum addition: milliseconds a JWKS fetch may take.', 1, 60000, {
        default: 5000,
      }),
      jwks_refresh_interval: int(
        'Fulcrum addition: the fewest seconds between two fetches of one JWKS URL (an unknown `kid`, or a failed fetch, asks again only after this).',
        0,
        3600,
        { default: 10 },
      ),
      realm: optStr(
        'The realm of a `WWW-Authenticate: Bearer realm="..."` challenge sent with 401; unset: none.',
      ),
    },
  },
  kong: {
    uri_param_names: native(['token']),
    cookie_names: native(['jwt']),
    key_claim_name: native('kid'),
    secret_is_base64: native(true),
    claims_to_verify: native(['exp']),
    anonymous: native(null),
    run_on_preflight: native(false),
    maximum_expiration: native(3600, { claims_to_verify: ['exp'] }),
    header_names: native(['x-jwt']),
    realm: native('api'),
  },
  check(raw, problems: ConfigProblem[]): JwtConfig {
    const claims = (raw.claims_to_verify as ('exp' | 'nbf')[] | undefined) ?? [];
    const maxExp = (raw.maximum_expiration as number | undefined) ?? 0;
    if (maxExp > 0 && !claims.includes('exp'))
      problems.push({
        path: ['maximum_expiration'],
        message: 'maximum_expiration needs "exp" in claims_to_verify',
      });
    return {
      uri_param_names: (raw.uri_param_names as string[] | undefined) ?? ['jwt'],
      cookie_names: (raw.cookie_names as string[] | undefined) ?? [],
      header_names: (raw.header_names as string[] | undefined) ?? ['authorization'],
      claims_to_verify: claims,
      key_claim_name: (raw.key_claim_name as string | undefined) ?? 'iss',
      secret_is_base64: (raw.secret_is_base64 as boolean | undefined) ?? false,
      anonymous: (raw.anonymous as string | null | undefined) || null,
      run_on_preflight: (raw.run_on_preflight as boolean | undefined) ?? true,
      maximum_expiration: maxExp,
      leeway: (raw.leeway as number | undefined) ?? 0,
      jwks_cache_ttl: (raw.jwks_cache_ttl as number | undefined) ?? 300,
      jwks_max_stale: (raw.jwks_max_stale as number | undefined) ?? 3600,
      jwks_timeout: (raw.jwks_timeout as number | undefined) ?? 5000,
      jwks_refresh_interval: (raw.jwks_refresh_interval as number | undefined) ?? 10,
      realm: (raw.realm as string | undefined) ?? null,
    };
  },
  build(conf, env, instanceId) {
    const keys = new Map<string, { hit: JwtHit; key: JwtKey | null; jwks: JwksCache | null }>();
    const settings = {
      ttlMs: conf.jwks_cache_ttl * 1000,
      maxStaleMs: conf.jwks_max_stale * 1000,
      timeoutMs: conf.jwks_timeout,
      minRefreshMs: conf.jwks_refresh_interval * 1000,
    };
    for (const hit of env.consumers.jwtSecrets()) {
      const s = hit.secret;
      const alg = s.algorithm as JwtAlgorithm;
      if (s.jwksUri !== '') {
        // Kept across reloads (the keys and the fetch pacing), per instance, URL and algorithm.
        const jwks = env.state(
          `${instanceId}:jwks:${alg}:${s.jwksUri}`,
          () => new JwksCache(s.jwksUri, alg, env.clock, settings),
        );
        // A kept cache serves the generation in service until the swap: its new settings, and the
        // warm-up's fetch, wait for it (an abandoned build leaves the cache as it was).
        env.atSwap(() => {
          jwks.settings = settings;
          jwks.warm();
        });
        keys.set(s.key, { hit, key: null, jwks });
        continue;
      }
      const secret = Buffer.from(s.secret, conf.secret_is_base64 ? 'base64' : 'utf8');
      keys.set(s.key, { hit, key: jwtKey(alg, secret, s.publicKey), jwks: null });
    }
    const challenge =
      conf.realm === null ? null : { 'www-authenticate': `Bearer realm=${JSON.stringify(conf.realm)}` };
    return {
      conf,
      clock: env.clock,
      headers: conf.header_names.map((h) => h.toLowerCase()),
      keys,
      challenge,
    };
  },
  access(r, b) {
    const c = b.conf;
    if (!c.run_on_preflight && r.method === 'OPTIONS') return null;
    if (alreadyAuthenticated(r, c.anonymous)) return null;
    const failure = authenticate(r, b);
    if (failure === null || isWait(failure)) return failure;
    const reply =
      b.challenge !== null && failure.status === 401
        ? { ...failure, headers: { ...failure.headers, ...b.challenge } }
        : failure;
    return failOrAnonymous(r, c.anonymous, reply);
  },
};
