/**
 * Time, injected. Only core/ reads the real clocks; everything else receives a Clock so that
 * tests can drive time by hand (ARCHITECTURE.md convention 3).
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (for logs and timestamps). */
  nowMs(): number;
  /** Monotonic milliseconds with sub-millisecond precision (for durations). */
  monoMs(): number;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  monoMs: () => performance.now(),
};

/** A clock moved only by `advance`, for tests and the simulator. */
export class ManualClock implements Clock {
  private t: number;
  constructor(startMs = 0) {
    this.t = startMs;
  }
  nowMs(): number {
    return this.t;
  }
  monoMs(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
