import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import { DeadlineWheel, type WheelEntry } from '../../../src/core/deadline-wheel.ts';

/** An entry that records when it fired, and may act when it does. */
class Entry implements WheelEntry {
  wheelAt = -1;
  wheelSlot = -1;
  wheelNext: WheelEntry | null = null;
  wheelPrev: WheelEntry | null = null;
  fired: number[] = [];
  onFire: (() => void) | null = null;
  private readonly clock: ManualClock;
  constructor(clock: ManualClock) {
    this.clock = clock;
  }
  onDeadline(): void {
    this.fired.push(this.clock.monoMs());
    this.onFire?.();
  }
}

function setup(tickMs = 50, slots = 8) {
  const clock = new ManualClock(1000);
  const wheel = new DeadlineWheel(clock, tickMs, slots);
  return { clock, wheel, entry: () => new Entry(clock) };
}

describe('DeadlineWheel', () => {
  it('fires at the deadline or within one tick after it, never before', () => {
    const { clock, wheel, entry } = setup();
    const a = entry();
    wheel.arm(a, 1120);
    clock.advance(119);
    assert.deepEqual(a.fired, []);
    clock.advance(31);
    assert.equal(a.fired.length, 1);
    assert.ok(a.fired[0]! >= 1120 && a.fired[0]! <= 1120 + 50, `fired at ${a.fired[0]}`);
    assert.equal(a.wheelAt, -1);
    assert.equal(wheel.size, 0);
  });

  it('keeps deadlines more than a turn of the wheel away for later turns', () => {
    // 8 slots of 50 ms: a turn is 400 ms; 1 s away goes round twice before firing.
    const { clock, wheel, entry } = setup();
    const a = entry();
    wheel.arm(a, 2000);
    clock.advance(990);
    assert.deepEqual(a.fired, []);
    clock.advance(60);
    assert.equal(a.fired.length, 1);
    assert.ok(a.fired[0]! >= 2000 && a.fired[0]! <= 2050);
  });

  it('moves an entry when it is armed again, and forgets a disarmed one', () => {
    const { clock, wheel, entry } = setup();
    const a = entry();
    const b = entry();
    wheel.arm(a, 1100);
    wheel.arm(a, 1300);
    wheel.arm(b, 1100);
    wheel.disarm(b);
    assert.equal(wheel.size, 1);
    clock.advance(200);
    assert.deepEqual(a.fired, []);
    assert.deepEqual(b.fired, []);
    clock.advance(100);
    assert.equal(a.fired.length, 1);
    assert.deepEqual(b.fired, []);
  });

  it('lets a firing entry re-arm itself, and skips one an earlier firing disarmed', () => {
    const { clock, wheel, entry } = setup();
    const [a, b, c] = [entry(), entry(), entry()];
    // One slot, all due together; whichever of b and c fires first disarms the other.
    b.onFire = () => wheel.disarm(c);
    c.onFire = () => wheel.disarm(b);
    a.onFire = () => {
      a.onFire = null;
      wheel.arm(a, clock.monoMs() + 100);
    };
    wheel.arm(a, 1100);
    wheel.arm(b, 1100);
    wheel.arm(c, 1100);
    clock.advance(100);
    assert.equal(a.fired.length, 1);
    assert.equal(b.fired.length + c.fired.length, 1);
    clock.advance(200);
    assert.equal(a.fired.length, 2);
    assert.equal(b.fired.length + c.fired.length, 1);
    assert.equal(wheel.size, 0);
  });

  it('after a stall longer than a turn, fires everything due once', () => {
    const { clock, wheel, entry } = setup();
    const all = Array.from({ length: 20 }, (_, i) => {
      const e = entry();
      wheel.arm(e, 1000 + 37 * (i + 1));
      return e;
    });
    clock.advance(5000);
    for (const e of all) assert.equal(e.fired.length, 1);
    assert.equal(wheel.size, 0);
  });

  it('runs its clock timer only while something is armed', () => {
    const { clock, wheel, entry } = setup();
    assert.equal(clock.pending, 0);
    const a = entry();
    wheel.arm(a, 1100);
    assert.equal(clock.pending, 1);
    clock.advance(200);
    assert.equal(clock.pending, 0);
    wheel.arm(a, 1500);
    wheel.disarm(a);
    // The tick already asked for comes once, finds nothing, and asks for no more.
    clock.advance(100);
    assert.equal(clock.pending, 0);
  });

  it('a deadline already past fires on the next tick', () => {
    const { clock, wheel, entry } = setup();
    const a = entry();
    wheel.arm(a, 900);
    clock.advance(50);
    assert.equal(a.fired.length, 1);
  });
});
