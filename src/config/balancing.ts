/**
 * The balancing part of an upstream: algorithm, its options, and the hash key sources, checked
 * together (Kong's rules for `hash_on`/`hash_fallback`, and each algorithm's own ranges).
 */
import { type BalancerSettings, canonicalAlgorithm, factoryFor, isHashing } from '../balancers/configure.ts';
import { DEFAULT_OVERPROVISIONING_FACTOR } from '../balancers/priority.ts';
import { DEFAULT_LOAD_HEADER, DEFAULT_RESOURCE } from '../balancers/resource.ts';
import type { ConfigIssue, ParsedSource, PathPart } from './load.ts';
import type { HashSource, UpstreamSpec } from './types.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;

export type Balancing = Pick<
  UpstreamSpec,
  | 'algorithm'
  | 'balancer'
  | 'hashOn'
  | 'hashFallback'
  | 'hashCookiePath'
  | 'slowStart'
  | 'overprovisioningFactor'
>;

const NONE: HashSource = { kind: 'none', name: '' };

/** What an upstream without balancing settings gets (and every implicit one-target upstream). */
export const DEFAULT_BALANCING: Balancing = {
  algorithm: 'round-robin',
  balancer: {
    slots: 10000,
    hashBalanceFactor: 0,
    choiceCount: 2,
    activeRequestBias: 1,
    decayWindowMs: 10000,
    maglevTableSize: 65537,
    loadHeader: DEFAULT_LOAD_HEADER,
    loadFloor: DEFAULT_RESOURCE.floor,
    loadDecayMs: DEFAULT_RESOURCE.decayMs,
  },
  hashOn: NONE,
  hashFallback: NONE,
  hashCookiePath: '/',
  slowStart: { windowMs: 0, aggression: 1, minFraction: 0.1 },
  overprovisioningFactor: DEFAULT_OVERPROVISIONING_FACTOR,
};

/** The option field named in a RangeError from an algorithm's option check. */
const FIELD_OF: Record<string, string> = {
  choice_count: 'choice_count',
  active_request_bias: 'active_request_bias',
  decay_window: 'decay_window',
  hash_balance_factor: 'hash_balance_factor',
  table_size: 'maglev_table_size',
  slots: 'slots',
};

function source(
  src: ParsedSource,
  u: Raw,
  at: PathPart[],
  which: 'hash_on' | 'hash_fallback',
  issues: ConfigIssue[],
): HashSource {
  const kind = (u[which] ?? 'none') as HashSource['kind'];
  const field =
    kind === 'header'
      ? `${which}_header`
      : kind === 'query_arg'
        ? `${which}_query_arg`
        : kind === 'cookie'
          ? 'hash_on_cookie'
          : kind === 'uri_capture'
            ? `${which}_uri_capture`
            : null;
  if (field === null) return kind === 'none' ? NONE : { kind, name: '' };
  const name = u[field];
  if (typeof name !== 'string' || name === '') {
    issues.push(src.issue(at, `${which}: ${kind} needs "${field}"`, which));
    return NONE;
  }
  return { kind, name: kind === 'header' ? name.toLowerCase() : name };
}

export function normalizeBalancing(
  src: ParsedSource,
  u: Raw,
  at: PathPart[],
  issues: ConfigIssue[],
): Balancing {
  const algorithm = canonicalAlgorithm(u.algorithm ?? 'round-robin');
  const d = DEFAULT_BALANCING.balancer;
  const balancer: BalancerSettings = {
    slots: u.slots ?? d.slots,
    hashBalanceFactor: u.hash_balance_factor ?? d.hashBalanceFactor,
    choiceCount: u.choice_count ?? d.choiceCount,
    activeRequestBias: u.active_request_bias ?? d.activeRequestBias,
    decayWindowMs: u.decay_window ?? d.decayWindowMs,
    maglevTableSize: u.maglev_table_size ?? d.maglevTableSize,
    loadHeader: (u.load_header ?? d.loadHeader).toLowerCase(),
    loadFloor: u.load_floor ?? d.loadFloor,
    loadDecayMs: u.load_decay ?? d.loadDecayMs,
  };
  try {
    factoryFor(algorithm, balancer);
  } catch (err) {
    const message = (err as Error).message;
    const named = /^([a-z_]+):\s*(.*)$/.exec(message);
    const field = named ? (FIELD_OF[named[1]!] ?? named[1]!) : 'algorithm';
    issues.push(src.issue([...at, field], named ? named[2]! : message));
  }
  const hashOn = source(src, u, at, 'hash_on', issues);
  const hashFallback = source(src, u, at, 'hash_fallback', issues);
  if (hashFallback.kind !== 'none') {
    if (hashOn.kind === 'none' || hashOn.kind === 'cookie')
      issues.push(
        src.issue([...at, 'hash_fallback'], `expected "none" when hash_on is "${hashOn.kind}" (as Kong)`),
      );
    else if (hashFallback.kind === hashOn.kind && hashFallback.name === hashOn.name)
      issues.push(src.issue([...at, 'hash_fallback'], 'expected a different source than hash_on'));
  }
  if (hashOn.kind !== 'none' && !isHashing(algorithm))
    issues.push(
      src.issue(
        [...at, 'hash_on'],
        `hash_on is read only by the hashing algorithms (ring-hash, consistent-hashing, maglev, rendezvous), not by ${JSON.stringify(u.algorithm ?? 'round-robin')}`,
      ),
    );
  if (algorithm !== 'resource')
    for (const f of ['load_header', 'load_floor', 'load_decay'])
      if (u[f] !== undefined)
        issues.push(
          src.issue([...at, f], `read only by the resource algorithm, not by ${JSON.stringify(algorithm)}`),
        );
  const ds = DEFAULT_BALANCING.slowStart;
  const slowStart = {
    windowMs: Math.round((u.slow_start ?? 0) * 1000),
    aggression: u.slow_start_aggression ?? ds.aggression,
    minFraction: (u.slow_start_min_weight_percent ?? ds.minFraction * 100) / 100,
  };
  return {
    algorithm,
    balancer,
    hashOn,
    hashFallback,
    hashCookiePath: u.hash_on_cookie_path ?? '/',
    slowStart,
    overprovisioningFactor: u.overprovisioning_factor ?? DEFAULT_OVERPROVISIONING_FACTOR,
  };
}
