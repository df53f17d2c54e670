/**
 * Deadlines of many long-lived objects (client connections) on one clock timer: a hashed timing
 * wheel (Varghese & Lauck, as in Netty's HashedWheelTimer and Linux's timer wheel) of `slots`
 * slots, `tickMs` each. An object waits in the slot of its deadline; each tick visits the slots
 * whose time has come and fires the objects in them that are due (the others are a turn or more
 * of the wheel away and stay). A deadline fires up to one tick late, never early.
 *
 * Why not a timer per connection: a Node Timeout with its bookkeeping is ~170 bytes, as much as
 * the rest of Fulcrum's state of an idle keep-alive connection; here the links live in the object
 * (four fields) and arming or disarming allocates nothing. The clock timer runs only while
 * something is armed.
 */
import type { Clock, TimerHandle } from './clock.ts';

/** What the wheel keeps in the object it times (set by the wheel only). */
export interface WheelEntry {
  /** The deadline (monotonic ms); -1 when not armed. */
  wheelAt: number;
  /** The slot it waits in; -1 when not in one. */
  wheelSlot: number;
  wheelNext: WheelEntry | null;
  wheelPrev: WheelEntry | null;
  /** The deadline came (the entry is no longer armed; it may arm itself again). */
  onDeadline(): void;
}

export class DeadlineWheel {
  private readonly clock: Clock;
  private readonly tickMs: number;
  private readonly mask: number;
  private readonly heads: (WheelEntry | null)[];
  private count = 0;
  private timer: TimerHandle | null = null;
  /** The last tick visited (ticks are `floor(monoMs / tickMs)`). */
  private cursor = 0;
  /** Entries found due in a tick, fired once the wheel is consistent again. */
  private readonly due: WheelEntry[] = [];

  /** `slots` is rounded up to a power of two. */
  constructor(clock: Clock, tickMs = 50, slots = 512) {
    this.clock = clock;
    this.tickMs = tickMs;
    let n = 1;
    while (n < slots) n *= 2;
    this.mask = n - 1;
    this.heads = new Array<WheelEntry | null>(n).fill(null);
  }

  /** Entries armed. */
  get size(): number {
    return this.count;
  }

  /** Fire `e.onDeadline()` at monotonic time `at` (or up to a tick after); re-arming moves it. */
  arm(e: WheelEntry, at: number): void {
    if (e.wheelSlot >= 0) this.unlink(e);
    if (this.timer === null) {
      this.cursor = Math.floor(this.clock.monoMs() / this.tickMs);
      this.timer = this.clock.setTimer(
        this.tickMs * (this.cursor + 1) - this.clock.monoMs(),
        onWheelTick,
        this,
      );
    }
    // The first tick at or after the deadline, but never one already visited.
    const tick = Math.max(Math.ceil(at / this.tickMs), this.cursor + 1);
    const slot = tick & this.mask;
    e.wheelAt = at;
    e.wheelSlot = slot;
    e.wheelPrev = null;
    const head = this.heads[slot]!;
    e.wheelNext = head;
    if (head !== null) head.wheelPrev = e;
    this.heads[slot] = e;
    this.count++;
  }

  /** Forget `e`'s deadline (nothing if it has none). */
  disarm(e: WheelEntry): void {
    if (e.wheelSlot >= 0) this.unlink(e);
    e.wheelAt = -1;
  }

  private unlink(e: WheelEntry): void {
    if (e.wheelPrev !== null) e.wheelPrev.wheelNext = e.wheelNext;
    else this.heads[e.wheelSlot] = e.wheelNext;
    if (e.wheelNext !== null) e.wheelNext.wheelPrev = e.wheelPrev;
    e.wheelNext = e.wheelPrev = null;
    e.wheelSlot = -1;
    this.count--;
  }

  /** @internal (the clock timer) */
  tick(): void {
    this.timer = null;
    const now = this.clock.monoMs();
    const target = Math.floor(now / this.tickMs);
    // After a long stall every slot is visited once (more visits would find nothing new).
    const from = Math.max(this.cursor + 1, target - this.mask);
    const due = this.due;
    for (let t = from; t <= target; t++) {
      const slot = t & this.mask;
      let e: WheelEntry | null = this.heads[slot]!;
      while (e !== null) {
        const next: WheelEntry | null = e.wheelNext;
        if (e.wheelAt <= now) {
          this.unlink(e);
          due.push(e);
        }
        e = next;
      }
    }
    this.cursor = target;
    if (this.count > 0) this.timer = this.clock.setTimer(this.tickMs * (target + 1) - now, onWheelTick, this);
    for (let i = 0; i < due.length; i++) {
      const e = due[i]!;
      // Still due: not re-armed nor disarmed by an entry fired before it.
      if (e.wheelSlot !== -1 || e.wheelAt === -1) continue;
      e.wheelAt = -1;
      try {
        e.onDeadline();
      } catch {
        // An entry's failure is its own (its owner logs); the others still fire.
      }
    }
    due.length = 0;
  }
}

function onWheelTick(w: DeadlineWheel): void {
  w.tick();
}
