/**
 * The key a hashing algorithm balances on, read from the request as Kong's `hash_on` and
 * `hash_fallback` define it. For `cookie`, a request without the cookie gets a fresh random value
 * as its key, and the response sets the cookie so the client's next requests hash alike.
 */
import { randomUUID } from 'node:crypto';
import type { HashSource, UpstreamSpec } from '../config/types.ts';

export interface HashFacts {
  readonly clientIp: string;
  /** The request's fields: a value by lower-case name, repeats joined. */
  readonly headers: { get(name: string): string | undefined };
  /** The normalized request path, without the query. */
  readonly path: string;
  /** The query string with its leading `?`, or ''. */
  readonly query: string;
  /** The route's regex path match (for `uri_capture`), or null. */
  readonly captures: RegExpExecArray | null;
  /** The authenticated consumer's id, or null (no authentication plugin yet). */
  readonly consumer: string | null;
}

export interface HashKey {
  readonly key: string | null;
  /** A `Set-Cookie` value to add to the response, or null. */
  readonly setCookie: string | null;
}

export function readCookie(header: string | undefined, name: string): string | null {
  if (header === undefined) return null;
  let i = 0;
  while (i < header.length) {
    let end = header.indexOf(';', i);
    if (end < 0) end = header.length;
    const eq = header.indexOf('=', i);
    if (eq > 0 && eq < end && header.slice(i, eq).trim() === name) {
      const v = header.slice(eq + 1, end).trim();
      return v === '' ? null : v;
    }
    i = end + 1;
  }
  return null;
}

function read(src: HashSource, f: HashFacts): string | null {
  switch (src.kind) {
    case 'ip':
      return f.clientIp || null;
    case 'path':
      return f.path;
    case 'consumer':
      return f.consumer;
    case 'header':
      return f.headers.get(src.name) ?? null;
    case 'query_arg':
      return f.query === '' ? null : new URLSearchParams(f.query.slice(1)).get(src.name);
    case 'cookie':
      return readCookie(f.headers.get('cookie'), src.name);
    case 'uri_capture': {
      const m = f.captures;
      if (m === null) return null;
      const v = /^\d+$/.test(src.name) ? m[Number(src.name)] : m.groups?.[src.name];
      return v === undefined || v === '' ? null : v;
    }
    default:
      return null;
  }
}

const NO_KEY: HashKey = Object.freeze({ key: null, setCookie: null });

export function hashKeyOf(u: UpstreamSpec, f: HashFacts): HashKey {
  const on = u.hashOn;
  if (on.kind === 'none') return NO_KEY;
  const key = read(on, f);
  if (key !== null) return { key, setCookie: null };
  if (on.kind === 'cookie') {
    const value = randomUUID();
    return { key: value, setCookie: `${on.name}=${value}; Path=${u.hashCookiePath}; HttpOnly; SameSite=Lax` };
  }
  const fb = u.hashFallback;
  if (fb.kind === 'none') return NO_KEY;
  const k2 = read(fb, f);
  return k2 === null ? NO_KEY : { key: k2, setCookie: null };
}
