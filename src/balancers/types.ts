/**
 * The balancer contract (ARCHITECTURE.md conventions 1-3).
 *
 * A Balancer is made once per upstream by a factory given an injected rng and clock. Each time the
 * upstream's targets change, `update(targets)` returns a new immutable Picker; state that must
 * survive (a rotation position) is kept by the Balancer, keyed by target, so it carries over when
 * the target does. `pick` is synchronous, does no I/O, and never allocates on the common path.
 * Measurement is separate: the forwarder calls `target.start()` and `target.done(ok)` around each
 * try; pickers only read those statistics.
 */
import type { Clock } from '../core/clock.ts';
import type { Rng } from '../core/random.ts';
import type { TargetState } from '../upstreams/target.ts';

/** What a picker may look at in a request. */
export interface PickContext {
  readonly clientIp: string;
  /**
   * The hashing algorithms' key (`hash_on`, else `hash_fallback`, as Kong computes it), or null when
   * the request has none: they then pick at random, weights and bounded load still honoured.
   * Optional until the forwarder sets it; absent means null.
   */
  readonly hashKey?: string | null;
}

export interface Picker {
  /**
   * A target for this request, or null when none can take it. Targets in `exclude` (those a
   * retry already tried) are skipped unless nothing else is left.
   */
  pick(ctx: PickContext, exclude: readonly TargetState[] | null): TargetState | null;
}

export interface Balancer {
  update(targets: readonly TargetState[]): Picker;
}

export interface BalancerFactory {
  readonly id: string;
  create(deps: { rng: Rng; clock: Clock }): Balancer;
}
