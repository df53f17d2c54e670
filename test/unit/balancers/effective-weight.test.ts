import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILTIN_BALANCERS } from '../../../src/balancers/index.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { SlowStart } from '../../../src/upstreams/slow-start.ts';
import { counts, lagged, make, mk, within } from './support.ts';

const PICKS = 100_000;

/** Two targets of weight 1, `b` ramping at 10% (its first tick of a 10 s slow start). */
function ramping() {
  const a = mk('a');
  const b = mk('b');
  b.slowStart = { windowMs: 10_000, aggression: 1, minFraction: 0.1 };
  const ss = new SlowStart(new ManualClock(), () => {});
  ss.begin(b, false);
  ss.stop();
  assert.equal(b.effectiveWeight, 0.1);
  return [a, b];
}

describe('every algorithm honours the effective (slow-start) weight', () => {
  const want = 0.1 / 1.1;
  for (const id of ['round-robin', 'random', 'ring-hash', 'maglev', 'rendezvous']) {
    it(`${id}: a target at 10% gets 10/110 of the picks (±1 point)`, () => {
      const picker = make(BUILTIN_BALANCERS.get(id)!, 3).update(ramping());
      const c = counts(picker, PICKS);
      assert.ok(...within(`${id} b`, (c.b ?? 0) / PICKS, want, 0.01));
    });
  }

  // The load-aware algorithms see in-flight counts: under a steady lagged load, shares follow
  // weight / in-flight, so the ramping target's share is well under half and near 10/110.
  for (const [id, tol] of [
    ['least-request', 0.03],
    ['least-connections', 0.03],
  ] as const) {
    it(`${id}: a target at 10% gets about 10/110 under steady load (±${tol * 100} points)`, () => {
      const picker = make(BUILTIN_BALANCERS.get(id)!, 3).update(ramping());
      const { counts: c } = lagged(picker, PICKS, 22);
      assert.ok(...within(`${id} b`, (c.b ?? 0) / PICKS, want, tol));
    });
  }

  it('latency: with equal costs, a target at 10% gets a small share (weight divides the score)', () => {
    const ts = ramping();
    for (const t of ts) t.observeLatency(10, 0);
    const picker = make(BUILTIN_BALANCERS.get('latency')!, 3).update(ts);
    const { counts: c } = lagged(picker, PICKS, 22);
    const share = (c.b ?? 0) / PICKS;
    assert.ok(share < 0.2, `latency b: ${share.toFixed(4)} should be well under an even 0.5`);
    const full = make(BUILTIN_BALANCERS.get('latency')!, 3).update([mk('a'), mk('b')]);
    const even = lagged(full, PICKS, 22).counts;
    assert.ok((even.b ?? 0) / PICKS > 0.4, 'without the ramp the share is about even');
  });
});
