/**
 * Micro benchmark: the forwarder's per-try bookkeeping on a target (start, observeLatency, done),
 * without an observer (the simulator, unit tests) and with the dashboard's rolling statistics
 * (src/observability/target-stats.ts: a clock read, a slot, a few increments), so that the cost
 * the dashboard adds to every request is a measured figure. Reading the window (once a second per
 * target while a dashboard is open) is measured too.
 */
import { systemClock } from '../../src/core/clock.ts';
import { TargetStats } from '../../src/observability/target-stats.ts';
import { TargetState } from '../../src/upstreams/target.ts';
import { calibrate, nsPer } from './picks.ts';

function perTry(observed: boolean): number {
  const t = new TargetState('bench', '10.0.0.1:8080', '10.0.0.1', 8080, 1);
  if (observed) t.observer = new TargetStats(systemClock);
  let i = 0;
  const fn = () => {
    t.start();
    t.observeLatency(1 + (i++ & 63), systemClock.monoMs());
    t.done(true);
  };
  return nsPer(fn, calibrate(fn));
}

export function runTargetStats(): string {
  const bare = perTry(false);
  const observed = perTry(true);
  const stats = new TargetStats(systemClock);
  for (let i = 0; i < 10_000; i++) {
    stats.done(i % 100 !== 0);
    stats.latencyMs(1 + (i & 255), systemClock.monoMs());
  }
  const read = () => {
    stats.read();
  };
  const readNs = nsPer(read, calibrate(read));
  return [
    '| per try on a target (start, observeLatency, done) | ns |',
    '|---|---:|',
    `| without an observer | ${bare.toFixed(1)} |`,
    `| with the dashboard's rolling statistics | ${observed.toFixed(1)} |`,
    `| reading one target's 10 s window (once a second while a dashboard is open) | ${readNs.toFixed(0)} |`,
  ].join('\n');
}
