/**
 * Per-target figures over the last few seconds, for the dashboard: request rate, error rate and
 * latency percentiles. The counters of TargetState (requests, failures) only ever grow, and the
 * Prometheus histograms are per upstream; an operator looking at one target wants "now".
 *
 * A ring of one-second slots, each holding a request count, an error count and a log-linear latency
 * histogram (HdrHistogram's idea, coarse: 4 bins per octave, so a percentile is within ±10% of the
 * truth). Recording is O(1) and allocation-free: a slot is found by the current second, and a
 * slot last used more than a ring ago is zeroed in place before reuse. Reading (once a second, by
 * the dashboard) sums the slots of the window.
 */
import type { Clock } from '../core/clock.ts';
import type { TargetObserver } from '../upstreams/target.ts';

/** Slots of one second: the window the rates and percentiles cover. */
export const STATS_WINDOW_S = 10;
const SLOT_MS = 1000;
/** Latency bins: 4 per octave from 2^-4 ms (62.5 µs) to 2^18 ms (4.4 min); outside values are clamped. */
const BINS_PER_OCTAVE = 4;
const MIN_LOG2_MS = -4;
const OCTAVES = 22;
const BINS = BINS_PER_OCTAVE * OCTAVES;

/** The bin of a latency in ms. */
export function latencyBin(ms: number): number {
  if (!(ms > 0)) return 0;
  const b = Math.floor((Math.log2(ms) - MIN_LOG2_MS) * BINS_PER_OCTAVE);
  return b < 0 ? 0 : b >= BINS ? BINS - 1 : b;
}

/** The value a bin stands for: its geometric middle, in ms. */
export function binValueMs(bin: number): number {
  return 2 ** (MIN_LOG2_MS + (bin + 0.5) / BINS_PER_OCTAVE);
}

export interface TargetWindow {
  /** Requests that ended per second over the window. */
  readonly rps: number;
  /** Errors (transport failures and 5xx answers) per request ended, 0..1; 0 without requests. */
  readonly errorRate: number;
  /** Latency to response headers in ms, null without samples. */
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  /** Requests and errors in the window. */
  readonly requests: number;
  readonly errors: number;
}

export class TargetStats implements TargetObserver {
  private readonly clock: Clock;
  /** The second (monoMs / 1000, floored) each slot holds; -1 when never used. */
  private readonly slotSecond = new Float64Array(STATS_WINDOW_S).fill(-1);
  private readonly requests = new Uint32Array(STATS_WINDOW_S);
  private readonly errors = new Uint32Array(STATS_WINDOW_S);
  private readonly latency = new Uint32Array(STATS_WINDOW_S * BINS);
  private readonly bornMs: number;

  constructor(clock: Clock) {
    this.clock = clock;
    this.bornMs = clock.monoMs();
  }

  /** The slot of `nowMs`, zeroed when it last held an older second. */
  private slot(nowMs: number): number {
    const second = Math.floor(nowMs / SLOT_MS);
    const i = second % STATS_WINDOW_S;
    if (this.slotSecond[i] !== second) {
      this.slotSecond[i] = second;
      this.requests[i] = 0;
      this.errors[i] = 0;
      this.latency.fill(0, i * BINS, (i + 1) * BINS);
    }
    return i;
  }

  /** TargetState.done(ok): a request ended; `ok` false for a transport failure. */
  done(ok: boolean): void {
    const i = this.slot(this.clock.monoMs());
    this.requests[i]!++;
    if (!ok) this.errors[i]!++;
  }

  /** A try answered with a 5xx status (the passive health report): an error, not a failure. */
  httpError(): void {
    this.errors[this.slot(this.clock.monoMs())]!++;
  }

  /** TargetState.observeLatency: a try's time to response headers. */
  latencyMs(ms: number, nowMs: number): void {
    this.latency[this.slot(nowMs) * BINS + latencyBin(ms)]!++;
  }

  /** The window's figures at the clock's now. */
  read(): TargetWindow {
    const now = this.clock.monoMs();
    const second = Math.floor(now / SLOT_MS);
    let requests = 0;
    let errors = 0;
    const bins = new Float64Array(BINS);
    let samples = 0;
    for (let i = 0; i < STATS_WINDOW_S; i++) {
      const s = this.slotSecond[i]!;
      if (s < 0 || s > second || second - s >= STATS_WINDOW_S) continue;
      requests += this.requests[i]!;
      errors += this.errors[i]!;
      for (let b = 0; b < BINS; b++) {
        const n = this.latency[i * BINS + b]!;
        bins[b]! += n;
        samples += n;
      }
    }
    // The window is the last STATS_WINDOW_S - 1 whole seconds and the current one so far, or the
    // target's life when shorter: a rate over a time it did not exist would read low.
    const spanMs = Math.min((STATS_WINDOW_S - 1) * SLOT_MS + (now - second * SLOT_MS), now - this.bornMs);
    const quantile = (q: number): number | null => {
      if (samples === 0) return null;
      const rank = Math.ceil(q * samples);
      let seen = 0;
      for (let b = 0; b < BINS; b++) {
        seen += bins[b]!;
        if (seen >= rank) return binValueMs(b);
      }
      return binValueMs(BINS - 1);
    };
    return {
      rps: spanMs > 0 ? (requests * 1000) / spanMs : 0,
      errorRate: requests > 0 ? Math.min(1, errors / requests) : 0,
      p50: quantile(0.5),
      p90: quantile(0.9),
      p99: quantile(0.99),
      requests,
      errors,
    };
  }
}
