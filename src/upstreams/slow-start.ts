/**
 * Slow start, for every algorithm: a target that joins an upstream which already existed, or that
 * becomes healthy again, takes a growing share of traffic over `slow_start` seconds instead of its
 * full share at once (Envoy's `slow_start_config`: window, aggression, min_weight_percent; Envoy
 * applies it to round robin and least request only, Fulcrum to every algorithm).
 *
 * The ramp scales the target's weight by max(min%, (t / window)^(1 / aggression)); the balancers read
 * the result as a plain number (`TargetState.effectiveWeight`), so pickers stay pure and fast.
 * Time moves here instead: while any target ramps, a ticker (every RAMP_TICK_MS, unref'd) recomputes
 * effective weights from the injected clock and asks the owner to rebuild the pickers of the
 * upstreams concerned. No timer runs while nothing ramps.
 */
import type { Clock } from '../core/clock.ts';

/** An upstream's slow-start settings, in the units the math uses. */
export interface RampSettings {
  /** `slow_start` in ms; 0 is off. */
  readonly windowMs: number;
  /** `slow_start_aggression`: 1 is linear, above 1 ramps faster early (Envoy's aggression). */
  readonly aggression: number;
  /** `slow_start_min_weight_percent` / 100: the share of its weight a ramping target starts at. */
  readonly minFraction: number;
}

export const RAMP_TICK_MS = 250;

/** The factor applied to a target's weight `elapsedMs` into its ramp (1 once the window is over). */
export function rampFactor(elapsedMs: number, s: RampSettings): number {
  if (s.windowMs <= 0 || elapsedMs >= s.windowMs) return 1;
  const t = Math.max(elapsedMs, 0) / s.windowMs;
  const f = s.aggression === 1 ? t : t ** (1 / s.aggression);
  return Math.max(s.minFraction, f);
}

/** What the driver needs of a target (TargetState implements it). */
export interface Rampable {
  readonly upstream: string;
  /** Starts a ramp at nowMs; false when the target's upstream has slow start off. */
  beginRamp(nowMs: number): boolean;
  /** Recomputes the effective weight at nowMs; false once the ramp is over. */
  updateRamp(nowMs: number): boolean;
}

/**
 * Drives the ramps of one runtime. `refresh` is called with the names of the upstreams whose
 * effective weights moved, to rebuild their pickers.
 */
export class SlowStart {
  private readonly clock: Clock;
  private readonly refresh: (upstreams: ReadonlySet<string>) => void;
  private readonly ramping = new Set<Rampable>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private stopped = false;

  constructor(clock: Clock, refresh: (upstreams: ReadonlySet<string>) => void) {
    this.clock = clock;
    this.refresh = refresh;
  }

  /** Targets ramping now. */
  get size(): number {
    return this.ramping.size;
  }

  /** Whether the ticker is running (for tests: none while nothing ramps). */
  get ticking(): boolean {
    return this.timer !== null;
  }

  /**
   * Starts `t`'s ramp now (a no-op when its upstream has slow start off). With `refreshNow` the
   * upstream's pickers are rebuilt at once (a recovered target); without, the caller is building
   * them (a target added by a new generation).
   */
  begin(t: Rampable, refreshNow: boolean): void {
    if (!t.beginRamp(this.clock.monoMs())) return;
    this.ramping.add(t);
    if (refreshNow) this.refresh(new Set([t.upstream]));
    if (this.timer === null && !this.stopped) {
      this.timer = setInterval(() => this.tick(), RAMP_TICK_MS);
      this.timer.unref();
    }
  }

  /** One step: recompute every ramping target, rebuild the pickers concerned, stop when idle. */
  tick(): void {
    const now = this.clock.monoMs();
    const touched = new Set<string>();
    for (const t of this.ramping) {
      touched.add(t.upstream);
      if (!t.updateRamp(now)) this.ramping.delete(t);
    }
    if (touched.size > 0) this.refresh(touched);
    if (this.ramping.size === 0) this.clearTimer();
  }

  /** Node stop: no more ticks (ramps in progress freeze where they are). */
  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
