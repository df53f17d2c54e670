/**
 * The entity rules the file's normalizer and the admin API's document share, in one place: the
 * stable ids derived for objects given without one, a service's `url` shorthand, a target's
 * canonical `host:port`, and how a reference (a name, an id, `{id}`, `{name}`) is read. The
 * admin state and the snapshot derive the same id for the same object because both call these.
 */
import { createHash } from 'node:crypto';
import { formatHostPort, parseHostPort } from '../core/net.ts';
import type { ServiceSpec } from './types.ts';

/** Kong's default target port when a target omits it. */
export const DEFAULT_TARGET_PORT = 8000;

/** A stable UUID (v5-shaped) for an object of `kind` known by `key`. */
export function uuidFrom(kind: string, key: string): string {
  const h = createHash('sha1').update(`fulcrum:${kind}:${key}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

type Raw = Record<string, unknown>;

/** A service's name: its own, else its position (`service-3`), as routes and plugins refer to it. */
export function serviceName(s: Raw, index: number): string {
  return typeof s.name === 'string' ? s.name : `service-${index}`;
}

/** The id of an object given with or without one. */
export function idOf(kind: string, raw: Raw, key: string): string {
  return typeof raw.id === 'string' ? raw.id : uuidFrom(kind, key);
}

/** A consumer's id: its own, else derived from its username (or custom_id). */
export function consumerId(c: Raw): string {
  return idOf('consumer', c, String(c.username ?? c.custom_id));
}

/** A target as `host:port` with the default port filled in, or null when it is not one. */
export function canonicalTarget(target: unknown): { target: string; host: string; port: number } | null {
  const hp = parseHostPort(String(target), DEFAULT_TARGET_PORT);
  return hp === null ? null : { target: formatHostPort(hp.host, hp.port), host: hp.host, port: hp.port };
}

/** A target's id: its own, else derived from its upstream's name and canonical address. */
export function targetId(t: Raw, upstream: string): string {
  const c = canonicalTarget(t.target);
  return idOf('target', t, `${upstream}/${c?.target ?? String(t.target)}`);
}

/**
 * What a reference names: a string (a name or an id), or the value of `{id}`, `{name}` or
 * `{username}` (dumps write `service: {id: ...}`); null when it is none of those.
 */
export function refKey(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  const o = v as Raw;
  for (const k of ['id', 'name', 'username']) if (typeof o[k] === 'string') return o[k] as string;
  return null;
}

export interface ServiceUrl {
  protocol: ServiceSpec['protocol'];
  host: string;
  port: number;
  path: string;
}

/** Kong's `url` shorthand of a service: `protocol://host:port/path`, or why it is not one. */
export function parseServiceUrl(s: string): ServiceUrl | string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return `expected a URL like http://host:port/path, got ${JSON.stringify(s)}`;
  }
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  if (u.protocol === 'tcp:' || u.protocol === 'udp:') {
    if (u.username || u.password || u.search || u.hash || (u.pathname !== '' && u.pathname !== '/'))
      return 'expected tcp://host:port or udp://host:port, without a path';
    return {
      protocol: u.protocol === 'tcp:' ? 'tcp' : 'udp',
      host,
      port: u.port ? Number(u.port) : 80,
      path: '/',
    };
  }
  const protocol = u.protocol.slice(0, -1) as ServiceSpec['protocol'];
  if (protocol !== 'http' && protocol !== 'https' && protocol !== 'grpc' && protocol !== 'grpcs')
    return `expected an http, https, grpc, grpcs, tcp or udp URL, got ${JSON.stringify(protocol)}`;
  if (u.username || u.password || u.search || u.hash)
    return 'expected no credentials, query or fragment in the URL';
  return {
    protocol,
    host,
    port: u.port ? Number(u.port) : protocol === 'https' || protocol === 'grpcs' ? 443 : 80,
    path: u.pathname || '/',
  };
}
