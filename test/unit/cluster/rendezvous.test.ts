/**
 * The probers of a target (src/cluster/probe-rounds.ts): rendezvous hashing spreads the targets
 * evenly over the live nodes, a node leaving moves only its own targets, its standby takes over,
 * and rounds start on one grid.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  nextRound,
  phaseMs,
  preferred,
  ranking,
  takeoverSlackMs,
} from '../../../src/cluster/probe-rounds.ts';

const keys = Array.from(
  { length: 2000 },
  (_, i) => `fulcrum:hc:u${i % 7}:10.0.${i >> 8}.${i & 255}:8080:5000`,
);
const nodes = ['edge-1', 'edge-2', 'edge-3', 'edge-4', 'edge-5'];

describe('rendezvous assignment of probes', () => {
  it('spreads targets evenly over the live nodes', () => {
    const count = new Map<string, number>();
    for (const k of keys) count.set(preferred(nodes, k), (count.get(preferred(nodes, k)) ?? 0) + 1);
    assert.equal(count.size, 5);
    for (const [n, c] of count) assert.ok(Math.abs(c - 400) < 80, `${n}: ${c} of 2000`);
  });

  it('moves only the targets of a node that leaves, and does not depend on the order of the list', () => {
    const without = nodes.filter((n) => n !== 'edge-3');
    for (const k of keys) {
      const before = preferred(nodes, k);
      const after = preferred(without, k);
      if (before !== 'edge-3') assert.equal(after, before);
      assert.equal(preferred([...nodes].reverse(), k), before);
    }
  });

  it('ranks the standbys of a key: the preferred node first, then the one that takes over', () => {
    for (const k of keys.slice(0, 200)) {
      const order = ranking(nodes, k);
      assert.equal(order[0], preferred(nodes, k));
      assert.deepEqual([...order].sort(), [...nodes].sort());
      // Without the first, the second is preferred: the standby is the node that takes over.
      assert.equal(preferred(order.slice(1), k), order[1]);
    }
  });

  it('starts rounds on one grid of the cluster time, after the last one, one slack apart per rank', () => {
    // Interval 400, phase 30: rounds start at k * 400 + 30.
    assert.deepEqual(nextRound(1_000, 400, 30, -1), { round: 3, waitMs: 230 });
    assert.deepEqual(nextRound(1_230, 400, 30, -1), { round: 4, waitMs: 400 }, 'at a start: the next');
    assert.deepEqual(nextRound(1_229, 400, 30, 3), { round: 4, waitMs: 401 }, 'never the round just run');
    const p = phaseMs('u', 400);
    assert.ok(p >= 0 && p < 400);
    assert.equal(phaseMs('u', 400), p, 'every node computes the same phase');
    assert.equal(takeoverSlackMs(400), 20);
    assert.equal(takeoverSlackMs(2_000), 100);
    assert.equal(takeoverSlackMs(60_000), 250);
  });
});
