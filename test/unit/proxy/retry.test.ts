import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeRetryPolicy } from '../../../src/config/resilience.ts';
import { seededRng } from '../../../src/core/random.ts';
import { backoffMs, isIdempotent, retryAllowed } from '../../../src/proxy/retry.ts';

const all = normalizeRetryPolicy(undefined);

describe('retryAllowed', () => {
  it('retries a connect failure for any method, the rest for idempotent methods only', () => {
    assert.equal(retryAllowed('connect-failure', all, 'POST', false), true);
    for (const kind of ['reset', 'timeout', 'http-status'] as const) {
      assert.equal(retryAllowed(kind, all, 'GET', false), true, kind);
      assert.equal(retryAllowed(kind, all, 'PUT', false), true, kind);
      assert.equal(retryAllowed(kind, all, 'POST', false), false, kind);
      assert.equal(retryAllowed(kind, all, 'PATCH', true), true, `${kind} when the route allows`);
    }
  });

  it('follows retry_on', () => {
    const p = normalizeRetryPolicy({ retry_on: ['reset'] });
    assert.equal(retryAllowed('connect-failure', p, 'GET', false), false);
    assert.equal(retryAllowed('reset', p, 'GET', false), true);
    assert.equal(retryAllowed('timeout', p, 'GET', false), false);
    assert.equal(retryAllowed('http-status', p, 'GET', false), false);
    assert.equal(p.statuses.size, 0, 'statuses are off without http-status');
  });

  it('knows the idempotent methods of RFC 9110', () => {
    assert.deepEqual(
      ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE', 'POST', 'PATCH', 'CONNECT'].filter(isIdempotent),
      ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE'],
    );
  });
});

describe('backoffMs', () => {
  it('draws full jitter under a ceiling that doubles per try and stops at backoff_max', () => {
    const p = normalizeRetryPolicy({ backoff_base: 10, backoff_max: 100 });
    const rng = seededRng(7);
    for (const [tries, ceiling] of [
      [1, 10],
      [2, 20],
      [3, 40],
      [4, 80],
      [5, 100],
      [40, 100],
    ] as const) {
      let max = 0;
      let sum = 0;
      for (let i = 0; i < 2000; i++) {
        const w = backoffMs(p, tries, rng);
        assert.ok(w >= 0 && w < ceiling, `${w} within [0, ${ceiling}) at try ${tries}`);
        max = Math.max(max, w);
        sum += w;
      }
      assert.ok(max >= ceiling * 0.9, `draws reach near the ceiling ${ceiling} (max ${max})`);
      assert.ok(Math.abs(sum / 2000 - ceiling / 2) < ceiling * 0.1, `mean near ${ceiling / 2}`);
    }
  });

  it('is 0 with backoff_base 0', () => {
    const p = normalizeRetryPolicy({ backoff_base: 0 });
    assert.equal(backoffMs(p, 3, seededRng(1)), 0);
  });
});
