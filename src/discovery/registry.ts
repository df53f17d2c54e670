/**
 * The registry (docs/discovery.md#registry), self-registration as Bamboo and Vamp do it: an
 * application or a sidecar writes `upstream, address:port` with `{weight, priority, zone, tags}`
 * under a TTL (an etcd lease, a Redis key's expiry) and keeps it alive with heartbeats; when it
 * stops, the registration runs out and its target leaves. This file holds what the two backends
 * (registry-etcd.ts, registry-redis.ts) share: reading one registration, and the set of
 * registrations a backend has seen, which tells discovery.ts when an upstream's list changed.
 */
import { DEFAULT_TARGET_PORT } from '../config/normalize.ts';
import { formatHostPort, parseHostPort } from '../core/net.ts';
import type { ListedTarget } from './file-sd.ts';

/** A value larger than this is refused (a registration is a few fields). */
export const REGISTRY_MAX_VALUE_BYTES = 16 * 1024;
/** Most registrations one backend keeps (the rest are refused and logged). */
export const REGISTRY_MAX_ENTRIES = 100_000;

/** etcd: the key of `target` (`address:port`) in `upstream` under `prefix` (which ends with `/`). */
export const etcdRegistryKey = (prefix: string, upstream: string, target: string): string =>
  `${prefix}upstreams/${upstream}/targets/${target}`;
/** Redis: every registration's key starts with this, under the cluster's `prefix`. */
export const redisRegistryBase = (prefix: string): string => `${prefix}:registry:`;
export const redisRegistryKey = (prefix: string, upstream: string, target: string): string =>
  `${redisRegistryBase(prefix)}${upstream}:${target}`;
/** Redis: the channel a registering party PUBLISHes the upstream's name on after a change. */
export const redisRegistryChannel = (prefix: string): string => `${prefix}:registry`;

export interface RegisteredTarget extends ListedTarget {
  readonly upstream: string;
  /** The key it is registered under. */
  readonly key: string;
}

/** A registration's fields from its key's parts and value, or why it is refused. */
export function parseRegistration(
  upstream: string,
  address: string,
  value: string,
  key: string,
  seenMs: number,
): RegisteredTarget | { error: string } {
  const hp = parseHostPort(address, DEFAULT_TARGET_PORT);
  if (hp === null)
    return { error: `expected address:port (hostname or IP, port 1-65535), got ${JSON.stringify(address)}` };
  if (value.length > REGISTRY_MAX_VALUE_BYTES)
    return { error: `value larger than ${REGISTRY_MAX_VALUE_BYTES} bytes` };
  let v: Record<string, unknown> = {};
  if (value.trim() !== '') {
    try {
      v = JSON.parse(value);
    } catch (err) {
      return { error: `value is not JSON: ${(err as Error).message}` };
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v))
      return { error: 'value: expected a JSON object {weight, priority, zone, tags}' };
  }
  const int = (name: string, max: number): number | null | { error: string } => {
    const x = v[name];
    if (x === undefined || x === null) return null;
    return Number.isInteger(x) && (x as number) >= 0 && (x as number) <= max
      ? (x as number)
      : { error: `${name}: expected an integer from 0 to ${max}, got ${JSON.stringify(x)}` };
  };
  const weight = int('weight', 65535);
  if (weight !== null && typeof weight === 'object') return weight;
  const priority = int('priority', 255);
  if (priority !== null && typeof priority === 'object') return priority;
  if (v.zone !== undefined && v.zone !== null && typeof v.zone !== 'string')
    return { error: `zone: expected a string, got ${JSON.stringify(v.zone)}` };
  let tags: string[] = [];
  if (typeof v.tags === 'string')
    tags = v.tags
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '');
  else if (Array.isArray(v.tags) && v.tags.every((t) => typeof t === 'string')) tags = v.tags as string[];
  else if (v.tags !== undefined && v.tags !== null)
    return { error: 'tags: expected a list of strings (or one comma-separated string)' };
  return {
    upstream,
    target: formatHostPort(hp.host, hp.port),
    host: hp.host,
    port: hp.port,
    weight,
    priority,
    zone: (v.zone as string | undefined) ?? null,
    tags,
    key,
    lastSeenMs: seenMs,
  };
}

type Entry = RegisteredTarget | { readonly upstream: string; readonly key: string; readonly error: string };

const fieldsKey = (t: RegisteredTarget) => JSON.stringify([t.target, t.weight, t.priority, t.zone, t.tags]);

/**
 * The registrations one backend has seen, by key. Changes are gathered by the backend and told
 * with `commit()`, which calls `onChange` only when some upstream's targets (not merely their
 * last_seen) differ.
 */
export class RegistrationSet {
  private readonly entries = new Map<string, Entry>();
  private readonly onChange: () => void;
  private readonly onRefused: (key: string, why: string) => void;
  private byUpstream = new Map<string, readonly RegisteredTarget[]>();
  private dirty = false;

  constructor(onChange: () => void, onRefused: (key: string, why: string) => void) {
    this.onChange = onChange;
    this.onRefused = onRefused;
  }

  /** A registration written or read (`value` as stored). */
  put(upstream: string, address: string, value: string, key: string, seenMs: number): void {
    const prev = this.entries.get(key);
    if (prev === undefined && this.entries.size >= REGISTRY_MAX_ENTRIES) {
      this.onRefused(key, `more than ${REGISTRY_MAX_ENTRIES} registrations`);
      return;
    }
    const r = parseRegistration(upstream, address, value, key, seenMs);
    if ('error' in r) {
      if (prev === undefined || !('error' in prev) || prev.error !== r.error) this.onRefused(key, r.error);
      this.entries.set(key, { upstream, key, error: r.error });
      this.dirty ||= prev !== undefined && !('error' in prev);
      return;
    }
    this.entries.set(key, r);
    this.dirty ||= prev === undefined || 'error' in prev || fieldsKey(prev) !== fieldsKey(r);
  }

  delete(key: string): void {
    const prev = this.entries.get(key);
    if (prev === undefined) return;
    this.entries.delete(key);
    this.dirty ||= !('error' in prev);
  }

  /** Every key, for a full re-read: what the read does not put again is removed by `retain`. */
  keys(): string[] {
    return [...this.entries.keys()];
  }

  /** Keep only `keys` (after a full read). */
  retain(keys: ReadonlySet<string>): void {
    for (const k of [...this.entries.keys()]) if (!keys.has(k)) this.delete(k);
  }

  /** Take what was put and deleted; tell discovery if some upstream's targets changed. */
  commit(): void {
    const by = new Map<string, RegisteredTarget[]>();
    const sorted = [...this.entries.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const e of sorted) {
      if ('error' in e) continue;
      const list = by.get(e.upstream) ?? [];
      if (!list.some((t) => t.target === e.target)) list.push(e);
      by.set(e.upstream, list);
    }
    this.byUpstream = by;
    if (!this.dirty) return;
    this.dirty = false;
    this.onChange();
  }

  /** The registered targets of `upstream`, in key order. */
  targets(upstream: string): readonly RegisteredTarget[] {
    return this.byUpstream.get(upstream) ?? [];
  }

  /** Registrations refused, by key (for status). */
  errors(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of this.entries.values()) if ('error' in e) out[e.key] = e.error;
    return out;
  }

  size(): number {
    return this.entries.size;
  }
}
