import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILTIN_BALANCERS } from '../../../src/balancers/index.ts';
import { levelCount, priorityLoad, withPriorities } from '../../../src/balancers/priority.ts';
import { roundRobin } from '../../../src/balancers/round-robin.ts';
import type { TargetState } from '../../../src/upstreams/target.ts';
import { counts, ctx, make, mk, sequence, within } from './support.ts';

const PICKS = 100_000;

function at(priority: number, ...ts: TargetState[]): TargetState[] {
  for (const t of ts) t.priority = priority;
  return ts;
}

/** P0: a, b; P1: c, d. */
function fleet() {
  return [...at(0, mk('a'), mk('b')), ...at(1, mk('c'), mk('d'))];
}

function share(c: Record<string, number>, names: string): number {
  let n = 0;
  for (const x of names) n += c[x] ?? 0;
  return n / PICKS;
}

describe('priority levels (Envoy priority load)', () => {
  it('computes the load as Envoy does', () => {
    assert.deepEqual(priorityLoad([2, 2], [2, 2], 1.4), [1, 0]);
    const half = priorityLoad([1, 2], [2, 2], 1.4);
    assert.ok(Math.abs(half[0]! - 0.7) < 1e-12 && Math.abs(half[1]! - 0.3) < 1e-12, String(half));
    assert.deepEqual(priorityLoad([0, 2], [2, 2], 1.4), [0, 1]);
    // Both levels degraded: their healths (0.35 + 0.35) are scaled up to a total of 100%.
    const both = priorityLoad([1, 1], [4, 4], 1.4);
    assert.ok(Math.abs(both[0]! - 0.5) < 1e-12 && Math.abs(both[1]! - 0.5) < 1e-12, String(both));
    assert.deepEqual(priorityLoad([0, 0], [2, 2], 1.4), [1, 0], 'nothing healthy: level 0');
    // Three levels: P0 30% health spills to P1 (full), P2 gets nothing.
    const three = priorityLoad([3, 5, 5], [14, 5, 5], 1.4);
    assert.ok(Math.abs(three[0]! - 0.3) < 1e-12 && Math.abs(three[1]! - 0.7) < 1e-12 && three[2] === 0);
  });

  it('sends everything to P0 while it is healthy, with the inner sequence unchanged (no rng draw)', () => {
    const ts = fleet();
    const picker = make(withPriorities(roundRobin, 1.4)).update(ts);
    assert.equal(sequence(picker, 8), 'abababab');
    const c = counts(make(withPriorities(BUILTIN_BALANCERS.get('random')!, 1.4), 5).update(fleet()), PICKS);
    assert.equal(share(c, 'cd'), 0);
    const plain = sequence(make(BUILTIN_BALANCERS.get('random')!, 9).update([mk('a'), mk('b')]), 40);
    const wrapped = sequence(
      make(withPriorities(BUILTIN_BALANCERS.get('random')!, 1.4), 9).update(fleet()),
      40,
    );
    assert.equal(wrapped, plain);
  });

  it('spills proportionally when 1 of 2 P0 targets is down (factor 1.4: P0 keeps 70%)', () => {
    const ts = fleet();
    const picker = make(withPriorities(roundRobin, 1.4), 7).update(ts);
    ts[1]!.healthy = false;
    const c = counts(picker, PICKS);
    assert.ok(...within('P0', share(c, 'a'), 0.7, 0.01));
    assert.ok(...within('P1', share(c, 'cd'), 0.3, 0.01));
    assert.equal(c.b, undefined);
    assert.ok(Math.abs((c.c ?? 0) - (c.d ?? 0)) <= PICKS * 0.01, 'round robin inside P1');
    ts[1]!.healthy = true;
    assert.equal(share(counts(picker, 1000), 'cd'), 0, 'back to P0 once it recovers, without a rebuild');
  });

  it('sends everything to P1 when P0 is all down, and to nothing when nothing is up', () => {
    const ts = fleet();
    const picker = make(withPriorities(BUILTIN_BALANCERS.get('least-request')!, 1.4), 2).update(ts);
    ts[0]!.healthy = false;
    ts[1]!.healthy = false;
    const c = counts(picker, 10_000);
    assert.equal(share(c, 'cd') * (PICKS / 10_000), 1);
    for (const t of ts) t.healthy = false;
    assert.equal(picker.pick(ctx, null), null);
  });

  it('a higher factor keeps traffic on P0 longer; factor 1 spills exactly the unhealthy share', () => {
    const ts = [...at(0, mk('a'), mk('b'), mk('c'), mk('d')), ...at(3, mk('x'))];
    const picker = make(withPriorities(BUILTIN_BALANCERS.get('random')!, 1), 4).update(ts);
    ts[0]!.healthy = false;
    assert.ok(...within('P3', share(counts(picker, PICKS), 'x'), 0.25, 0.01));
    const generous = make(withPriorities(BUILTIN_BALANCERS.get('random')!, 2), 4).update(ts);
    ts[1]!.healthy = false;
    assert.equal(share(counts(generous, 10_000), 'x'), 0, '2 of 4 healthy × 2 = 100%');
  });

  it('a retry goes to another level before reusing a tried target', () => {
    const ts = [...at(0, mk('a')), ...at(1, mk('c'))];
    const picker = make(withPriorities(roundRobin, 1.4)).update(ts);
    assert.equal(picker.pick(ctx, [ts[0]!])!.target, 'c');
    assert.equal(picker.pick(ctx, [ts[0]!, ts[1]!])!.target, 'a', 'all tried: any, as the inner pickers do');
  });

  it('keeps per-level rotation across rebuilds; levelCount says when a wrapper is needed', () => {
    const ts = fleet();
    const b = make(withPriorities(roundRobin, 1.4));
    assert.equal(sequence(b.update(ts), 3), 'aba');
    assert.equal(sequence(b.update(ts), 3), 'bab');
    assert.equal(levelCount(ts), 2);
    assert.equal(levelCount([mk('a'), mk('b')]), 1);
  });
});
