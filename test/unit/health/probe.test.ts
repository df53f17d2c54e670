import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRng } from '../../../src/core/random.ts';
import { nextWaitMs } from '../../../src/health/active.ts';
import { bodyMatcher } from '../../../src/health/probe.ts';

describe('active checks: jitter', () => {
  it('adds rng × jitter to what is left of the interval', () => {
    const fixed = (v: number) => ({ next: () => v });
    assert.equal(nextWaitMs(1000, 200, 0, fixed(0.9)), 800);
    assert.equal(nextWaitMs(1000, 200, 500, fixed(0)), 800);
    assert.equal(nextWaitMs(1000, 200, 500, fixed(0.5)), 1050);
    assert.equal(nextWaitMs(1000, 1500, 500, fixed(0.5)), 250, 'a round longer than the interval');
    // The exact sequence of a seeded rng: the same seed gives the same waits.
    const a = seededRng(7);
    const b = seededRng(7);
    const waits = [0, 1, 2, 3].map(() => nextWaitMs(100, 0, 50, a));
    assert.deepEqual(
      waits,
      [0, 1, 2, 3].map(() => 100 + b.next() * 50),
    );
  });

  it('stays within [interval, interval + jitter) and spreads over it', () => {
    const rng = seededRng(42);
    let min = Number.POSITIVE_INFINITY;
    let max = 0;
    for (let i = 0; i < 10_000; i++) {
      const w = nextWaitMs(1000, 0, 300, rng);
      min = Math.min(min, w);
      max = Math.max(max, w);
    }
    assert.ok(min >= 1000 && min < 1010, `min ${min}`);
    assert.ok(max < 1300 && max > 1290, `max ${max}`);
  });
});

describe('active checks: http_body', () => {
  it('a substring matches as soon as it is read, and fails only on a complete body', () => {
    const m = bodyMatcher('ok');
    assert.equal(m(Buffer.from('status: ok'), false), true);
    assert.equal(m(Buffer.from('status: o'), false), undefined);
    assert.equal(m(Buffer.from('status: down'), true), false);
    assert.equal(m(Buffer.from(''), true), false);
  });

  it('a ~regex is tried once, on all that was read', () => {
    const m = bodyMatcher('~^\\{"status":"(up|ok)"\\}$');
    assert.equal(m(Buffer.from('{"status":"up"}'), false), undefined);
    assert.equal(m(Buffer.from('{"status":"up"}'), true), true);
    assert.equal(m(Buffer.from('{"status":"down"}'), true), false);
  });
});
