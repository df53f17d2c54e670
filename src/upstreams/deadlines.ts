/**
 * The four deadlines of one connection to a target (connect, read, write, idle), as absolute
 * clock times, watched by a single clock timer armed at the earliest: a connection changes its
 * read deadline on every request and every read, and moving one number is cheaper than clearing
 * and arming a timer each time. A timer already set to fire no later than needed is left alone;
 * when it fires, the owner hears of the first deadline that passed (in the order connect, read,
 * write, idle: each ends the connection) or the timer is armed again for the next one.
 */
import type { Clock, TimerHandle } from '../core/clock.ts';

/** A deadline that is not running. */
export const NONE = 0;

export const CONNECT = 1;
export const READ = 2;
export const WRITE = 3;
export const IDLE = 4;

/** Told of a deadline that passed (CONNECT, READ, WRITE or IDLE); it is NONE again by then. */
export interface DeadlineOwner {
  deadlinePassed(which: number): void;
}

export class Deadlines {
  connect = NONE;
  read = NONE;
  write = NONE;
  idle = NONE;
  private readonly clock: Clock;
  private readonly owner: DeadlineOwner;
  private timer: TimerHandle | null = null;
  private timerAt = NONE;

  constructor(clock: Clock, owner: DeadlineOwner) {
    this.clock = clock;
    this.owner = owner;
  }

  /** A clock time `ms` from now. */
  in(ms: number): number {
    return this.clock.monoMs() + ms;
  }

  /** Whether `at` (a running deadline) is still ahead. */
  ahead(at: number): boolean {
    return this.clock.monoMs() < at;
  }

  /** Make sure the timer fires by the earliest running deadline (after any of them changed). */
  arm(): void {
    const at = earliest(this.connect, this.read, this.write, this.idle);
    if (at === NONE) return;
    // A timer already set to fire no later than needed does the job (it re-checks when it fires).
    if (this.timer !== null && this.timerAt <= at) return;
    this.stop();
    this.timerAt = at;
    this.timer = this.clock.setTimer(Math.max(0, at - this.clock.monoMs()), onTimer, this);
  }

  /** No timer any more (the deadlines keep their values; arm() starts again). */
  stop(): void {
    if (this.timer !== null) {
      this.clock.clearTimer(this.timer);
      this.timer = null;
      this.timerAt = NONE;
    }
  }

  /** The timer fired: tell the owner of the first deadline that passed, else arm for the next. */
  fire(): void {
    this.timer = null;
    this.timerAt = NONE;
    const now = this.clock.monoMs();
    let which = NONE;
    if (this.connect !== NONE && now >= this.connect) {
      this.connect = NONE;
      which = CONNECT;
    } else if (this.read !== NONE && now >= this.read) {
      this.read = NONE;
      which = READ;
    } else if (this.write !== NONE && now >= this.write) {
      this.write = NONE;
      which = WRITE;
    } else if (this.idle !== NONE && now >= this.idle) {
      this.idle = NONE;
      which = IDLE;
    }
    if (which === NONE) this.arm();
    else this.owner.deadlinePassed(which);
  }
}

/** The earliest of four deadlines, NONE being none. */
function earliest(a: number, b: number, c: number, d: number): number {
  let at = a;
  if (b !== NONE && (at === NONE || b < at)) at = b;
  if (c !== NONE && (at === NONE || c < at)) at = c;
  if (d !== NONE && (at === NONE || d < at)) at = d;
  return at;
}

function onTimer(d: Deadlines): void {
  d.fire();
}
