import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { roundRobin } from '../../../src/balancers/round-robin.ts';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { seededRng } from '../../../src/core/random.ts';
import { TargetState } from '../../../src/upstreams/target.ts';

const ctx = { clientIp: '127.0.0.1' };
const mk = (name: string, weight: number) => new TargetState('u', name, name, 80, weight);
const make = () => roundRobin.create({ rng: seededRng(1), clock: new ManualClock() });

function sequence(picker: { pick: (c: typeof ctx, e: null) => TargetState | null }, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += picker.pick(ctx, null)?.target ?? '-';
  return s;
}

describe('round-robin (smooth weighted)', () => {
  it('interleaves weights exactly as nginx: 5:1:1 gives a a b a c a a', () => {
    const picker = make().update([mk('a', 5), mk('b', 1), mk('c', 1)]);
    assert.equal(sequence(picker, 14), 'aabacaaaabacaa');
  });

  it('alternates equal weights in declaration order', () => {
    const picker = make().update([mk('a', 100), mk('b', 100), mk('c', 100)]);
    assert.equal(sequence(picker, 9), 'abcabcabc');
  });

  it('honours weights exactly over 100,000 picks (tolerance: one cycle of total weight)', () => {
    const weights: Record<string, number> = { a: 7, b: 2, c: 1 };
    const picker = make().update(Object.entries(weights).map(([n, w]) => mk(n, w)));
    const counts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 100_000; i++) counts[picker.pick(ctx, null)!.target]!++;
    for (const [n, w] of Object.entries(weights))
      assert.ok(Math.abs(counts[n]! - (100_000 * w) / 10) <= 10, `${n}: ${counts[n]}`);
  });

  it('skips unhealthy and zero-weight targets, and returns null when none is left', () => {
    const a = mk('a', 1);
    const b = mk('b', 0);
    const c = mk('c', 1);
    const picker = make().update([a, b, c]);
    assert.equal(sequence(picker, 4), 'acac');
    c.healthy = false;
    assert.equal(sequence(picker, 3), 'aaa');
    a.healthy = false;
    assert.equal(picker.pick(ctx, null), null);
  });

  it('avoids excluded targets (a retry) unless nothing else is left', () => {
    const a = mk('a', 1);
    const b = mk('b', 1);
    const picker = make().update([a, b]);
    for (let i = 0; i < 5; i++) assert.equal(picker.pick(ctx, [a]), b);
    assert.equal(picker.pick(ctx, [a, b])?.target !== undefined, true);
  });

  it('keeps its rotation across a rebuild when targets survive (churn: add, remove, weight change)', () => {
    const bal = make();
    const a = mk('a', 1);
    const b = mk('b', 1);
    const c = mk('c', 1);
    let picker = bal.update([a, b, c]);
    assert.equal(sequence(picker, 2), 'ab');
    picker = bal.update([a, b, c]);
    assert.equal(sequence(picker, 1), 'c', 'the rebuild must not restart the rotation at a');
    // add d: it joins the rotation without a burst
    const d = mk('d', 1);
    picker = bal.update([a, b, c, d]);
    const seq = sequence(picker, 8);
    for (const n of 'abcd') assert.equal(seq.split(n).length - 1, 2, `${n} in ${seq}`);
    // remove b
    picker = bal.update([a, c, d]);
    assert.ok(!sequence(picker, 9).includes('b'));
    // weight change takes effect at once
    a.weight = 2;
    picker = bal.update([a, c, d]);
    const s = sequence(picker, 400);
    assert.equal(s.split('a').length - 1, 200);
  });

  it('is the default algorithm of an upstream, and other ids are refused until they exist', () => {
    const snap = loadSnapshotText(
      '_format_version: "3.0"\nupstreams:\n  - name: u\n    targets: [{ target: "127.0.0.1:1" }]\n',
      't.yaml',
    );
    assert.equal(snap.upstreams[0]!.algorithm, 'round-robin');
    assert.throws(
      () =>
        loadSnapshotText('_format_version: "3.0"\nupstreams:\n  - name: u\n    algorithm: magic\n', 't.yaml'),
      /upstreams\[0\]\.algorithm: expected one of "round-robin"/,
    );
  });
});
