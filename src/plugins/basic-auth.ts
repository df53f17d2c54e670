/**
 * basic-auth: authenticate by `Authorization: Basic` (RFC 7617) against `basicauth_credentials`
 * (Kong's basic-auth). Passwords are kept as Kong stores them, hex SHA-1 of the password followed
 * by the consumer id, and compared in constant time: the check is synchronous and costs
 * microseconds, where a slow KDF (scrypt, bcrypt) would block the event loop for tens of
 * milliseconds per request; and it is the form found in Kong databases being migrated.
 */
import { Buffer } from 'node:buffer';
import { timingSafeEqual } from 'node:crypto';
import { native } from '../config/kong-fields.ts';
import { alreadyAuthenticated, failOrAnonymous, setConsumer } from './auth-common.ts';
import { hashBasicPassword } from './password.ts';
import { bool, optStr } from './schema-kit.ts';
import type { LocalReply, PluginDef } from './types.ts';

export interface BasicAuthConfig {
  readonly anonymous: string | null;
  readonly hide_credentials: boolean;
  readonly realm: string;
}

interface Built {
  readonly conf: BasicAuthConfig;
  readonly failure: LocalReply;
  readonly missing: LocalReply;
}

/** `Basic dXNlcjpwYXNz` → [user, pass], or null. */
export function parseBasic(header: string | undefined): [string, string] | null {
  if (header === undefined || header.length > 4096) return null;
  const m = /^\s*basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (m === null) return null;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  return [text.slice(0, colon), text.slice(colon + 1)];
}

export const basicAuth: PluginDef<BasicAuthConfig, Built> = {
  name: 'basic-auth',
  priority: 1100,
  noConsumer: true,
  schema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      anonymous: optStr(
        'A consumer id or username used when authentication fails, instead of answering 401.',
      ),
      hide_credentials: bool('Remove the Authorization header before proxying.', false),
      realm: {
        type: 'string',
        description: 'The realm of the WWW-Authenticate challenge.',
        default: 'service',
      },
    },
  },
  kong: {
    anonymous: native(null),
    hide_credentials: native(true),
    realm: native('api'),
  },
  check(raw): BasicAuthConfig {
    return {
      anonymous: (raw.anonymous as string | null | undefined) || null,
      hide_credentials: (raw.hide_credentials as boolean | undefined) ?? false,
      realm: (raw.realm as string | undefined) ?? 'service',
    };
  },
  build(conf) {
    const failure: LocalReply = {
      status: 401,
      reason: 'invalid-credentials',
      headers: { 'www-authenticate': `Basic realm=${JSON.stringify(conf.realm)}` },
      body: { message: 'Unauthorized' },
    };
    return { conf, failure, missing: { ...failure, reason: 'no-credentials' } };
  },
  access(r, b) {
    const c = b.conf;
    if (alreadyAuthenticated(r, c.anonymous)) return null;
    const pair = parseBasic(r.header('authorization'));
    if (pair === null) return failOrAnonymous(r, c.anonymous, b.missing);
    const hit = r.consumers.byBasicUsername(pair[0]);
    if (hit === null) return failOrAnonymous(r, c.anonymous, b.failure);
    const given = Buffer.from(hashBasicPassword(pair[1], hit.consumer.id));
    if (!timingSafeEqual(given, Buffer.from(hit.passwordHash)))
      return failOrAnonymous(r, c.anonymous, b.failure);
    if (c.hide_credentials) r.setRequestHeader('authorization', null);
    setConsumer(r, hit.consumer, hit.credential);
    return null;
  },
};
