/**
 * Long control-plane work on the main thread, cut into steps so traffic keeps flowing: the work is
 * a generator that yields after each small unit (a service, a route, a chunk of a list), and a
 * driver runs units until a time or step budget is spent, then waits for the next turn of the event
 * loop (setImmediate: after pending I/O callbacks) before going on. The same generator runs to the
 * end at once where nothing is being served yet (start, tests).
 *
 * The scheduler is injected, so tests count the turns a build takes instead of timing it.
 */
import type { Clock } from './clock.ts';

/** Work that yields between units; its return value is the result. */
export type Steps<T> = Generator<void, T, void>;

export interface Scheduler {
  /** Resolves on a later turn of the event loop, after the I/O that is waiting. */
  turn(): Promise<void>;
}

export const immediateScheduler: Scheduler = {
  turn: () => new Promise((resolve) => setImmediate(resolve)),
};

/** How much work one turn may do: whichever is reached first. */
export interface Budget {
  readonly clock: Clock;
  readonly maxMs: number;
  readonly maxSteps: number;
}

/** A few milliseconds of work per turn (what a request waiting behind a build may lose). */
export const PACE_BUDGET_MS = 4;
/** And at most this many units, so a clock that does not move (tests) still yields. */
export const PACE_MAX_STEPS = 512;

/** Run to the end now (nothing is being served, or the work is known to be small). */
export function finish<T>(steps: Steps<T>): T {
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Run a turn's worth of steps at a time, letting the event loop run in between. */
export async function pace<T>(steps: Steps<T>, scheduler: Scheduler, budget: Budget): Promise<T> {
  for (;;) {
    const start = budget.clock.monoMs();
    for (let n = 0; n < budget.maxSteps; n++) {
      const r = steps.next();
      if (r.done) return r.value;
      if (budget.clock.monoMs() - start >= budget.maxMs) break;
    }
    await scheduler.turn();
  }
}

/** Yield every `every` items of a loop (the body stays a plain loop). */
export function* eachChunk<T>(items: Iterable<T>, every: number, body: (item: T) => void): Steps<void> {
  let n = 0;
  for (const item of items) {
    body(item);
    if (++n % every === 0) yield;
  }
}

/** Call `fn` once after `ms` unless cancelled; never keeps the process alive. */
export function after(ms: number, fn: () => void): { cancel(): void } {
  const t = setTimeout(fn, ms);
  t.unref();
  return { cancel: () => clearTimeout(t) };
}
