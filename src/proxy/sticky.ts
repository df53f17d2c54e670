/**
 * Sticky sessions on top of any algorithm (docs/balancing.md#sticky-sessions). Before the
 * upstream's picker, the request's pin is looked up: a signed cookie the proxy inserted (HAProxy
 * `cookie … insert`, Envoy's cookie-based stateful session) or the client address in a bounded
 * table (HAProxy `stick on src`). A pinned target that can take the request gets it; otherwise
 * (unhealthy, ejected, weight 0 i.e. draining, removed, or already tried by this request) the
 * algorithm picks again and the pin moves: a new cookie, or a new table entry.
 *
 * The cookie value is `<target id>.<expiry>.<mac>`: the target id is 12 base64url characters of
 * sha256(upstream/host:port), so no address leaks to clients; the expiry is in Unix seconds (0 for
 * none); the mac is HMAC-SHA256(secret, upstream|id|expiry) truncated to 128 bits, compared in
 * constant time. A forged, tampered, expired or foreign cookie is ignored, as if absent.
 *
 * Upstreams without `sticky` have no StickyRuntime: the forwarder pays one null check per pick.
 */
import { Buffer } from 'node:buffer';
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import process from 'node:process';
import { allowed } from '../balancers/common.ts';
import type { PickContext, Picker } from '../balancers/types.ts';
import type { StickySpec } from '../config/sticky.ts';
import type { Clock } from '../core/clock.ts';
import type { AffinityTable } from '../upstreams/affinity-table.ts';
import type { TargetState } from '../upstreams/target.ts';
import { readCookie } from './hash-key.ts';

/** What the sticky layer reads of a request and writes back: the forwarder (Exchange) is one. */
export interface StickyRequest extends PickContext {
  /** A `Set-Cookie` value to add to the response, or null. */
  stickyCookie: string | null;
}

const MAC_BYTES = 16;
let processSecret: Buffer | null = null;
/** The default key in force before the last adoption: cookies it signed are still honoured here. */
let previousSecret: Buffer | null = null;

/** Where a worker finds its primary's default key (hex), so that all workers of a node share it. */
export const STICKY_KEY_ENV = 'FULCRUM_STICKY_KEY';

/**
 * The key used when `secret` is unset: random, made once per node (and kept across reloads). A
 * worker takes its primary's (STICKY_KEY_ENV): a cookie one worker signed is good on the others.
 * The nodes of a cluster adopt one key kept in Redis (src/cluster/sticky-key.ts, adoptDefaultSecret).
 */
export function defaultSecret(): Buffer {
  if (processSecret === null) {
    const inherited = process.env[STICKY_KEY_ENV];
    processSecret =
      inherited !== undefined && /^[0-9a-f]{64}$/.test(inherited)
        ? Buffer.from(inherited, 'hex')
        : randomBytes(32);
  }
  return processSecret;
}

/**
 * Sign with `key` from now on when `secret` is unset (the cluster's shared key, or the primary's
 * handed to a worker). The key replaced is still accepted when checking a cookie (which is then
 * renewed with the new key), so cookies signed before the switch keep their pin here.
 */
export function adoptDefaultSecret(key: Buffer): boolean {
  const current = defaultSecret();
  if (current.equals(key)) return false;
  previousSecret = current;
  processSecret = Buffer.from(key);
  return true;
}

/** The stable, opaque id of a target in cookies: 12 base64url characters of sha256(key). */
export function stickyId(t: { readonly key: string }): string {
  return createHash('sha256').update(t.key).digest().subarray(0, 9).toString('base64url');
}

export class StickyRuntime {
  readonly spec: StickySpec;
  private readonly upstream: string;
  private readonly byId = new Map<string, TargetState>();
  private readonly idOf = new Map<TargetState, string>();
  /** The configured secret, or null: the node's default key at the time (defaultSecret()). */
  private readonly secret: Buffer | null;
  private readonly clock: Clock;
  private readonly table: AffinityTable | null;
  /** The Set-Cookie attributes after the value, fixed per generation. */
  private readonly attributes: string;

