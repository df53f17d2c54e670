/**
 * src/upstreams/deadlines.ts on ManualClock: one timer serves four deadlines, the owner hears of
 * the first that passed (connect, read, write, idle in that order), and a deadline moved later
 * is honoured without a new timer per move.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import { CONNECT, Deadlines, IDLE, NONE, READ, WRITE } from '../../../src/upstreams/deadlines.ts';

function setup() {
  const clock = new ManualClock(1000);
  const heard: number[] = [];
  const d = new Deadlines(clock, { deadlinePassed: (which) => heard.push(which) });
  return { clock, heard, d };
}

describe('Deadlines', () => {
  it('tells of the earliest deadline when it passes, and not before', () => {
    const { clock, heard, d } = setup();
    d.read = d.in(300);
    d.idle = d.in(100);
    d.arm();
    assert.equal(clock.pending, 1);
    clock.advance(99);
    assert.deepEqual(heard, []);
    clock.advance(1);
    assert.deepEqual(heard, [IDLE]);
    assert.equal(d.idle, NONE);
    assert.equal(d.read, 1300, 'the others keep their values');
  });

  it('checks connect, read, write, idle in that order when several passed together', () => {
    const { clock, heard, d } = setup();
    d.write = d.in(50);
    d.connect = d.in(50);
    d.read = d.in(50);
    d.arm();
    clock.advance(60);
    assert.deepEqual(heard, [CONNECT]);
    d.arm();
    clock.advance(0);
    assert.deepEqual(heard, [CONNECT, READ]);
    d.arm();
    clock.advance(0);
    assert.deepEqual(heard, [CONNECT, READ, WRITE]);
  });

  it('a deadline moved later costs no new timer; the early timer re-arms for it', () => {
    const { clock, heard, d } = setup();
    d.read = d.in(100);
    d.arm();
    for (let i = 0; i < 10; i++) {
      clock.advance(50);
      d.read = d.in(100);
      d.arm();
      assert.equal(clock.pending, 1);
    }
    assert.deepEqual(heard, [], 'each move kept the read alive');
    clock.advance(100);
    assert.deepEqual(heard, [READ]);
  });

  it('stop() leaves no timer, and nothing is heard', () => {
    const { clock, heard, d } = setup();
    d.connect = d.in(10);
    d.arm();
    d.stop();
    assert.equal(clock.pending, 0);
    clock.advance(1000);
    assert.deepEqual(heard, []);
    assert.equal(d.ahead(d.in(1)), true);
  });
});
