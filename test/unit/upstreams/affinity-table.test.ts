import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AffinityTable } from '../../../src/upstreams/affinity-table.ts';

describe('affinity table (source-ip sticky)', () => {
  it('returns what was set, refreshes on use, forgets after the idle timeout', () => {
    const t = new AffinityTable(10, 1000);
    t.set('1.1.1.1', 'x', 0);
    assert.equal(t.get('1.1.1.1', 900), 'x');
    assert.equal(t.get('1.1.1.1', 1800), 'x', 'the lookup at 900 refreshed it');
    assert.equal(t.get('1.1.1.1', 2801), null, 'idle 1001 ms');
    assert.equal(t.size, 0, 'an expired entry is dropped when seen');
    t.set('1.1.1.1', 'x', 3000);
    t.set('1.1.1.1', 'y', 3001);
    assert.equal(t.get('1.1.1.1', 3002), 'y');
    assert.equal(t.size, 1);
  });

  it('never holds more than its size; evicts the least recently used', () => {
    const t = new AffinityTable(3, 1e9);
    t.set('a', '1', 1);
    t.set('b', '2', 2);
    t.set('c', '3', 3);
    t.get('a', 4); // b is now the least recent
    t.set('d', '4', 5);
    assert.equal(t.size, 3);
    assert.equal(t.get('b', 6), null);
    assert.equal(t.get('a', 7), '1');
    for (let i = 0; i < 10_000; i++) t.set(`k${i}`, 'v', 10 + i);
    assert.equal(t.size, 3);
    t.configure(2, 1e9);
    t.set('z', 'v', 20_000);
    assert.equal(t.size, 2, 'a smaller size applies on the next insert');
  });

  it('sweeps idle entries on insert, a bounded number at a time', () => {
    const t = new AffinityTable(1000, 100);
    for (let i = 0; i < 100; i++) t.set(`k${i}`, 'v', 0);
    t.set('new', 'v', 1000);
    assert.equal(t.size, 100 - 32 + 1, '32 idle entries dropped per insert');
    for (let i = 0; i < 3; i++) t.set(`n${i}`, 'v', 1000);
    assert.equal(t.size, 4, 'all idle entries gone after a few inserts');
  });

  it('tells its share of assignments and, at most once per half idle time, of entries in use', () => {
    const t = new AffinityTable(10, 1000);
    const told: string[] = [];
    t.share = {
      assigned: (k, id) => told.push(`assigned ${k} ${id}`),
      used: (k, id) => told.push(`used ${k} ${id}`),
    };
    t.set('a', 'x', 0);
    assert.equal(t.get('a', 400), 'x');
    assert.equal(t.get('a', 500), 'x');
    assert.deepEqual(told, ['assigned a x'], 'within half the idle time: nothing to tell');
    assert.equal(t.get('a', 501), 'x');
    assert.equal(t.get('a', 900), 'x');
    assert.deepEqual(told, ['assigned a x', 'used a x']);
    t.set('a', 'y', 1000);
    assert.deepEqual(told.at(-1), 'assigned a y');
  });

  it("applies the others' entries without telling, unless it has a more recent word", () => {
    const t = new AffinityTable(10, 1000);
    const told: string[] = [];
    t.share = { assigned: (k) => told.push(k), used: (k) => told.push(k) };
    t.apply('a', 'x', 100);
    assert.equal(t.get('a', 200), 'x');
    t.set('b', 'mine', 300);
    t.apply('b', 'older', 250);
    assert.equal(t.get('b', 301), 'mine', 'an older word from elsewhere does not undo a newer one here');
    t.apply('b', 'theirs', 400);
    assert.equal(t.get('b', 401), 'theirs', 'a later one wins (last writer)');
    assert.deepEqual(told, ['b'], 'only the local assignment was told');
    t.apply('c', 'z', -2000);
    assert.equal(t.get('c', 0), null, 'an entry idle when applied is not used');
  });
});
