import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { seededRng } from '../../../src/core/random.ts';
import { createLogs } from '../../../src/observability/access-log.ts';
import { Runtime } from '../../../src/runtime/runtime.ts';
import { RAMP_TICK_MS, rampFactor, SlowStart } from '../../../src/upstreams/slow-start.ts';
import { TargetState } from '../../../src/upstreams/target.ts';

const linear = { windowMs: 10_000, aggression: 1, minFraction: 0.1 };

describe('slow start: the ramp', () => {
  it('is linear with aggression 1, floored at the min weight, 1 at and after the window', () => {
    assert.equal(rampFactor(0, linear), 0.1);
    assert.equal(rampFactor(500, linear), 0.1, '5% of the window is under the 10% floor');
    assert.equal(rampFactor(2_500, linear), 0.25);
    assert.equal(rampFactor(5_000, linear), 0.5);
    assert.equal(rampFactor(9_000, linear), 0.9);
    assert.equal(rampFactor(10_000, linear), 1);
    assert.equal(rampFactor(60_000, linear), 1);
  });

  it('is a square root with aggression 2 (faster early), and honours another min weight', () => {
    const s = { windowMs: 10_000, aggression: 2, minFraction: 0.1 };
    assert.equal(rampFactor(2_500, s), 0.5);
    assert.ok(Math.abs(rampFactor(100, s) - 0.1) < 1e-12, 'sqrt(0.01) = 0.1, the floor');
    assert.equal(rampFactor(0, s), 0.1);
    assert.ok(Math.abs(rampFactor(6_400, s) - 0.8) < 1e-12);
    const half = { windowMs: 10_000, aggression: 0.5, minFraction: 0.3 };
    assert.equal(rampFactor(1_000, half), 0.3, '0.1^2 = 0.01 is under the 30% floor');
    assert.ok(Math.abs(rampFactor(8_000, half) - 0.64) < 1e-12);
  });

  it('scales the effective weight of a target; the configured weight stays', () => {
    const clock = new ManualClock(1_000);
    const refreshed: string[] = [];
    const ss = new SlowStart(clock, (names) => refreshed.push(...names));
    const t = new TargetState('u', 'a:1', 'a', 1, 50);
    t.slowStart = linear;
    assert.equal(ss.ticking, false);
    ss.begin(t, false);
    assert.equal(t.weight, 50);
    assert.equal(t.effectiveWeight, 5);
    assert.equal(ss.ticking, true);
    t.weight = 100;
    assert.equal(t.effectiveWeight, 10, 'a weight change during a ramp keeps the ramp factor');
    clock.advance(5_000);
    ss.tick();
    assert.equal(t.effectiveWeight, 50);
    assert.deepEqual(refreshed, ['u']);
    clock.advance(5_000);
    ss.tick();
    assert.equal(t.effectiveWeight, 100);
    assert.equal(t.rampStartMs, -1);
    assert.equal(ss.size, 0);
    assert.equal(ss.ticking, false, 'no timer once nothing ramps');
    ss.stop();
  });

  it('starts nothing when the upstream has slow start off; a recovery ramps only when on', () => {
    const clock = new ManualClock();
    const refreshed: string[] = [];
    const ss = new SlowStart(clock, (names) => refreshed.push(...names));
    const t = new TargetState('u', 'a:1', 'a', 1, 10);
    t.rampHost = ss;
    ss.begin(t, true);
    assert.equal(ss.size, 0);
    t.healthy = false;
    t.healthy = true;
    assert.equal(t.effectiveWeight, 10);
    assert.equal(ss.ticking, false);
    t.slowStart = linear;
    t.setHealthy(false);
    assert.equal(ss.size, 0, 'going down starts nothing');
    t.setHealthy(true, false);
    assert.equal(ss.size, 0, 'setHealthy(true, false) is a first verdict, not a recovery');
    t.setHealthy(false);
    t.healthy = true;
    assert.equal(ss.size, 1);
    assert.equal(t.effectiveWeight, 1);
    assert.deepEqual(refreshed, ['u'], 'a recovery rebuilds the pickers at once');
    ss.stop();
    assert.equal(ss.ticking, false);
  });
});

