/**
 * Keys for the jwt plugin from a JSON Web Key Set URL (RFC 7517), cached. Kong's open-source jwt
 * has no JWKS; the behaviour follows Envoy's jwt_authn remote_jwks and common OIDC gateways:
 *
 * - fetched on first use (and warmed when a generation goes into service), then fresh for `ttl`;
 * - a token whose `kid` is unknown triggers a refetch (key rotation), at most once per
 *   `minRefresh`, so unknown kids cannot make the proxy hammer the issuer;
 * - past `ttl` the cached keys are still used while a refresh runs in the background
 *   (stale-while-revalidate), and, if the issuer is down, until `ttl + maxStale` (stale-if-error);
 *   then they are dropped and tokens are refused until a fetch succeeds;
 * - a fetch has a timeout and a size cap; concurrent requests share one fetch.
 *
 * Time comes from the injected clock (monotonic), so tests drive expiry by hand.
 */
import { Buffer } from 'node:buffer';
import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { type JwtAlgorithm, type JwtKey, jwtKey, keyMismatch } from './jwt-verify.ts';
import type { Wait } from './types.ts';

export interface JwksSettings {
  readonly ttlMs: number;
  readonly maxStaleMs: number;
  readonly timeoutMs: number;
  readonly minRefreshMs: number;
}

/** A JWKS document larger than this is refused (a key set is a few KiB). */
const MAX_JWKS_BYTES = 1048576;
const EMPTY = Buffer.alloc(0);

export class JwksCache {
  private readonly uri: string;
  private readonly algorithm: JwtAlgorithm;
  private readonly clock: Clock;
  settings: JwksSettings;
  /** Verifiers by kid ('' for a key without one); null until a fetch succeeded, or once expired. */
  private keys: Map<string, JwtKey> | null = null;
  private fetchedAt = 0;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | null = null;
  /** Fetches made and failed (for tests and the logs). */
  fetches = 0;
  failures = 0;

  constructor(uri: string, algorithm: JwtAlgorithm, clock: Clock, settings: JwksSettings) {
    this.uri = uri;
    this.algorithm = algorithm;
    this.clock = clock;
    this.settings = settings;
  }

  /** Fetch now unless keys are held or a fetch ran recently (a generation went into service). */
  warm(): void {
    if (this.keys === null && this.inflight === null && this.mayFetch(this.clock.monoMs())) this.refresh();
  }

  /**
   * The verifier for a token's kid (null kid: the set's only key), null when there is none, or a
   * Wait while a fetch that may bring it runs.
   */
  lookup(kid: string | null): JwtKey | null | Wait {
    const now = this.clock.monoMs();
    const s = this.settings;
    if (this.keys !== null && now - this.fetchedAt > s.ttlMs + s.maxStaleMs) this.keys = null;
    const keys = this.keys;
    const hit = keys === null ? null : find(keys, kid);
    if (hit !== null) {
      // Stale: answer from the cache, refresh behind it.
      if (now - this.fetchedAt > s.ttlMs && this.inflight === null && this.mayFetch(now)) this.refresh();
      return hit;
    }
    if (this.inflight !== null) return { wait: this.inflight };
    if (!this.mayFetch(now)) return null;
    return { wait: this.refresh() };
  }

  private mayFetch(now: number): boolean {
    return now - this.lastAttempt >= this.settings.minRefreshMs;
  }

  private refresh(): Promise<void> {
    this.lastAttempt = this.clock.monoMs();
    this.fetches++;
    const p = this.fetch().then(
      (keys) => {
        this.keys = keys;
        this.fetchedAt = this.clock.monoMs();
      },
      () => {
        this.failures++;
      },
    );
    const done = p.finally(() => {
      this.inflight = null;
    });
    this.inflight = done;
    return done;
  }

  private async fetch(): Promise<Map<string, JwtKey>> {
    const ms = this.settings.timeoutMs;
    // undici is loaded on the first fetch only: it holds about 16 MB that a node without JWKS
    // URLs would carry for nothing.
    const { request } = await import('undici');
    const res = await request(this.uri, {
      headers: { accept: 'application/json' },
      headersTimeout: ms,
      bodyTimeout: ms,
      signal: AbortSignal.timeout(ms),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of res.body as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_JWKS_BYTES) {
        res.body.destroy();
        throw new Error('JWKS too large');
      }
      chunks.push(c);
    }
    if (res.statusCode !== 200) throw new Error(`JWKS answered ${res.statusCode}`);
    const doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { keys?: unknown };
    if (!Array.isArray(doc.keys)) throw new Error('JWKS has no "keys" list');
    return this.verifiers(doc.keys);
  }

  /** The keys usable with the credential's algorithm (others are skipped, as Envoy does). */
  private verifiers(list: unknown[]): Map<string, JwtKey> {
    const out = new Map<string, JwtKey>();
    for (const jwk of list.slice(0, 100)) {
      if (jwk === null || typeof jwk !== 'object') continue;
      const j = jwk as Record<string, unknown>;
      if (j.use !== undefined && j.use !== 'sig') continue;
      if (j.alg !== undefined && j.alg !== this.algorithm) continue;
      let key: KeyObject;
      try {
        key = createPublicKey({ key: j as never, format: 'jwk' });
      } catch {
        continue;
      }
      if (key.type !== 'public' || keyMismatch(this.algorithm, key) !== null) continue;
      const kid = typeof j.kid === 'string' ? j.kid : '';
      if (!out.has(kid)) out.set(kid, jwtKey(this.algorithm, EMPTY, key));
    }
    return out;
  }
}

function find(keys: Map<string, JwtKey>, kid: string | null): JwtKey | null {
  if (kid !== null) return keys.get(kid) ?? null;
  // No kid: only a set with a single key says which one.
  if (keys.size !== 1) return null;
  return keys.values().next().value ?? null;
}
