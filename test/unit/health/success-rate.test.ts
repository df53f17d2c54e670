/**
 * Passive ejection limits and success-rate outlier detection, with a fake clock: the pure verdict,
 * then UpstreamHealth fed outcomes by hand.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import type { SuccessRateSpec } from '../../../src/config/healthchecks.ts';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { seededRng } from '../../../src/core/random.ts';
import { SuccessRateWindow, successRateOutliers } from '../../../src/health/success-rate.ts';
import { UpstreamHealth } from '../../../src/health/upstream-health.ts';
import { Counter } from '../../../src/observability/registry.ts';
import { TargetState } from '../../../src/upstreams/target.ts';

const SPEC: SuccessRateSpec = { intervalMs: 1000, minimumHosts: 5, requestVolume: 100, stdevFactor: 1900 };
const sample = (key: string, ok: number, total = 100) => ({ key, ok, total });

describe('successRateOutliers (Envoy model)', () => {
  it('ejects below mean − 1.9 σ (population σ)', () => {
    // Rates 100, 100, 100, 100, 50: mean 90, σ 20, threshold 90 − 38 = 52.
    const v = successRateOutliers(
      [sample('a', 100), sample('b', 100), sample('c', 100), sample('d', 100), sample('e', 50)],
      SPEC,
    )!;
    assert.equal(v.mean, 90);
    assert.equal(v.stdev, 20);
    assert.ok(Math.abs(v.threshold - 52) < 1e-9);
    assert.deepEqual(v.outliers, [{ key: 'e', rate: 50 }]);
    // Two targets at 70 % are not outliers of their set: mean 88, σ 14.7, threshold 60.1.
    const w = successRateOutliers(
      [sample('a', 100), sample('b', 100), sample('c', 100), sample('d', 70), sample('e', 70)],
      SPEC,
    )!;
    assert.ok(Math.abs(w.threshold - (88 - 1.9 * Math.sqrt(216))) < 1e-9);
    assert.deepEqual(w.outliers, []);
    // One target below four perfect ones is always out at 1.9 σ, however small the gap (its z is 2).
    const z = successRateOutliers(
      [sample('a', 100), sample('b', 100), sample('c', 100), sample('d', 100), sample('e', 99)],
      SPEC,
    )!;
    assert.deepEqual(z.outliers, [{ key: 'e', rate: 99 }]);
  });

  it('judges only targets with request_volume requests, and only when minimum_hosts qualify', () => {
    const four = [sample('a', 100), sample('b', 100), sample('c', 100), sample('d', 10)];
    assert.equal(successRateOutliers([...four, sample('e', 99, 99)], SPEC), null, 'e has 99 requests');
    assert.notEqual(successRateOutliers([...four, sample('e', 100)], SPEC), null);
    assert.deepEqual(successRateOutliers([...four, sample('e', 100)], { ...SPEC, minimumHosts: 6 }), null);
  });

  it('a uniform upstream has no outlier (σ 0)', () => {
    const v = successRateOutliers(
      ['a', 'b', 'c', 'd', 'e'].map((k) => sample(k, 80)),
      SPEC,
    )!;
    assert.equal(v.stdev, 0);
    assert.deepEqual(v.outliers, []);
  });

  it('a window gives its verdict on the first outcome after the interval, then starts afresh', () => {
    const win = new SuccessRateWindow<string>({ ...SPEC, requestVolume: 2 }, 0);
    for (const k of ['a', 'b', 'c', 'd']) {
      assert.equal(win.record(k, true, 10), undefined);
      assert.equal(win.record(k, true, 20), undefined);
    }
    assert.equal(win.record('e', false, 30), undefined);
    const v = win.record('e', false, 1000);
    assert.deepEqual(v?.outliers, [{ key: 'e', rate: 0 }]);
    // The next interval starts empty: one outcome per target is below request_volume.
    for (const k of ['a', 'b', 'c', 'd']) win.record(k, true, 1500);
    assert.equal(win.record('e', false, 2000), null);
  });
});

const closers: UpstreamHealth[] = [];
after(() => {
  for (const h of closers) h.stop(false);
});

function rig(passive: string, n = 5) {
  const yaml = `_format_version: "3.0"\nupstreams:\n  - name: u\n    healthchecks:\n      threshold: 0\n      passive:\n${passive}`;
  const spec = loadSnapshotText(yaml, 'f.yaml').upstreams[0]!;
  const clock = new ManualClock(0);
  const overflow = new Counter('o', 'o');
  const h = new UpstreamHealth(spec, {
    clock,
    ioClock: clock,
    rng: seededRng(1),
    log: pino({ level: 'silent' }),
    checks: new Counter('c', 'c'),
    overflow,
  });
  closers.push(h);
  const targets = Array.from(
    { length: n },
    (_, i) => new TargetState('u', `10.0.0.${i}:80`, `10.0.0.${i}`, 80, 100),
  );
  h.start(targets);
  return { h, clock, targets, overflow };
}

describe('UpstreamHealth: max_ejection_percent', () => {
  it('ejects no more targets once that share is unhealthy, counting what it held back', () => {
    const { h, targets, overflow } = rig(
      '        unhealthy: { http_failures: 2 }\n        max_ejection_percent: 40\n',
    );
    const [a, b, c] = targets as [TargetState, TargetState, TargetState];
    for (const t of [a, b, c]) {
      h.passive(t, 500);
      h.passive(t, 500);
    }
    // 0 % and 20 % are below 40 %: a and b go; at 40 %, c is held back.
    assert.deepEqual(
      targets.map((t) => t.health),
      ['unhealthy', 'unhealthy', 'healthy', 'healthy', 'healthy'],
    );
    assert.equal(h.ejectionsOverflow, 1);
    assert.equal(overflow.labels({ upstream: 'u' }).value, 1);
    // Its counters started again: one more failure does not eject it, two are held back again.
    h.passive(c, 500);
    assert.equal(h.ejectionsOverflow, 1);
    h.passive(c, 500);
    assert.equal(h.ejectionsOverflow, 2);
    assert.equal(c.health, 'healthy');
  });

  it('defaults to 100: every target can be ejected (Kong)', () => {
    const { h, targets } = rig('        unhealthy: { tcp_failures: 1 }\n');
    for (const t of targets) h.passive(t, 'tcp');
    assert.deepEqual(new Set(targets.map((t) => t.health)), new Set(['unhealthy']));
    assert.equal(h.ejectionsOverflow, 0);
  });
});

describe('UpstreamHealth: success-rate ejection', () => {
  const conf = (extra = '') =>
    `        success_rate: { interval: 10, minimum_hosts: 5, request_volume: 20, stdev_factor: 1000 }\n${extra}`;

  /** One interval of 20 requests per target; `fails[i]` of target i's requests answer 500. */
  function interval(h: UpstreamHealth, clock: ManualClock, targets: TargetState[], fails: number[]): void {
    for (let r = 0; r < 20; r++)
      for (const [i, t] of targets.entries()) h.passive(t, r < fails[i]! ? 500 : 200);
    clock.advance(10_000);
  }

  it('ejects the target failing 30 % while the others stay, at the end of the interval', () => {
    const { h, clock, targets } = rig(conf());
    assert.equal(h.spec.passiveOn, true, 'success_rate alone turns passive checks on');
    interval(h, clock, targets, [0, 0, 0, 0, 6]);
    assert.deepEqual(
      new Set(targets.map((t) => t.health)),
      new Set(['healthy']),
      'no verdict before the interval ends',
    );
    h.passive(targets[0]!, 200); // the first outcome after the interval closes it
    assert.deepEqual(
      targets.map((t) => t.health),
      ['healthy', 'healthy', 'healthy', 'healthy', 'unhealthy'],
    );
    assert.equal(targets[4]!.ejections, 1);
  });

  it('ejects nobody when the failures are spread evenly, or too few targets have the volume', () => {
    const { h, clock, targets } = rig(conf());
    interval(h, clock, targets, [6, 6, 6, 6, 6]);
    h.passive(targets[0]!, 200);
    assert.deepEqual(new Set(targets.map((t) => t.health)), new Set(['healthy']));
    // Four targets with volume: below minimum_hosts.
    for (let r = 0; r < 20; r++) for (const t of targets.slice(0, 4)) h.passive(t, 200);
    for (let r = 0; r < 19; r++) h.passive(targets[4]!, 500);
    clock.advance(10_000);
    h.passive(targets[0]!, 200);
    assert.equal(targets[4]!.health, 'healthy');
  });

  it('respects max_ejection_percent', () => {
    const { h, clock, targets } = rig(conf('        max_ejection_percent: 20\n'), 10);
    const fails = [0, 0, 0, 0, 0, 0, 0, 0, 10, 12];
    interval(h, clock, targets, fails);
    h.passive(targets[0]!, 200);
    // Both are outliers; the worst goes first, then 10 % of the targets is unhealthy, below 20 %:
    // the second goes too.
    assert.equal(targets[9]!.health, 'unhealthy');
    assert.equal(targets[8]!.health, 'unhealthy');
    const { h: h2, clock: c2, targets: t2 } = rig(conf('        max_ejection_percent: 10\n'), 10);
    interval(h2, c2, t2, fails);
    h2.passive(t2[0]!, 200);
    assert.equal(t2[9]!.health, 'unhealthy', 'the worst outlier goes first');
    assert.equal(t2[8]!.health, 'healthy', 'held back at 10 %');
    assert.equal(h2.ejectionsOverflow, 1);
  });
});
