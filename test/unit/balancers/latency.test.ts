import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILTIN_BALANCERS } from '../../../src/balancers/index.ts';
import { DEFAULT_LATENCY, latency, latencyFactory, latencyOptions } from '../../../src/balancers/latency.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { counts, ctx, lagged, make, mk, sequence, within } from './support.ts';

const seedOf = (p: unknown) => (p as { seedMs: number }).seedMs;

describe('latency (peak-EWMA × (inflight + 1), power of two choices)', () => {
  it('peak-EWMA: a slower sample counts at once, faster ones decay in with the time constant', () => {
    const t = mk('a');
    assert.equal(t.latencyCost(0), -1);
    t.observeLatency(10, 0);
    t.observeLatency(100, 1);
    assert.equal(t.latencyCostMs, 100);
    t.observeLatency(10, 1 + 10_000); // one time constant later: 100/e + 10(1 - 1/e)
    assert.ok(Math.abs(t.latencyCostMs - (100 / Math.E + 10 * (1 - 1 / Math.E))) < 1e-9);
    const c = t.latencyCostMs;
    assert.ok(Math.abs(t.latencyCost(10_001 + 20_000) - c / Math.E ** 2) < 1e-9, 'idle cost decays toward 0');
    t.observeLatency(Number.NaN, 0);
    t.observeLatency(-1, 0);
    assert.equal(t.latencyCostMs, c, 'bad samples are ignored');
  });

  it('exact sequence with a seeded rng', () => {
    const clock = new ManualClock();
    const ts = [mk('a'), mk('b'), mk('c')];
    ts[0]!.observeLatency(10, 0);
    ts[1]!.observeLatency(20, 0);
    ts[2]!.observeLatency(40, 0);
    const picker = make(latency, 1, clock).update(ts);
    let s = '';
    for (let i = 0; i < 20; i++) {
      const t = picker.pick(ctx, null)!;
      t.start();
      s += t.target;
    }
    assert.equal(s, 'ababcaaaaabbacabaaac');
  });

  it('sends a slow target (10× the latency) under 10% of 100,000 picks under load', () => {
    const clock = new ManualClock();
    const ts = [mk('a'), mk('b'), mk('c')];
    ts.forEach((t, i) => {
      t.observeLatency(i === 2 ? 100 : 10, 0);
    });
    const r = lagged(make(latency, 3, clock).update(ts), 100_000, 30);
    assert.ok(r.counts.c! / 100_000 < 0.1, `slow share ${r.counts.c}`);
    assert.ok(...within('a', r.counts.a! / 100_000, r.counts.b! / 100_000, 0.02));
  });

  it('spreads evenly across equal targets, and weights bias the score', () => {
    const clock = new ManualClock();
    const ts = [mk('a'), mk('b'), mk('c'), mk('d')];
    for (const t of ts) t.observeLatency(10, 0);
    const even = lagged(make(latency, 1, clock).update(ts), 100_000, 40);
    for (const n of 'abcd') assert.ok(...within(n, even.counts[n]! / 100_000, 0.25, 0.01));
    ts[0]!.weight = 3;
    const biased = lagged(make(latency, 1, clock).update(ts), 100_000, 40);
    assert.ok(biased.counts.a! / 100_000 > 0.35, `heavier share ${biased.counts.a}`);
  });

  it('seeds a new target with the median cost of the others, or 0; unmeasured busy targets wait', () => {
    const clock = new ManualClock();
    const bal = make(latency, 1, clock);
    const ts = [mk('a'), mk('b'), mk('c')];
    assert.equal(seedOf(bal.update(ts)), 0);
    ts.forEach((t, i) => {
      t.observeLatency((i + 1) * 10, 0);
    });
    const d = mk('d');
    assert.equal(seedOf(bal.update([...ts, d])), 20);
    ts.pop();
    assert.equal(seedOf(bal.update([...ts, d])), 15);
    // Finagle's rule: an unmeasured target (cost 0) with a request in flight scores a penalty.
    const busy = mk('busy');
    const idle = mk('idle');
    busy.inflight = 1;
    assert.deepEqual(counts(make(latency, 1, clock).update([busy, idle]), 50), { idle: 50 });
    const slow = mk('slow');
    slow.observeLatency(1000, 0);
    assert.deepEqual(counts(make(latency, 1, clock).update([slow, busy]), 50), { slow: 50 });
  });

  it('churn: skips ejected and zero-weight targets, and a retry avoids excluded ones', () => {
    const ts = [mk('a'), mk('b'), mk('c'), mk('z', 0)];
    const picker = make(latency).update(ts);
    ts[1]!.healthy = false;
    assert.deepEqual(Object.keys(counts(picker, 3000)).sort(), ['a', 'c']);
    assert.equal(picker.pick(ctx, [ts[0]!]), ts[2]);
    assert.ok(picker.pick(ctx, ts) !== null);
    ts[0]!.healthy = false;
    ts[2]!.healthy = false;
    assert.equal(picker.pick(ctx, null), null);
    assert.equal(sequence(make(latency).update([mk('x')]), 3), 'xxx');
  });

  it('config: defaults, options and rejections; decay_window reaches the targets', () => {
    assert.deepEqual({ ...latencyOptions() }, { ...DEFAULT_LATENCY });
    assert.throws(() => latencyOptions({ decayWindowMs: 0 }), /decay_window/);
    const t = mk('a');
    make(latencyFactory({ decayWindowMs: 500 })).update([t]);
    assert.equal(t.latencyDecayMs, 500);
    assert.equal(BUILTIN_BALANCERS.get('latency'), latency);
  });
});
