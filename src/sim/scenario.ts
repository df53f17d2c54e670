/**
 * A simulation scenario: the fleet, the workload and what happens during the run, read from a small
 * YAML or JSON file (docs/simulate.md) and checked once into a frozen object, every error naming its
 * file, line and path as the declarative file's do. The `upstream:` block takes the balancing fields
 * of a declarative upstream, with the same names, defaults and range checks (the algorithms'
 * declarations and factoryFor), so a scenario can be pasted from a real configuration.
 */
import {
  BALANCER_OPTIONS,
  type BalancerSettings,
  canonicalAlgorithm,
  factoryFor,
} from '../balancers/configure.ts';
import type { OptionValue } from '../balancers/declaration.ts';
import { BUILTIN_BALANCERS } from '../balancers/index.ts';
import { DEFAULT_BALANCING } from '../config/balancing.ts';
import { ConfigError, type ConfigIssue, type ParsedSource, type PathPart } from '../config/load.ts';
import type { RampSettings } from '../upstreams/slow-start.ts';
import type { KeySpec, LatencyDist } from './variates.ts';

export interface SimTargetSpec {
  readonly name: string;
  readonly weight: number;
  /** Requests served at once; more wait in the target's queue. Infinity: no limit. */
  readonly capacity: number;
  readonly latency: LatencyDist;
  readonly priority: number;
  /** The target's zone ('' none): with the scenario's `zone`, zone-aware balancing applies. */
  readonly zone: string;
}

export type ScenarioEvent =
  | { readonly kind: 'slow'; readonly atMs: number; readonly target: string; readonly factor: number }
  | { readonly kind: 'die'; readonly atMs: number; readonly target: string }
  | { readonly kind: 'recover'; readonly atMs: number; readonly target: string }
  | { readonly kind: 'join'; readonly atMs: number; readonly spec: SimTargetSpec };

export interface Scenario {
  readonly seed: number;
  readonly durationMs: number;
  /** Poisson arrivals per second. */
  readonly rate: number;
  /** Canonical algorithm ids, in the order given. */
  readonly algorithms: readonly string[];
  readonly targets: readonly SimTargetSpec[];
  readonly events: readonly ScenarioEvent[];
  readonly keys: KeySpec;
  readonly balancer: BalancerSettings;
  /** The balancing node's zone ('' none), as the declarative file's top-level `zone`. */
  readonly zone: string;
  readonly slowStart: RampSettings;
  readonly overprovisioningFactor: number;
  /** Tries after the first on a transport failure (the service's `retries`). */
  readonly retries: number;
  /** How long a dead target takes to fail a request (a refused connection), ms. */
  readonly failMs: number;
  /** Passive health: consecutive transport failures that eject a target; 0 is off (Kong's default). */
  readonly tcpFailures: number;
  /** Chart resolution: the run is cut into this many time buckets. */
  readonly buckets: number;
}

/** Every built-in algorithm, by canonical id (aliases left out). */
export function allAlgorithms(): string[] {
  return [...new Set([...BUILTIN_BALANCERS.keys()].map(canonicalAlgorithm))];
}

/** What a scenario file may leave out, and what `fulcrum simulate` runs without a file. */
export const DEFAULT_SCENARIO_TEXT = `# 4 equal targets, one of which turns 10x slower a third of the way in
seed: 1
duration: 30
rate: 1000
targets:
  - name: t
    count: 4
    capacity: 32
    latency: { distribution: lognormal, median: 20, p99: 80 }
events:
  - { at: 10, kind: slow, target: t-4, factor: 10 }
`;

// biome-ignore lint/suspicious/noExplicitAny: raw input, checked field by field below
type Raw = Record<string, any>;

class Checker {
  readonly issues: ConfigIssue[] = [];
  private readonly src: ParsedSource;
  constructor(src: ParsedSource) {
    this.src = src;
  }
  fail(at: PathPart[], message: string): void {
    this.issues.push(this.src.issue(at, message));
  }
  string(o: Raw, key: string, at: PathPart[], dflt: string, pattern = /^/): string {
    const v = o[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || !pattern.test(v)) {
      this.fail([...at, key], `expected a string matching ${pattern.source}`);
      return dflt;
    }
    return v;
  }
  number(o: Raw, key: string, at: PathPart[], dflt: number, min: number, max: number, int = false): number {
    const v = o[key];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (int && !Number.isInteger(v))) {
      this.fail([...at, key], `expected ${int ? 'an integer' : 'a number'} from ${min} to ${max}`);
      return dflt;
    }
    return v;
  }
  object(v: unknown, at: PathPart[]): Raw {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Raw;
    this.fail(at, 'expected an object');
    return {};
  }
  array(v: unknown, at: PathPart[]): unknown[] {
    if (v === undefined) return [];
    if (Array.isArray(v)) return v;
    this.fail(at, 'expected a list');
    return [];
  }
  only(o: Raw, at: PathPart[], keys: readonly string[]): void {
    for (const k of Object.keys(o))
      if (!keys.includes(k)) this.fail([...at, k], `unknown field (expected one of ${keys.join(', ')})`);
  }
}

