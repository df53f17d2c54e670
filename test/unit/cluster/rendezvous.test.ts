/**
 * The preferred prober of a target (src/cluster/health-share.ts): rendezvous hashing spreads the
 * targets evenly over the live nodes, and a node leaving moves only its own targets.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { leaseTtlMs, preferred } from '../../../src/cluster/health-share.ts';

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

  it('lets a lease outlast its interval by a quarter (at least 100 ms)', () => {
    assert.equal(leaseTtlMs(400), 500);
    assert.equal(leaseTtlMs(10_000), 12_500);
  });
});