  constructor(
    upstream: string,
    spec: StickySpec,
    targets: readonly TargetState[],
    clock: Clock,
    table: AffinityTable | null,
  ) {
    this.upstream = upstream;
    this.spec = spec;
    this.clock = clock;
    this.table = table;
    this.secret = spec.secret === '' ? null : Buffer.from(spec.secret, 'utf8');
    for (const t of targets) {
      const id = stickyId(t);
      this.byId.set(id, t);
      this.idOf.set(t, id);
    }
    const c = spec.cookie;
    let a = `; Path=${c.path}`;
    if (c.domain !== '') a += `; Domain=${c.domain}`;
    if (c.ttlMs > 0) a += `; Max-Age=${Math.ceil(c.ttlMs / 1000)}`;
    if (c.secure) a += '; Secure';
    if (c.httpOnly) a += '; HttpOnly';
    a += `; SameSite=${c.sameSite}`;
    this.attributes = a;
  }

  /**
   * The target for this request: its pinned one when it may take it, else the picker's choice,
   * pinned for next time (`req.stickyCookie` set in cookie mode). `cookieHeader` is the request's
   * Cookie header.
   */
  pick(
    picker: Picker,
    req: StickyRequest,
    cookieHeader: string | undefined,
    exclude: readonly TargetState[] | null,
  ): TargetState | null {
    if (this.table !== null) return this.pickByAddress(picker, req, exclude, this.table);
    const nowMs = this.clock.nowMs();
    const value = readCookie(cookieHeader, this.spec.cookie.name);
    if (value !== null) {
      const pinned = this.verify(value, nowMs);
      if (pinned !== null && allowed(pinned.target, exclude)) {
        req.stickyCookie = pinned.renew ? this.cookieFor(pinned.target, nowMs) : null;
        return pinned.target;
      }
    }
    const t = picker.pick(req, exclude);
    req.stickyCookie = t === null ? null : this.cookieFor(t, nowMs);
    return t;
  }

  private pickByAddress(
    picker: Picker,
    req: StickyRequest,
    exclude: readonly TargetState[] | null,
    table: AffinityTable,
  ): TargetState | null {
    const nowMs = this.clock.monoMs();
    const ip = req.clientIp;
    const id = table.get(ip, nowMs);
    if (id !== null) {
      const t = this.byId.get(id);
      if (t !== undefined && allowed(t, exclude)) return t;
    }
    const t = picker.pick(req, exclude);
    if (t !== null) table.set(ip, this.idOf.get(t)!, nowMs);
    return t;
  }

  /** The Set-Cookie value pinning `t`, expiring ttl from nowMs. */
  cookieFor(t: TargetState, nowMs: number): string {
    const ttl = this.spec.cookie.ttlMs;
    const exp = ttl > 0 ? Math.ceil((nowMs + ttl) / 1000) : 0;
    const id = this.idOf.get(t)!;
    return `${this.spec.cookie.name}=${id}.${exp}.${this.mac(id, exp)}${this.attributes}`;
  }

  /**
   * The target a cookie value names, when its mac is right, it has not expired and the target is
   * still in the upstream; `renew` when more than half its lifetime has passed.
   */
  verify(value: string, nowMs: number): { target: TargetState; renew: boolean } | null {
    const a = value.indexOf('.');
    const b = value.indexOf('.', a + 1);
    if (a !== 12 || b < 0 || b - a > 12) return null;
    const id = value.slice(0, a);
    const expText = value.slice(a + 1, b);
    if (!/^\d+$/.test(expText)) return null;
    const exp = Number(expText);
    const given = Buffer.from(value.slice(b + 1), 'utf8');
    let old = false;
    if (!this.signed(given, id, exp, this.secret ?? defaultSecret())) {
      // Signed with this node's default key before it adopted the cluster's: good, and renewed.
      if (this.secret !== null || previousSecret === null || !this.signed(given, id, exp, previousSecret))
        return null;
      old = true;
    }
    const ttl = this.spec.cookie.ttlMs;
    if (exp !== 0 && exp * 1000 <= nowMs) return null;
    const target = this.byId.get(id);
    if (target === undefined) return null;
    // A cookie minted without expiry, on a node with a ttl now, is renewed to get one (and back).
    const renew = old || (ttl > 0 ? exp === 0 || exp * 1000 - nowMs < ttl / 2 : exp !== 0);
    return { target, renew };
  }

  private signed(given: Buffer, id: string, exp: number, key: Buffer): boolean {
    const want = Buffer.from(this.mac(id, exp, key), 'utf8');
    return given.length === want.length && timingSafeEqual(given, want);
  }

  private mac(id: string, exp: number, key: Buffer = this.secret ?? defaultSecret()): string {
    return createHmac('sha256', key)
      .update(`${this.upstream}|${id}|${exp}`)
      .digest()
      .subarray(0, MAC_BYTES)
      .toString('base64url');
  }
}