const MAX_MS = 3_600_000;

function latencyOf(c: Checker, v: unknown, at: PathPart[]): LatencyDist {
  const o = c.object(v ?? { distribution: 'exponential', mean: 20 }, at);
  const kind = o.distribution ?? 'lognormal';
  if (kind === 'constant') {
    c.only(o, at, ['distribution', 'ms']);
    return { kind, ms: c.number(o, 'ms', at, 20, 0, MAX_MS) };
  }
  if (kind === 'exponential') {
    c.only(o, at, ['distribution', 'mean']);
    return { kind, meanMs: c.number(o, 'mean', at, 20, 0.001, MAX_MS) };
  }
  if (kind === 'lognormal') {
    c.only(o, at, ['distribution', 'median', 'p99']);
    const medianMs = c.number(o, 'median', at, 20, 0.001, MAX_MS);
    const p99Ms = c.number(o, 'p99', at, medianMs * 4, 0.001, MAX_MS);
    if (p99Ms <= medianMs) c.fail([...at, 'p99'], 'expected a p99 above the median');
    return { kind, medianMs, p99Ms: Math.max(p99Ms, medianMs * 1.0001) };
  }
  c.fail([...at, 'distribution'], 'expected one of constant, exponential, lognormal');
  return { kind: 'constant', ms: 20 };
}

const TARGET_FIELDS = ['name', 'count', 'weight', 'capacity', 'latency', 'priority', 'zone'];

function targetOf(c: Checker, o: Raw, at: PathPart[], name: string): SimTargetSpec {
  const capacity = c.number(o, 'capacity', at, 0, 0, 1_000_000, true);
  return {
    name,
    weight: c.number(o, 'weight', at, 100, 0, 65535, true),
    capacity: capacity === 0 ? Number.POSITIVE_INFINITY : capacity,
    latency: latencyOf(c, o.latency, [...at, 'latency']),
    priority: c.number(o, 'priority', at, 0, 0, 255, true),
    zone: c.string(o, 'zone', at, ''),
  };
}

function nameOf(c: Checker, o: Raw, at: PathPart[], dflt: string): string {
  const n = o.name ?? o.target ?? dflt;
  if (typeof n !== 'string' || n === '') {
    c.fail(at, 'expected a name');
    return dflt;
  }
  return n;
}

const UPSTREAM_FIELDS = [
  ...BALANCER_OPTIONS.map((o) => o.option.field),
  'slow_start',
  'slow_start_aggression',
  'slow_start_min_weight_percent',
  'overprovisioning_factor',
  'healthchecks',
];

