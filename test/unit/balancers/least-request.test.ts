import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILTIN_BALANCERS } from '../../../src/balancers/index.ts';
import {
  DEFAULT_LEAST_REQUEST,
  leastRequest,
  leastRequestFactory,
  leastRequestOptions,
} from '../../../src/balancers/least-request.ts';
import { counts, ctx, lagged, make, mk, sequence, within } from './support.ts';

describe('least-request (power of two choices, Envoy active-request bias)', () => {
  it('exact sequence with a seeded rng', () => {
    const a = mk('a');
    const b = mk('b');
    const c = mk('c');
    b.inflight = 2;
    assert.equal(sequence(make(leastRequest, 1).update([a, b, c]), 20), 'accccaaaacacacacccaa');
  });

  it('never picks the busiest of three when drawing two distinct targets', () => {
    const a = mk('a');
    const b = mk('b');
    const c = mk('c');
    c.inflight = 5;
    const got = counts(make(leastRequest).update([a, b, c]), 10_000);
    assert.equal(got.c, undefined);
    assert.ok(...within('a', got.a! / 10_000, 0.5, 0.02));
  });

  it('spreads evenly at idle, and honours weights under steady load over 100,000 picks (±2 points)', () => {
    const idle = counts(make(leastRequest).update([mk('a'), mk('b'), mk('c'), mk('d')]), 100_000);
    for (const n of 'abcd') assert.ok(...within(n, idle[n]! / 100_000, 0.25, 0.01));
    const r = lagged(make(leastRequest).update([mk('a', 5), mk('b', 3), mk('c', 2)]), 100_000, 100);
    for (const [n, w] of [
      ['a', 0.5],
      ['b', 0.3],
      ['c', 0.2],
    ] as const)
      assert.ok(...within(n, r.counts[n]! / 100_000, w, 0.02));
  });

  it('bias: 0 ignores load (weight only), higher biases avoid loaded targets harder', () => {
    const a = mk('a', 2);
    const b = mk('b', 1);
    a.inflight = 3;
    const none = make(leastRequestFactory({ activeRequestBias: 0 })).update([a, b]);
    assert.deepEqual(counts(none, 100), { a: 100 });
    const one = make(leastRequestFactory({ activeRequestBias: 1 })).update([a, b]); // 2/4 < 1/1
    assert.deepEqual(counts(one, 100), { b: 100 });
    a.inflight = 0;
    b.inflight = 1; // bias 0.5: 2/1 vs 1/1.41 → a; bias 2: 2 vs 0.25 → a; equal weights would tie
    assert.deepEqual(counts(make(leastRequestFactory({ activeRequestBias: 2 })).update([a, b]), 50), {
      a: 50,
    });
  });

  it('churn: skips ejected and zero-weight targets; add, remove and weight change at the rebuild', () => {
    const bal = make(leastRequest);
    const ts = [mk('a'), mk('b'), mk('c'), mk('z', 0)];
    let picker = bal.update(ts);
    ts[1]!.healthy = false;
    const got = counts(picker, 3000);
    assert.deepEqual(Object.keys(got).sort(), ['a', 'c']);
    ts[0]!.healthy = false;
    ts[2]!.healthy = false;
    assert.equal(picker.pick(ctx, null), null);
    for (const t of ts) t.healthy = true;
    const d = mk('d', 3);
    picker = bal.update([ts[0]!, d]);
    const r = lagged(picker, 30_000, 40);
    assert.ok(...within('d', r.counts.d! / 30_000, 0.75, 0.03));
    assert.equal(r.counts.b, undefined);
  });

  it('a retry avoids excluded targets unless nothing else is left', () => {
    const ts = [mk('a'), mk('b'), mk('c')];
    const picker = make(leastRequest).update(ts);
    for (let i = 0; i < 100; i++) assert.equal(picker.pick(ctx, [ts[0]!, ts[1]!]), ts[2]);
    for (let i = 0; i < 100; i++) assert.ok(picker.pick(ctx, ts) !== null);
  });

  it('config: defaults, options and rejections', () => {
    assert.deepEqual({ ...leastRequestOptions() }, { ...DEFAULT_LEAST_REQUEST });
    assert.deepEqual(
      { ...leastRequestOptions({ choiceCount: 3, activeRequestBias: 0.5 }) },
      {
        choiceCount: 3,
        activeRequestBias: 0.5,
      },
    );
    assert.throws(() => leastRequestOptions({ choiceCount: 1 }), /choice_count: expected a number from 2/);
    assert.throws(() => leastRequestOptions({ activeRequestBias: -1 }), /active_request_bias/);
    const five = make(leastRequestFactory({ choiceCount: 5 })).update([mk('a'), mk('b'), mk('c')]);
    assert.ok(five.pick(ctx, null) !== null, 'more choices than targets is fine');
    assert.equal(BUILTIN_BALANCERS.get('least-request'), leastRequest);
  });
});
