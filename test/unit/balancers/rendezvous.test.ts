import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DEFAULT_RENDEZVOUS,
  rendezvous,
  rendezvousFactory,
  rendezvousOptions,
} from '../../../src/balancers/rendezvous.ts';
import { hashSuite } from './hash-suite.ts';
import { keyed, make, mk, sequence } from './support.ts';

describe('rendezvous (highest random weight, logarithmic weighting)', () => {
  it('exact sequence: keys map to fixed targets, and unkeyed picks follow the seeded rng', () => {
    const picker = make(rendezvous, 1).update([mk('a'), mk('b', 2), mk('c')]);
    let keyedSeq = '';
    for (let k = 0; k < 12; k++) keyedSeq += picker.pick(keyed(`user-${k}`), null)!.target;
    assert.equal(keyedSeq, 'aacbabbaabba');
    assert.equal(sequence(picker, 12), 'bbbababaabbb');
  });

  hashSuite(rendezvous, {
    shareTolerance: 1,
    minimalMoves: true,
    bounded: (f) => rendezvousFactory({ hashBalanceFactor: f }),
  });

  it('config: defaults, options and rejections', () => {
    assert.deepEqual({ ...rendezvousOptions() }, { ...DEFAULT_RENDEZVOUS });
    assert.equal(rendezvousOptions({ hashBalanceFactor: 2 }).hashBalanceFactor, 2);
    assert.throws(() => rendezvousOptions({ hashBalanceFactor: -1 }), /hash_balance_factor/);
    assert.throws(() => rendezvousOptions({ hashBalanceFactor: Number.NaN }), /hash_balance_factor/);
  });
});