/** A scenario from a parsed file (parseSource); throws a ConfigError listing every problem. */
export function scenarioFrom(src: ParsedSource): Scenario {
  const c = new Checker(src);
  const root = c.object(src.value ?? {}, []);
  c.only(
    root,
    [],
    [
      'seed',
      'duration',
      'rate',
      'algorithms',
      'targets',
      'events',
      'keys',
      'upstream',
      'zone',
      'retries',
      'fail_ms',
      'buckets',
    ],
  );
  const durationMs = c.number(root, 'duration', [], 30, 0.01, 86_400) * 1000;

  const known = new Set(allAlgorithms());
  const algorithms: string[] = [];
  const rawAlgos = root.algorithms === undefined ? allAlgorithms() : c.array(root.algorithms, ['algorithms']);
  rawAlgos.forEach((a, i) => {
    const id = typeof a === 'string' ? canonicalAlgorithm(a) : '';
    if (!known.has(id)) c.fail(['algorithms', i], `expected one of ${[...known].join(', ')}`);
    else if (!algorithms.includes(id)) algorithms.push(id);
  });

  const targets: SimTargetSpec[] = [];
  c.array(root.targets, ['targets']).forEach((v, i) => {
    const at = ['targets', i];
    const o = c.object(v, at);
    c.only(o, at, TARGET_FIELDS);
    const base = nameOf(c, o, at, `t${i + 1}`);
    const count = c.number(o, 'count', at, 1, 1, 10_000, true);
    for (let k = 1; k <= count; k++) targets.push(targetOf(c, o, at, count === 1 ? base : `${base}-${k}`));
  });
  if (targets.length === 0) c.fail(['targets'], 'expected at least one target');
  const names = new Set<string>();
  for (const t of targets) {
    if (names.has(t.name)) c.fail(['targets'], `target ${JSON.stringify(t.name)} appears twice`);
    names.add(t.name);
  }

  const events: ScenarioEvent[] = [];
  c.array(root.events, ['events']).forEach((v, i) => {
    const at = ['events', i];
    const o = c.object(v, at);
    const atMs = c.number(o, 'at', at, 0, 0, durationMs / 1000) * 1000;
    if (o.at === undefined) c.fail(at, 'expected "at" (seconds into the run)');
    const kind = o.kind;
    if (kind === 'join') {
      c.only(o, at, ['at', 'kind', ...TARGET_FIELDS.filter((f) => f !== 'count')]);
      const name = nameOf(c, o, at, `joined-${i + 1}`);
      if (names.has(name)) c.fail([...at, 'name'], `target ${JSON.stringify(name)} already exists`);
      names.add(name);
      events.push({ kind, atMs, spec: targetOf(c, o, at, name) });
      return;
    }
    if (kind !== 'slow' && kind !== 'die' && kind !== 'recover') {
      c.fail([...at, 'kind'], 'expected one of slow, die, recover, join');
      return;
    }
    c.only(o, at, kind === 'slow' ? ['at', 'kind', 'target', 'factor'] : ['at', 'kind', 'target']);
    const target = o.target;
    if (typeof target !== 'string' || !names.has(target)) {
      c.fail([...at, 'target'], `expected the name of a target defined before (${[...names].join(', ')})`);
      return;
    }
    if (kind === 'slow')
      events.push({ kind, atMs, target, factor: c.number(o, 'factor', at, 10, 0.001, 10_000) });
    else events.push({ kind, atMs, target });
  });
  events.sort((a, b) => a.atMs - b.atMs);

  const k = c.object(root.keys ?? {}, ['keys']);
  c.only(k, ['keys'], ['distribution', 'count', 'exponent']);
  const distribution = k.distribution ?? 'uniform';
  if (distribution !== 'uniform' && distribution !== 'zipf')
    c.fail(['keys', 'distribution'], 'expected uniform or zipf');
  const keys: KeySpec = {
    distribution: distribution === 'zipf' ? 'zipf' : 'uniform',
    count: c.number(k, 'count', ['keys'], 10_000, 1, 10_000_000, true),
    exponent: c.number(k, 'exponent', ['keys'], 1, 0, 10),
  };

  const u = c.object(root.upstream ?? {}, ['upstream']);
  c.only(u, ['upstream'], UPSTREAM_FIELDS);
  // Each declared option, checked against its schema. Simulated targets send no load reports:
  // `resource` runs on its configured weights.
  const settings: Record<string, OptionValue> = {};
  for (const { key, option } of BALANCER_OPTIONS) {
    const sc = option.schema as { type: string; minimum?: number; maximum?: number; pattern?: string };
    const v =
      typeof option.default === 'string'
        ? c.string(u, option.field, ['upstream'], option.default, new RegExp(sc.pattern ?? '^'))
        : c.number(
            u,
            option.field,
            ['upstream'],
            option.default,
            sc.minimum!,
            sc.maximum!,
            sc.type === 'integer',
          );
    settings[key] = option.normalize ? option.normalize(v) : v;
  }
  const balancer = settings as BalancerSettings;
  // The algorithms' own checks (a prime Maglev table, a balance factor above 1), as the config layer runs them.
  for (const a of algorithms)
    try {
      factoryFor(a, balancer);
    } catch (err) {
      c.fail(['upstream'], (err as Error).message);
    }
  const ds = DEFAULT_BALANCING.slowStart;
  const slowStart: RampSettings = {
    windowMs: c.number(u, 'slow_start', ['upstream'], 0, 0, 3600) * 1000,
    aggression: c.number(u, 'slow_start_aggression', ['upstream'], ds.aggression, 0.1, 100),
    minFraction:
      c.number(u, 'slow_start_min_weight_percent', ['upstream'], ds.minFraction * 100, 1, 100) / 100,
  };
  // Passive health as Kong spells it: healthchecks.passive.unhealthy.tcp_failures.
  const hcAt = ['upstream', 'healthchecks', 'passive', 'unhealthy'];
  const unhealthy = c.object(u.healthchecks?.passive?.unhealthy ?? {}, hcAt);
  const tcpFailures = c.number(unhealthy, 'tcp_failures', hcAt, 0, 0, 255, true);

  const scenario: Scenario = {
    seed: c.number(root, 'seed', [], 1, 0, 4_294_967_295, true),
    durationMs,
    rate: c.number(root, 'rate', [], 1000, 0.001, 10_000_000),
    algorithms,
    targets,
    events,
    keys,
    balancer,
    zone: c.string(root, 'zone', [], ''),
    slowStart,
    overprovisioningFactor: c.number(
      u,
      'overprovisioning_factor',
      ['upstream'],
      DEFAULT_BALANCING.overprovisioningFactor,
      1,
      100,
    ),
    retries: c.number(root, 'retries', [], 1, 0, 10, true),
    failMs: c.number(root, 'fail_ms', [], 1, 0, MAX_MS),
    tcpFailures,
    buckets: c.number(root, 'buckets', [], 120, 1, 2000, true),
  };
  if (c.issues.length > 0) throw new ConfigError(c.issues);
  return Object.freeze(scenario);
}
