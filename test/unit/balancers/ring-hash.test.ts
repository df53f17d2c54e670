import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILTIN_BALANCERS } from '../../../src/balancers/index.ts';
import {
  buildRing,
  DEFAULT_RING_HASH,
  ringHash,
  ringHashFactory,
  ringHashOptions,
} from '../../../src/balancers/ring-hash.ts';
import { hashSuite } from './hash-suite.ts';
import { fleet, keyed, make, mk, sequence } from './support.ts';

describe('ring-hash (ketama ring, Envoy RING_HASH)', () => {
  it('exact sequence: keys map to fixed targets, and unkeyed picks follow the seeded rng', () => {
    const picker = make(ringHash, 1).update([mk('a'), mk('b', 2), mk('c')]);
    let keyedSeq = '';
    for (let k = 0; k < 12; k++) keyedSeq += picker.pick(keyed(`user-${k}`), null)!.target;
    assert.equal(keyedSeq, 'bbbababcbbba');
    assert.equal(sequence(picker, 12), 'acbbabbbbaca');
  });

  hashSuite(ringHash, {
    shareTolerance: 3,
    minimalMoves: true,
    bounded: (f) => ringHashFactory({ hashBalanceFactor: f }),
  });

  it('sizes the ring: at least min_ring_size points, points per weight a power of two, every target one', () => {
    const o = ringHashOptions({});
    for (const n of [3, 5, 6, 100, 1000]) {
      const r = buildRing(fleet(n), o);
      assert.ok(r.points.length >= 1024 && r.points.length < 2 * 1024 + n, `n=${n}: ${r.points.length}`);
      assert.ok(new Set(r.owners).size === n);
    }
    assert.equal(
      buildRing(fleet(5), o).points.length,
      (buildRing(fleet(6), o).points.length / 6) * 5,
      'same points per target',
    );
    const big = buildRing(fleet(3), ringHashOptions({ minRingSize: 100_000 }));
    assert.ok(big.points.length >= 100_000);
    const capped = buildRing(fleet(3), ringHashOptions({ minRingSize: 1000, maxRingSize: 1000 }));
    assert.ok(capped.points.length <= 1000);
    for (let i = 1; i < big.points.length; i++) assert.ok(big.points[i - 1]! <= big.points[i]!);
  });

  it('config: defaults, options and rejections', () => {
    assert.deepEqual({ ...ringHashOptions() }, { ...DEFAULT_RING_HASH });
    assert.equal(ringHashOptions({ minRingSize: 4096, hashBalanceFactor: 1.5 }).minRingSize, 4096);
    assert.throws(() => ringHashOptions({ minRingSize: 0 }), /slots: expected a number/);
    assert.throws(() => ringHashOptions({ hashBalanceFactor: 0.5 }), /hash_balance_factor/);
    assert.throws(() => ringHashOptions({ maxRingSize: 1e9 }), /max_ring_size/);
    assert.equal(BUILTIN_BALANCERS.get('ring-hash'), ringHash);
    assert.equal(BUILTIN_BALANCERS.get('consistent-hashing'), ringHash, "Kong's name is an alias");
  });
});
