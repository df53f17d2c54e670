import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  buildTable,
  DEFAULT_MAGLEV,
  maglev,
  maglevFactory,
  maglevOptions,
} from '../../../src/balancers/maglev.ts';
import { hashSuite } from './hash-suite.ts';
import { fleet, keyed, make, mk, sequence } from './support.ts';

/** Max over- and under-provision of table slots against each target's weighted share, in %. */
function imbalance(weights: readonly number[], size: number): { over: number; under: number } {
  const ts = fleet(weights.length).map((t, i) => {
    t.weight = weights[i]!;
    return t;
  });
  const slots = new Array(ts.length).fill(0);
  for (const i of buildTable(ts, size)) slots[i]++;
  const total = weights.reduce((a, b) => a + b, 0);
  let over = 0;
  let under = 0;
  weights.forEach((w, i) => {
    const ratio = slots[i] / ((size * w) / total) - 1;
    over = Math.max(over, ratio * 100);
    under = Math.max(under, -ratio * 100);
  });
  return { over, under };
}

describe('maglev (Maglev paper, Envoy MAGLEV)', () => {
  it('exact sequence: keys map to fixed targets, and unkeyed picks follow the seeded rng', () => {
    const picker = make(maglev, 1).update([mk('a'), mk('b', 2), mk('c')]);
    let keyedSeq = '';
    for (let k = 0; k < 12; k++) keyedSeq += picker.pick(keyed(`user-${k}`), null)!.target;
    assert.equal(keyedSeq, 'baababaababa');
    assert.equal(sequence(picker, 12), 'bbbaabbbcccb');
  });

  hashSuite(maglev, {
    shareTolerance: 1,
    minimalMoves: false,
    bounded: (f) => maglevFactory({ hashBalanceFactor: f }),
  });

  it('fills the whole table, and its imbalance against weights is small (measured)', (t) => {
    const bad: string[] = [];
    for (const [label, weights, size, tol] of [
      ['10 equal', Array(10).fill(1), 65537, 0.02],
      ['100 equal', Array(100).fill(1), 65537, 0.2],
      ['1000 equal', Array(1000).fill(1), 65537, 2],
      ['weights 1..10', Array.from({ length: 10 }, (_, i) => i + 1), 65537, 1],
      ['5 equal, small table (integer slots: 50 or 51 of 50.2)', Array(5).fill(1), 251, 2],
    ] as const) {
      const m = imbalance(weights, size);
      t.diagnostic(`${label} (M=${size}): max over ${m.over.toFixed(3)}%, max under ${m.under.toFixed(3)}%`);
      bad.push(...(m.over <= tol && m.under <= tol ? [] : [`${label}: ${JSON.stringify(m)}`]));
    }
    assert.deepEqual(bad, []);
    const table = buildTable(fleet(3), 65537);
    assert.ok(!table.includes(-1));
  });

  it('config: defaults, options and rejections (the table size must be prime)', () => {
    assert.deepEqual({ ...maglevOptions() }, { ...DEFAULT_MAGLEV });
    assert.equal(maglevOptions({ tableSize: 251 }).tableSize, 251);
    assert.throws(() => maglevOptions({ tableSize: 65536 }), /table_size: expected a prime/);
    assert.throws(() => maglevOptions({ tableSize: 1 }), /table_size/);
    assert.throws(() => maglevOptions({ hashBalanceFactor: 1 }), /hash_balance_factor/);
    assert.equal(
      make(maglevFactory({ tableSize: 7 }))
        .update(fleet(3))
        .pick(keyed('x'), null)?.port,
      8080,
    );
  });
});
