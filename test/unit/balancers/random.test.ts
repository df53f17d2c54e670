import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILTIN_BALANCERS } from '../../../src/balancers/index.ts';
import { random } from '../../../src/balancers/random.ts';
import { counts, ctx, make, mk, sequence, within } from './support.ts';

describe('random (weighted, binary search over cumulative weights)', () => {
  it('exact sequence with a seeded rng', () => {
    assert.equal(
      sequence(make(random, 1).update([mk('a', 5), mk('b', 1), mk('c', 1)]), 20),
      'aaaccaabacaaaaaaaaab',
    );
    assert.equal(
      sequence(make(random, 2).update([mk('a', 5), mk('b', 1), mk('c', 1)]), 20),
      'baaacaaababaabaaaaca',
    );
  });

  it('honours weights over 100,000 picks (tolerance ±1 point)', () => {
    const picker = make(random).update([mk('a', 7), mk('b', 2), mk('c', 1)]);
    const c = counts(picker, 100_000);
    for (const [n, w] of [
      ['a', 0.7],
      ['b', 0.2],
      ['c', 0.1],
    ] as const)
      assert.ok(...within(n, c[n]! / 100_000, w, 0.01));
  });

  it('keeps shares proportional among the rest when a target is unhealthy; null when none is left', () => {
    const a = mk('a', 3);
    const b = mk('b', 1);
    const c = mk('c', 6);
    const z = mk('z', 0);
    const picker = make(random).update([a, b, c, z]);
    c.healthy = false;
    const got = counts(picker, 100_000);
    assert.ok(...within('a', got.a! / 100_000, 0.75, 0.01));
    assert.equal(got.c, undefined);
    assert.equal(got.z, undefined);
    a.healthy = false;
    b.healthy = false;
    assert.equal(picker.pick(ctx, null), null);
    assert.equal(make(random).update([]).pick(ctx, null), null);
  });

  it('a retry avoids excluded targets unless nothing else is left', () => {
    const a = mk('a', 100);
    const b = mk('b', 1);
    const picker = make(random).update([a, b]);
    for (let i = 0; i < 100; i++) assert.equal(picker.pick(ctx, [a]), b);
    for (let i = 0; i < 100; i++) assert.ok(picker.pick(ctx, [a, b]) !== null);
  });

  it('churn: add, remove and weight change take effect at the rebuild', () => {
    const bal = make(random);
    const a = mk('a');
    const b = mk('b');
    let c = counts(bal.update([a, b]), 20_000);
    assert.ok(...within('a', c.a! / 20_000, 0.5, 0.02));
    const d = mk('d', 2);
    c = counts(bal.update([a, b, d]), 20_000);
    assert.ok(...within('d', c.d! / 20_000, 0.5, 0.02));
    c = counts(bal.update([a, d]), 20_000);
    assert.equal(c.b, undefined);
    a.weight = 6;
    c = counts(bal.update([a, d]), 20_000);
    assert.ok(...within('a', c.a! / 20_000, 0.75, 0.02));
  });

  it('is registered under its id', () => assert.equal(BUILTIN_BALANCERS.get('random'), random));
});
