/**
 * A scenario through every algorithm it names, one after the other, on the same workload.
 */
import { type Clock, systemClock } from '../core/clock.ts';
import { type AlgorithmResult, simulate } from './engine.ts';
import type { Scenario } from './scenario.ts';
import { KeySampler } from './variates.ts';

export interface SimulationRun {
  readonly results: readonly AlgorithmResult[];
  /** Wall-clock time the whole run took, ms (the simulator's own speed, not virtual time). */
  readonly wallMs: number;
  /** Requests simulated, summed over algorithms. */
  readonly requests: number;
}

export function simulateAll(s: Scenario, clock: Clock = systemClock): SimulationRun {
  const t0 = clock.monoMs();
  const keys = new KeySampler(s.keys);
  const results = s.algorithms.map((a) => simulate(s, a, keys));
  return {
    results,
    wallMs: clock.monoMs() - t0,
    requests: results.reduce((n, r) => n + r.requests, 0),
  };
}
