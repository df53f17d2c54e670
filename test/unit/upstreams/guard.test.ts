/** The upstream guard's retry budgets (src/upstreams/guard.ts), on virtual time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CircuitBreakerSpec, DEFAULT_CIRCUIT_BREAKER } from '../../../src/config/resilience.ts';
import { UpstreamGuard } from '../../../src/upstreams/guard.ts';

const limits = (o: Partial<CircuitBreakerSpec>): CircuitBreakerSpec => ({ ...DEFAULT_CIRCUIT_BREAKER, ...o });

/** How many retries of `kind` in a row the guard admits at `nowMs` (stopping at `cap`). */
function admitted(
  g: UpstreamGuard,
  nowMs: number,
  cap = 10_000,
  kind: 'reset' | 'connect-failure' = 'reset',
) {
  let n = 0;
  while (n < cap && g.admitRetry(kind, nowMs) === null) n++;
  return n;
}

describe('retry budget over time (Finagle)', () => {
  it('defaults: a reserve of 10/s over 10 s admits a burst of 100 retries with no traffic', () => {
    const g = new UpstreamGuard('u', DEFAULT_CIRCUIT_BREAKER);
    assert.equal(admitted(g, 0), 100);
    assert.equal(g.overflows.retry_budget, 1);
  });

  it('each request adds `percent` of a retry', () => {
    const g = new UpstreamGuard('u', limits({ budgetMinRetriesPerSec: 0 }));
    for (let i = 0; i < 1000; i++) g.requestStarted(i);
    assert.equal(admitted(g, 1000), 200);
  });

  it('a sustained storm is cut to percent of the traffic plus the reserve rate', () => {
    const g = new UpstreamGuard('u', DEFAULT_CIRCUIT_BREAKER);
    // 100 requests per second for a minute, each wanting a retry (every target failing).
    let retried = 0;
    for (let ms = 0; ms < 60_000; ms += 10) {
      g.requestStarted(ms);
      if (g.admitRetry('reset', ms) === null) retried++;
    }
    // Steady state: 20% of 100/s + 10/s = 30/s; plus the initial reserve.
    assert.ok(retried >= 30 * 60 && retried <= 30 * 60 + 100 + 30, `${retried} retries in 60 s`);
  });

  it('counts expire after ttl', () => {
    const g = new UpstreamGuard('u', limits({ budgetTtlMs: 1000, budgetMinRetriesPerSec: 5 }));
    assert.equal(admitted(g, 0), 5);
    assert.equal(admitted(g, 999), 0, 'still within the window');
    assert.equal(admitted(g, 1000), 5, 'the slice holding them expired');
    assert.equal(admitted(g, 1500), 0);
    assert.equal(admitted(g, 2050), 5);
  });

  it('retries after a connect failure are not charged to the budget; max_retries still caps them', () => {
    const g = new UpstreamGuard('u', limits({ budgetMinRetriesPerSec: 0, budgetPercent: 0 }));
    assert.equal(admitted(g, 0, 500, 'connect-failure'), 500);
    assert.equal(admitted(g, 0), 0);
    const capped = new UpstreamGuard('u', limits({ maxRetries: 2 }));
    capped.retries = 2;
    assert.equal(capped.admitRetry('connect-failure', 0), 'max_retries');
  });

  it("Envoy's form, when min_concurrency is set: retries in flight within percent of active requests", () => {
    const g = new UpstreamGuard('u', limits({ budgetMinConcurrency: 2 }));
    for (let i = 0; i < 50; i++) g.requestStarted(0);
    g.retries = 9;
    assert.equal(g.admitRetry('reset', 0), null, '20% of 50 = 10');
    g.retries = 10;
    assert.equal(g.admitRetry('reset', 0), 'retry_budget');
  });
});