const yaml = (targets: string[], slowStart = 10) => `_format_version: "3.0"
upstreams:
  - name: u
    slow_start: ${slowStart}
    targets:
${targets.map((t) => `      - target: ${t}\n`).join('')}services:
  - name: s
    host: u
    routes: [{ paths: ["/"] }]
`;

function runtime(text: string, clock: ManualClock): Runtime {
  return new Runtime(loadSnapshotText(text, 'f.yaml'), {
    clock,
    rng: seededRng(1),
    logs: createLogs('silent', 'off', clock),
  });
}

describe('slow start in the runtime', () => {
  it('does not ramp the targets of a first start; ramps a target added by a reload, ticking the picker', () => {
    const clock = new ManualClock();
    const rt = runtime(yaml(['10.0.0.1:80', '10.0.0.2:80']), clock);
    const first = [...rt.live.targets.values()];
    assert.deepEqual(
      first.map((t) => t.effectiveWeight),
      [100, 100],
    );
    assert.equal(rt.live.slowStart.ticking, false, 'no timer at first start');
    rt.apply(loadSnapshotText(yaml(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']), 'f.yaml'));
    const added = rt.live.targets.get('u/10.0.0.3:80')!;
    assert.equal(added.effectiveWeight, 10);
    assert.equal(rt.live.targets.get('u/10.0.0.1:80')!.effectiveWeight, 100, 'others do not ramp');
    assert.equal(rt.live.slowStart.size, 1);
    const before = rt.current.upstreams.get('u')!.picker;
    clock.advance(5_000);
    rt.live.slowStart.tick();
    assert.equal(added.effectiveWeight, 50);
    assert.notEqual(rt.current.upstreams.get('u')!.picker, before, 'the picker was rebuilt');
    clock.advance(5_000 + RAMP_TICK_MS);
    rt.live.slowStart.tick();
    assert.equal(added.effectiveWeight, 100);
    assert.equal(rt.live.slowStart.ticking, false);
    rt.close();
  });

  it('ramps a recovered target (healthy false → true), and a new upstream does not ramp', () => {
    const clock = new ManualClock();
    const rt = runtime(yaml(['10.0.0.1:80', '10.0.0.2:80']), clock);
    const b = rt.live.targets.get('u/10.0.0.2:80')!;
    b.healthy = false;
    clock.advance(1_000);
    b.healthy = true;
    assert.equal(b.effectiveWeight, 10);
    clock.advance(2_500);
    rt.live.slowStart.tick();
    assert.equal(b.effectiveWeight, 25);
    rt.close();
    assert.equal(rt.live.slowStart.ticking, false, 'stopped with the node');
  });

  it('does not ramp the targets of an upstream added by a reload', () => {
    const clock = new ManualClock();
    const rt = runtime(yaml(['10.0.0.1:80']), clock);
    const two = yaml(['10.0.0.1:80']).replace(
      'services:',
      '  - name: v\n    slow_start: 10\n    targets: [{ target: "10.0.0.9:80" }]\nservices:',
    );
    rt.apply(loadSnapshotText(two, 'f.yaml'));
    assert.equal(rt.live.targets.get('v/10.0.0.9:80')!.effectiveWeight, 100);
    assert.equal(rt.live.slowStart.size, 0);
    rt.close();
  });

  it('turning slow start off by a reload ends a ramp at once', () => {
    const clock = new ManualClock();
    const rt = runtime(yaml(['10.0.0.1:80']), clock);
    rt.apply(loadSnapshotText(yaml(['10.0.0.1:80', '10.0.0.2:80']), 'f.yaml'));
    const added = rt.live.targets.get('u/10.0.0.2:80')!;
    assert.equal(added.effectiveWeight, 10);
    rt.apply(loadSnapshotText(yaml(['10.0.0.1:80', '10.0.0.2:80'], 0), 'f.yaml'));
    assert.equal(added.effectiveWeight, 100);
    rt.live.slowStart.tick();
    assert.equal(rt.live.slowStart.ticking, false);
    rt.close();
  });
});
