/**
 * The in-memory store behind proxy-cache: entries by key, least recently used evicted first once
 * the total body bytes pass the limit. A key's variants (the response's `Vary`) are told apart by
 * the request header values Vary names; the names are remembered per primary key. An entry is
 * also found by the digest of its key, the `X-Cache-Key` clients see (the admin API's
 * `/proxy-cache` endpoints look up and purge by it).
 */
import { createHash } from 'node:crypto';
import type { CachedResponse } from './rate-limit-policy.ts';

export type { CachedResponse };

/** The `X-Cache-Key` of a cache key: 32 hex digits of its SHA-256. */
export function cacheKeyDigest(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 32);
}

export class ResponseCache {
  private readonly entries = new Map<string, CachedResponse>();
  private readonly vary = new Map<string, readonly string[]>();
  private bytes = 0;
  readonly maxBytes: number;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get size(): number {
    return this.entries.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  /** Drop every entry (`DELETE /proxy-cache`). */
  purge(): void {
    this.entries.clear();
    this.vary.clear();
    this.bytes = 0;
  }

  private keyOfDigest(digest: string): string | null {
    for (const k of this.entries.keys()) if (cacheKeyDigest(k) === digest) return k;
    return null;
  }

  /** The entry whose key has this digest (an admin lookup: a scan), or null. */
  byDigest(digest: string): CachedResponse | null {
    const k = this.keyOfDigest(digest);
    return k === null ? null : this.entries.get(k)!;
  }

  /** Drop the entry whose key has this digest; whether there was one. */
  deleteByDigest(digest: string): boolean {
    const k = this.keyOfDigest(digest);
    if (k === null) return false;
    this.bytes -= this.entries.get(k)!.body.length;
    this.entries.delete(k);
    return true;
  }

  /** The request header names the response for this primary key varies on. */
  varyNames(primary: string): readonly string[] {
    return this.vary.get(primary) ?? [];
  }

  /** A fresh entry (moved to most recently used), or null; a stale one is dropped. */
  get(key: string, nowMs: number): CachedResponse | null {
    const e = this.entries.get(key);
    if (e === undefined) return null;
    this.entries.delete(key);
    if (nowMs - e.storedMs >= e.ttlMs) {
      this.bytes -= e.body.length;
      return null;
    }
    this.entries.set(key, e);
    return e;
  }

  set(primary: string, varyNames: readonly string[], key: string, e: CachedResponse): void {
    const old = this.entries.get(key);
    if (old !== undefined) {
      this.entries.delete(key);
      this.bytes -= old.body.length;
    }
    if (e.body.length > this.maxBytes) return;
    this.vary.set(primary, varyNames);
    this.entries.set(key, e);
    this.bytes += e.body.length;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= v.body.length;
    }
    // The vary index follows the entries loosely; keep it from outgrowing them.
    if (this.vary.size > 2 * this.entries.size + 1024) this.vary.clear();
  }
}
