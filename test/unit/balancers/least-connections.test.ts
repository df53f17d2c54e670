import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILTIN_BALANCERS } from '../../../src/balancers/index.ts';
import { leastConnections } from '../../../src/balancers/least-connections.ts';
import { counts, ctx, lagged, make, mk, within } from './support.ts';

describe('least-connections (weighted, ties at random)', () => {
  it('exact sequence with a seeded rng, requests held in flight', () => {
    const picker = make(leastConnections, 1).update([mk('a', 2), mk('b'), mk('c')]);
    let s = '';
    for (let i = 0; i < 16; i++) {
      const t = picker.pick(ctx, null)!;
      t.start();
      s += t.target;
    }
    assert.equal(s, 'acabaacbaacbaacb');
  });

  it('sends to the target with the fewest in flight per weight', () => {
    const a = mk('a');
    const b = mk('b');
    const c = mk('c', 4);
    a.inflight = 3;
    b.inflight = 1;
    c.inflight = 6; // (6 + 1) / 4 < (1 + 1) / 1
    const picker = make(leastConnections).update([a, b, c]);
    for (let i = 0; i < 20; i++) assert.equal(picker.pick(ctx, null), c);
    c.inflight = 8; // 9 / 4 > 2 / 1
    for (let i = 0; i < 20; i++) assert.equal(picker.pick(ctx, null), b);
  });

  it('breaks ties uniformly at random (100,000 idle picks, ±1 point)', () => {
    const c = counts(make(leastConnections).update([mk('a'), mk('b'), mk('c')]), 100_000);
    for (const n of 'abc') assert.ok(...within(n, c[n]! / 100_000, 1 / 3, 0.01));
  });

  it('honours weights under steady load over 100,000 picks (±1 point)', () => {
    const r = lagged(make(leastConnections).update([mk('a', 5), mk('b', 3), mk('c', 2)]), 100_000, 100);
    for (const [n, w] of [
      ['a', 0.5],
      ['b', 0.3],
      ['c', 0.2],
    ] as const)
      assert.ok(...within(n, r.counts[n]! / 100_000, w, 0.01));
  });

  it('churn: skips ejected and zero-weight targets; add, remove and weight change at the rebuild', () => {
    const bal = make(leastConnections);
    const a = mk('a');
    const b = mk('b');
    const z = mk('z', 0);
    let picker = bal.update([a, b, z]);
    b.healthy = false;
    assert.deepEqual(counts(picker, 100), { a: 100 });
    a.healthy = false;
    assert.equal(picker.pick(ctx, null), null);
    a.healthy = true;
    b.healthy = true;
    const d = mk('d', 3);
    picker = bal.update([a, b, d]);
    let r = lagged(picker, 30_000, 50);
    assert.ok(...within('d', r.counts.d! / 30_000, 0.6, 0.02));
    d.weight = 1;
    r = lagged(bal.update([a, d]), 30_000, 50);
    assert.ok(...within('d', r.counts.d! / 30_000, 0.5, 0.02));
    assert.equal(r.counts.b, undefined);
  });

  it('a retry avoids excluded targets unless nothing else is left', () => {
    const a = mk('a');
    const b = mk('b');
    b.inflight = 10;
    const picker = make(leastConnections).update([a, b]);
    assert.equal(picker.pick(ctx, [a]), b);
    assert.equal(picker.pick(ctx, [a, b]), a);
  });

  it('is registered under its id', () =>
    assert.equal(BUILTIN_BALANCERS.get('least-connections'), leastConnections));
});
