/**
 * `resource`: resource-based balancing. Targets report their own load, and their share follows it,
 * as HAProxy's `agent-check` (an agent on each server answers a weight percentage that overrides
 * the configured weight) and, in spirit, Envoy's ORCA load reports. Fulcrum reads the report from a
 * response header (`X-Load: 0.73` by default, `load_header`) on every proxied response: no agent,
 * no extra connection.
 *
 * Effective weight = weight × max(`load_floor`, 1 − load), where load is the last report in [0, 1],
 * fading linearly to 0 over `load_decay` ms after it was received, so a target that stops
 * reporting (or stops receiving traffic because it reported itself full) returns to its base
 * weight instead of staying starved. The floor keeps a loaded target in rotation, so it keeps
 * receiving requests, and so keeps reporting. Slow start applies on top (the base is the
 * slow-start scaled weight).
 *
 * Selection is a weighted random draw over those weights (the loads move on every response, so no
 * table is worth building): O(n) per pick, with a scratch array and no allocation. Measurement is
 * separate: the forwarder calls TargetState.observeLoad() from the response path.
 */
import type { Clock } from '../core/clock.ts';
import type { Rng } from '../core/random.ts';
import type { TargetState } from '../upstreams/target.ts';
import { allowed, checkNumber } from './common.ts';
import { declareBalancer, headerOption, numberOption } from './declaration.ts';
import type { Balancer, BalancerFactory, PickContext, Picker } from './types.ts';

export interface ResourceOptions {
  /** `load_floor`: the least fraction of its weight a fully loaded target keeps. */
  readonly floor: number;
  /** `load_decay`: ms over which a report fades to no load. */
  readonly decayMs: number;
}

export const DEFAULT_RESOURCE: ResourceOptions = Object.freeze({ floor: 0.05, decayMs: 10_000 });
export const DEFAULT_LOAD_HEADER = 'x-load';

/** Fills in defaults and checks ranges; throws a RangeError naming the field. */
export function resourceOptions(o: Partial<ResourceOptions> = {}): ResourceOptions {
  return Object.freeze({
    floor: checkNumber('load_floor', o.floor ?? DEFAULT_RESOURCE.floor, 0.01, 1),
    decayMs: checkNumber('load_decay', o.decayMs ?? DEFAULT_RESOURCE.decayMs, 100, 3_600_000),
  });
}

/** A target's weight under its reported load at nowMs. */
export function loadedWeight(t: TargetState, nowMs: number, o: ResourceOptions): number {
  const w = t.effectiveWeight;
  const l = t.reportedLoad;
  if (w <= 0 || l <= 0) return w;
  const age = nowMs - t.loadStampMs;
  if (age >= o.decayMs) return w;
  const load = age <= 0 ? l : l * (1 - age / o.decayMs);
  return w * Math.max(o.floor, 1 - load);
}

class ResourcePicker implements Picker {
  private readonly targets: readonly TargetState[];
  private readonly rng: Rng;
  private readonly clock: Clock;
  private readonly o: ResourceOptions;
  private readonly weights: Float64Array;

  constructor(targets: readonly TargetState[], rng: Rng, clock: Clock, o: ResourceOptions) {
    this.targets = targets;
    this.rng = rng;
    this.clock = clock;
    this.o = o;
    this.weights = new Float64Array(targets.length);
  }

  pick(_ctx: PickContext, exclude: readonly TargetState[] | null): TargetState | null {
    const now = this.clock.monoMs();
    const i = this.draw(exclude, now);
    if (i >= 0 || exclude === null) return i >= 0 ? this.targets[i]! : null;
    const any = this.draw(null, now);
    return any >= 0 ? this.targets[any]! : null;
  }

  private draw(exclude: readonly TargetState[] | null, now: number): number {
    const ts = this.targets;
    const w = this.weights;
    let sum = 0;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      const x = allowed(t, exclude) ? loadedWeight(t, now, this.o) : 0;
      w[i] = x;
      sum += x;
    }
    if (sum <= 0) return -1;
    let r = this.rng.next() * sum;
    let last = -1;
    for (let i = 0; i < ts.length; i++) {
      if (w[i]! <= 0) continue;
      last = i;
      r -= w[i]!;
      if (r < 0) return i;
    }
    return last;
  }
}

/** A `resource` factory with these options (validated now). */
export function resourceFactory(options: Partial<ResourceOptions> = {}): BalancerFactory {
  const o = resourceOptions(options);
  return {
    id: 'resource',
    create: ({ rng, clock }): Balancer => ({
      update: (targets) => new ResourcePicker(targets, rng, clock, o),
    }),
  };
}

export const resource: BalancerFactory = resourceFactory();

export const resourceAlgorithm = declareBalancer({
  id: 'resource',
  aliases: [],
  hashing: false,
  options: {
    loadHeader: headerOption(
      'load_header',
      'the response header in which targets report their load, as a fraction (`0.73`) or a percentage (`73%`).',
      { default: DEFAULT_LOAD_HEADER, exclusive: true },
    ),
    loadFloor: numberOption(
      'load_floor',
      'the least fraction of its weight a fully loaded target keeps: weight × max(load_floor, 1 − load).',
      { min: 0.01, max: 1, default: DEFAULT_RESOURCE.floor, exclusive: true },
    ),
    loadDecayMs: numberOption(
      'load_decay',
      'milliseconds over which a load report fades to no load, so a target that stops reporting returns to its full weight.',
      { min: 100, max: 3_600_000, default: DEFAULT_RESOURCE.decayMs, integer: true, exclusive: true },
    ),
  },
  factory: resource,
  configure: (o) => resourceFactory({ floor: o.loadFloor, decayMs: o.loadDecayMs }),
});

/**
 * The load in a report value: a fraction (`0.73`) or a percentage (`73%`), clamped to [0, 1];
 * NaN for anything else (ignored).
 */
export function parseLoad(v: string): number {
  const s = v.trim();
  const pct = s.endsWith('%');
  const text = pct ? s.slice(0, -1) : s;
  if (text === '' || !/^[0-9]*\.?[0-9]+$/.test(text)) return Number.NaN;
  const n = Number(text) / (pct ? 100 : 1);
  return Math.min(n, 1);
}
