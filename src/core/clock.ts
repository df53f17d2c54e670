/**
 * Time, injected. Only core/ reads the real clocks and arms real timers; everything else receives
 * a Clock so that tests can drive time by hand (ARCHITECTURE.md convention 3): a ManualClock fires
 * its timers on `advance()`, so deadlines, backoff, hedging and ejections are tested on virtual
 * time, never with sleeps.
 *
 * Timers take a static function and one argument (`setTimer(ms, onDeadline, exchange)`) rather
 * than a closure, so that the hot path arms them without allocating a function per request.
 */
import { performance } from 'node:perf_hooks';

/** A pending timer; pass it to `clearTimer`. */
export type TimerHandle = { readonly __timer: true } | object;

export interface Clock {
  /** Wall-clock milliseconds since the epoch (for logs and timestamps). */
  nowMs(): number;
  /** Monotonic milliseconds with sub-millisecond precision (for durations). */
  monoMs(): number;
  /**
   * Call `fn(arg)` once, `ms` milliseconds from now. Real timers never keep the process alive
   * (they are unref'd): a node stops when its sockets do.
   */
  setTimer<A>(ms: number, fn: (arg: A) => void, arg: A): TimerHandle;
  /** Cancel a timer that has not fired (a fired or cleared one is ignored). */
  clearTimer(t: TimerHandle): void;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  monoMs: () => performance.now(),
  setTimer<A>(ms: number, fn: (arg: A) => void, arg: A): TimerHandle {
    const t = setTimeout(fn, ms, arg);
    t.unref();
    return t;
  },
  clearTimer(t: TimerHandle): void {
    clearTimeout(t as NodeJS.Timeout);
  },
};

/**
 * Keep the process alive until the returned function is called: for a caller awaiting work that
 * only unref'd timers and sockets carry (the client library waiting for discovery's first DNS
 * answer), which Node would otherwise leave unsettled and exit.
 */
export function holdProcess(): () => void {
  const t = setInterval(() => {}, 60_000);
  return () => clearInterval(t);
}

interface ManualTimer {
  readonly at: number;
  readonly seq: number;
  readonly fn: (arg: unknown) => void;
  readonly arg: unknown;
  cleared: boolean;
}

/** A clock moved only by `advance`, for tests and the simulator; its timers fire in time order. */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  /** Pending timers, kept sorted by (at, seq): tests hold few. */
  private timers: ManualTimer[] = [];

  constructor(startMs = 0) {
    this.t = startMs;
  }
  nowMs(): number {
    return this.t;
  }
  monoMs(): number {
    return this.t;
  }

  setTimer<A>(ms: number, fn: (arg: A) => void, arg: A): TimerHandle {
    const timer: ManualTimer = {
      at: this.t + Math.max(0, ms),
      seq: this.seq++,
      fn: fn as (arg: unknown) => void,
      arg,
      cleared: false,
    };
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1]!.at > timer.at) i--;
    this.timers.splice(i, 0, timer);
    return timer;
  }

  clearTimer(t: TimerHandle): void {
    const timer = t as ManualTimer;
    if (timer.cleared) return;
    timer.cleared = true;
    const i = this.timers.indexOf(timer);
    if (i >= 0) this.timers.splice(i, 1);
  }

  /** Timers not yet fired nor cleared. */
  get pending(): number {
    return this.timers.length;
  }

  /**
   * Move time forward by `ms`, firing every timer that falls due on the way, each at its own
   * time (a timer armed by another that fires within the interval fires too).
   */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.timers[0];
      if (next === undefined || next.at > end) break;
      this.timers.shift();
      next.cleared = true;
      this.t = Math.max(this.t, next.at);
      next.fn(next.arg);
    }
    this.t = end;
  }
}
