/**
 * The properties every consistent-hashing balancer must have, run by ring-hash, maglev and
 * rendezvous tests alike: key affinity, weighted shares, minimal movement on churn (measured and
 * printed), ejection, exclusion, and bounded load under skewed keys.
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { capPerWeight } from '../../../src/balancers/common.ts';
import type { BalancerFactory } from '../../../src/balancers/types.ts';
import { seededRng } from '../../../src/core/random.ts';
import type { TargetState } from '../../../src/upstreams/target.ts';
import { counts, ctx, fleet, keyed, make, moved, owners, within, zipf } from './support.ts';

export interface HashSuiteOptions {
  /** Tolerance, in share points, for weighted shares over 100,000 keys. */
  readonly shareTolerance: number;
  /** Whether removing a target moves only that target's keys (ring, rendezvous; not Maglev). */
  readonly minimalMoves: boolean;
  /** A factory with bounded load at the given factor. */
  readonly bounded: (factor: number) => BalancerFactory;
}

const KEYS = 100_000;

export function hashSuite(factory: BalancerFactory, o: HashSuiteOptions): void {
  it('sends a key to the same target every time, across rebuilds and balancer instances', () => {
    const ts = fleet(7);
    const a = owners(make(factory, 1).update(ts), 2000);
    const bal = make(factory, 99);
    bal.update(ts);
    assert.deepEqual(owners(bal.update([...ts]), 2000), a);
    assert.ok(new Set(a).size === 7, 'every target owns keys');
  });

  it(`honours weights over 100,000 keys (tolerance ±${o.shareTolerance} points), and without a key`, (t) => {
    const ts = fleet(4).map((x, i) => {
      x.weight = i + 1;
      return x;
    });
    const picker = make(factory).update(ts);
    const byKey: Record<string, number> = {};
    for (const name of owners(picker, KEYS)) byKey[name] = (byKey[name] ?? 0) + 1;
    const noKey = counts(picker, KEYS, ctx);
    ts.forEach((x, i) => {
      const want = (i + 1) / 10;
      t.diagnostic(
        `weight ${i + 1}: keyed ${(byKey[x.target]! / KEYS).toFixed(4)}, unkeyed ${(noKey[x.target]! / KEYS).toFixed(4)}`,
      );
      assert.ok(...within(`keyed ${x.target}`, byKey[x.target]! / KEYS, want, o.shareTolerance / 100));
      assert.ok(...within(`unkeyed ${x.target}`, noKey[x.target]! / KEYS, want, o.shareTolerance / 100));
    });
  });

  for (const n of [5, 10])
    it(`moves at most 1/N + 2 points of 100,000 keys when one of N=${n} targets joins or leaves`, (t) => {
      const ts = fleet(n);
      const bal = make(factory);
      const full = owners(bal.update(ts), KEYS);
      const less = owners(bal.update(ts.slice(1)), KEYS);
      const leave = moved(full, less);
      const join = moved(less, owners(bal.update(ts), KEYS));
      t.diagnostic(
        `N=${n}: leave moved ${(leave * 100).toFixed(2)}%, join moved ${(join * 100).toFixed(2)}%`,
      );
      assert.ok(leave <= 1 / n + 0.02, `leave moved ${leave}`);
      assert.ok(join <= 1 / n + 0.02, `join moved ${join}`);
      assert.ok(leave >= 1 / n - 0.03, 'the leaving target owned about its share');
      if (o.minimalMoves)
        for (let k = 0; k < KEYS; k++)
          if (full[k] !== ts[0]!.target) assert.equal(less[k], full[k], `key ${k} moved needlessly`);
    });

  it('churn: an ejected target (healthy=false) loses only its keys, spread over the others, and gets them back', () => {
    const ts = fleet(6);
    const picker = make(factory).update(ts);
    const before = owners(picker, 20_000);
    ts[2]!.healthy = false;
    const during = owners(picker, 20_000);
    const heirs = new Set<string>();
    for (let k = 0; k < before.length; k++) {
      if (before[k] === ts[2]!.target) heirs.add(during[k]!);
      else assert.equal(during[k], before[k]);
    }
    assert.ok(!heirs.has(ts[2]!.target) && heirs.size >= 2, `heirs: ${[...heirs].join(' ')}`);
    ts[2]!.healthy = true;
    assert.deepEqual(owners(picker, 20_000), before);
  });

  it('churn: a weight change moves share to the heavier target; weight 0 and all-down give none/null', () => {
    const ts = fleet(4);
    const bal = make(factory);
    const share = (name: string) => owners(bal.update(ts), 20_000).filter((x) => x === name).length / 20_000;
    const s1 = share(ts[0]!.target);
    ts[0]!.weight = 3;
    const s3 = share(ts[0]!.target);
    assert.ok(s1 < 0.3 && s3 > 0.45, `share ${s1} → ${s3}`);
    ts[0]!.weight = 0;
    assert.equal(share(ts[0]!.target), 0);
    for (const x of ts) x.healthy = false;
    assert.equal(bal.update(ts).pick(keyed('k'), null), null);
    assert.equal(bal.update([]).pick(keyed('k'), null), null);
  });

  it('a retry avoids excluded targets unless nothing else is left', () => {
    const ts = fleet(5);
    const picker = make(factory).update(ts);
    for (let k = 0; k < 200; k++) {
      const first = picker.pick(keyed(`k${k}`), null)!;
      const second = picker.pick(keyed(`k${k}`), [first])!;
      assert.notEqual(second, first);
      assert.equal(picker.pick(keyed(`k${k}`), [first]), second, 'the retry target is stable too');
      assert.ok(ts.includes(picker.pick(keyed(`k${k}`), ts)!));
    }
  });

  it('bounded load (factor 1.25) holds under Zipf-skewed keys; without it the hot key overloads', (t) => {
    const run = (f: BalancerFactory, factor: number) => {
      const ts = fleet(8);
      const picker = make(f).update(ts);
      const next = zipf(1000, 1.2, seededRng(7));
      const window: (TargetState | null)[] = new Array(64).fill(null);
      let worst = 0;
      for (let i = 0; i < 50_000; i++) {
        window[i % 64]?.done(true);
        const cap = capPerWeight(ts, factor);
        const x = picker.pick(keyed(next()), null)!;
        if (factor > 0) assert.ok(x.inflight + 1 <= Math.ceil(cap), `inflight ${x.inflight} over cap ${cap}`);
        x.start();
        window[i % 64] = x;
        worst = Math.max(worst, Math.max(...ts.map((y) => y.inflight)) / (64 / 8));
      }
      return worst;
    };
    const bounded = run(o.bounded(1.25), 1.25);
    const unbounded = run(o.bounded(0), 0);
    t.diagnostic(`max in-flight / mean: bounded ${bounded.toFixed(2)}, unbounded ${unbounded.toFixed(2)}`);
    assert.ok(bounded <= 1.25 + 1e-9, `bounded ${bounded}`);
    assert.ok(unbounded > 1.5, `the skew must overload without the bound (${unbounded})`);
  });
}
