/** Per-target rolling statistics (src/observability/target-stats.ts) on virtual time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../../src/core/clock.ts';
import {
  binValueMs,
  latencyBin,
  STATS_WINDOW_S,
  TargetStats,
} from '../../../src/observability/target-stats.ts';
import { TargetState } from '../../../src/upstreams/target.ts';

describe('target stats', () => {
  it('reports rate, error rate and percentiles over the window, fed by TargetState', () => {
    const clock = new ManualClock(999_990);
    const t = new TargetState('u', '10.0.0.1:80', '10.0.0.1', 80, 100);
    const stats = new TargetStats(clock);
    t.observer = stats;
    // 10 s at 100 requests a second: 90 answer in 10 ms, 9 in 100 ms, 1 fails.
    for (let s = 0; s < STATS_WINDOW_S; s++) {
      for (let i = 0; i < 100; i++) {
        t.start();
        clock.advance(10);
        if (i === 99) t.done(false);
        else {
          t.observeLatency(i < 90 ? 10 : 100, clock.monoMs());
          t.done(true);
        }
      }
    }
    const w = stats.read();
    assert.equal(w.requests, 1000);
    assert.equal(w.errors, 10);
    assert.ok(Math.abs(w.rps - 100) < 1, `rps ${w.rps}`);
    assert.ok(Math.abs(w.errorRate - 0.01) < 1e-9);
    assert.ok(w.p50! > 9 && w.p50! < 11.5, `p50 ${w.p50}`);
    assert.ok(w.p99! > 90 && w.p99! < 115, `p99 ${w.p99}`);
    assert.equal(t.requests, 1000, 'the balancer-visible counters are unchanged');
    assert.equal(t.failures, 10);
    assert.equal(t.inflight, 0);
  });

  it('forgets what is older than the window; 5xx answers count as errors', () => {
    const clock = new ManualClock(0);
    const stats = new TargetStats(clock);
    stats.done(true);
    stats.latencyMs(5, clock.monoMs());
    clock.advance(STATS_WINDOW_S * 1000 + 1);
    const w = stats.read();
    assert.equal(w.requests, 0);
    assert.equal(w.p50, null);
    assert.equal(w.rps, 0);
    stats.done(true);
    stats.httpError();
    assert.equal(stats.read().errorRate, 1);
  });

  it('bins latencies log-linearly, within 10% of the value', () => {
    for (const ms of [0.1, 0.5, 1, 3, 42, 250, 1234, 60_000]) {
      const v = binValueMs(latencyBin(ms));
      assert.ok(Math.abs(v - ms) / ms < 0.1, `${ms} ms → ${v}`);
    }
    assert.equal(latencyBin(0), 0);
    assert.equal(latencyBin(-1), 0);
    assert.equal(latencyBin(1e12), latencyBin(1e13), 'clamped');
  });
});
