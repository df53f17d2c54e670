/**
 * The balancing part of an upstream: algorithm, its options, and the hash key sources, checked
 * together (Kong's rules for `hash_on`/`hash_fallback`, and each algorithm's own ranges). The
 * `algorithm` field and the option fields of the file schema come from the algorithms'
 * declarations (src/balancers/declaration.ts), as plugin configs come from the plugins.
 */
import {
  algorithmNames,
  BALANCER_OPTIONS,
  canonicalAlgorithm,
  DEFAULT_BALANCER_SETTINGS,
  factoryFor,
  hashingNames,
  isHashing,
  readBalancerSettings,
} from '../balancers/configure.ts';
import { DEFAULT_OVERPROVISIONING_FACTOR } from '../balancers/priority.ts';
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
  balancer: DEFAULT_BALANCER_SETTINGS,
  hashOn: NONE,
  hashFallback: NONE,
  hashCookiePath: '/',
  slowStart: { windowMs: 0, aggression: 1, minFraction: 0.1 },
  overprovisioningFactor: DEFAULT_OVERPROVISIONING_FACTOR,
};

/** `a`, `a and b`, `a, b and c`. */
function listOf(names: readonly string[]): string {
  return names.length < 2 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/**
 * The upstream schema's `algorithm` field and one field per declared option, whose description
 * names the algorithms reading it.
 */
export function balancingSchemaFields(): Record<string, Record<string, unknown>> {
  const fields: Record<string, Record<string, unknown>> = {
    algorithm: {
      type: 'string',
      enum: algorithmNames(),
      default: DEFAULT_BALANCING.algorithm,
      description:
        "The balancing algorithm (see docs/balancing.md). `consistent-hashing` is Kong's name for `ring-hash`.",
    },
  };
  for (const { option, readers } of BALANCER_OPTIONS)
    fields[option.field] = {
      ...option.schema,
      description: `${readers.map((id) => `\`${id}\``).join(', ')}: ${String(option.schema.description)}`,
    };
  return fields;
}

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
  const balancer = readBalancerSettings(u);
  try {
    factoryFor(algorithm, balancer);
  } catch (err) {
    const message = (err as Error).message;
    const named = /^([a-z_]+):\s*(.*)$/.exec(message);
    issues.push(src.issue([...at, named ? named[1]! : 'algorithm'], named ? named[2]! : message));
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
        `hash_on is read only by the hashing algorithms (${hashingNames().join(', ')}), not by ${JSON.stringify(u.algorithm ?? 'round-robin')}`,
      ),
    );
  for (const { option, readers } of BALANCER_OPTIONS)
    if (option.exclusive && u[option.field] !== undefined && !readers.includes(algorithm))
      issues.push(
        src.issue(
          [...at, option.field],
          `read only by the ${listOf(readers)} algorithm${readers.length > 1 ? 's' : ''}, not by ${JSON.stringify(algorithm)}`,
        ),
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
