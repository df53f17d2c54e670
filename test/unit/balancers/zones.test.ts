import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILTIN_BALANCERS } from '../../../src/balancers/index.ts';
import { withPriorities } from '../../../src/balancers/priority.ts';
import { roundRobin } from '../../../src/balancers/round-robin.ts';
import { withZones, zoneAware, zoneShares } from '../../../src/balancers/zones.ts';
import type { TargetState } from '../../../src/upstreams/target.ts';
import { counts, ctx, make, mk, sequence, within } from './support.ts';

const PICKS = 100_000;
const random = BUILTIN_BALANCERS.get('random')!;

function inZone(zone: string, ...ts: TargetState[]): TargetState[] {
  for (const t of ts) t.zone = zone;
  return ts;
}

/** Zone x (local): a, b; zone y: c, d; zone z: e, f. */
function fleet() {
  return [
    ...inZone('x', mk('a'), mk('b')),
    ...inZone('y', mk('c'), mk('d')),
    ...inZone('z', mk('e'), mk('f')),
  ];
}

function share(c: Record<string, number>, names: string, n = PICKS): number {
  let s = 0;
  for (const x of names) s += c[x] ?? 0;
  return s / n;
}

const close = (got: number[], want: number[]) =>
  assert.ok(
    got.length === want.length && got.every((g, i) => Math.abs(g - want[i]!) < 1e-12),
    `${got} vs ${want}`,
  );

describe('zone awareness (Envoy zone-aware routing)', () => {
  it('computes local and residual shares as Envoy does, demand taken from configured weight', () => {
    close(zoneShares([2, 2, 2], [2, 2, 2]), [1, 0, 0]);
    // Local lost 1 of 2: d = 1/3, c = 1/5; local keeps 0.6, the rest splits by residual (0.4 - 1/3 each).
    close(zoneShares([2, 2, 2], [1, 2, 2]), [0.6, 0.2, 0.2]);
    // Residual goes only to zones with spare capacity: y is degraded too.
    close(zoneShares([4, 4, 4], [2, 3, 4]), [2 / 9 / (1 / 3), 0, 1 - 2 / 9 / (1 / 3)]);
    // The docs' worked example.
    close(zoneShares([2, 2, 2], [1, 1, 2]), [0.75, 0, 0.25]);
    close(zoneShares([2, 2], [0, 2]), [0, 1]);
    close(zoneShares([2, 2], [0, 0]), [1, 0]);
    // A local zone bigger than its share of health still keeps everything.
    close(zoneShares([1, 3], [1, 1]), [1, 0]);
    // Local configured with no weight: plain proportional shares.
    close(zoneShares([0, 2, 6], [0, 2, 6]), [0, 0.25, 0.75]);
  });

  it('keeps every pick in-zone while the local zone is healthy, inner sequence unchanged', () => {
    const picker = make(withZones(roundRobin, 'x')).update(fleet());
    assert.equal(sequence(picker, 8), 'abababab');
    const plain = sequence(make(random, 9).update([mk('a'), mk('b')]), 40);
    assert.equal(
      sequence(make(withZones(random, 'x'), 9).update(fleet()), 40),
      plain,
      'no rng draw for the zone',
    );
  });

  it('spills exactly the missing share, proportionally, when a local target fails (distribution)', () => {
    const ts = fleet();
    const picker = make(withZones(random, 'x'), 7).update(ts);
    ts[1]!.healthy = false;
    const c = counts(picker, PICKS);
    assert.ok(...within('local', share(c, 'a'), 0.6, 0.01));
    assert.ok(...within('y', share(c, 'cd'), 0.2, 0.01));
    assert.ok(...within('z', share(c, 'ef'), 0.2, 0.01));
    ts[1]!.healthy = true;
    assert.equal(share(counts(picker, 1000), 'ab', 1000), 1, 'back in-zone on recovery, without a rebuild');
    ts[0]!.healthy = false;
    ts[1]!.healthy = false;
    const gone = counts(picker, PICKS);
    assert.ok(...within('y, local down', share(gone, 'cd'), 0.5, 0.01));
    for (const t of ts) t.healthy = false;
    assert.equal(picker.pick(ctx, null), null);
  });

  it('honours weights in demand and capacity', () => {
    // x: a(3) b(1); y: c(4). Demand x = 0.5. b down: c_x = 3/7 < 0.5 → local 6/7.
    const ts = [...inZone('x', mk('a', 3), mk('b', 1)), ...inZone('y', mk('c', 4))];
    const picker = make(withZones(random, 'x'), 3).update(ts);
    ts[1]!.healthy = false;
    assert.ok(...within('local', share(counts(picker, PICKS), 'a'), 6 / 7, 0.01));
  });

  it('a retry leaves the zone before reusing a tried target', () => {
    const ts = [...inZone('x', mk('a')), ...inZone('y', mk('c'))];
    const picker = make(withZones(roundRobin, 'x')).update(ts);
    assert.equal(picker.pick(ctx, [ts[0]!])!.target, 'c');
    assert.equal(picker.pick(ctx, [ts[0]!, ts[1]!])!.target, 'a');
  });

  it('composes under priority levels: priority first, zones within a level', () => {
    const p0 = inZone('x', mk('a'), mk('b'));
    const p0y = inZone('y', mk('c'), mk('d'));
    const p1 = inZone('x', mk('s'));
    for (const t of p1) t.priority = 1;
    const ts = [...p0, ...p0y, ...p1];
    const picker = make(withPriorities(withZones(random, 'x'), 1.4), 5).update(ts);
    assert.equal(share(counts(picker, 10_000), 'ab', 10_000), 1, 'P0, local zone');
    // P0 loses both local targets: P0 health 2/4 × 1.4 = 70%, spilling 30% to P1; within P0, zone y.
    p0[0]!.healthy = false;
    p0[1]!.healthy = false;
    const c = counts(picker, PICKS);
    assert.ok(...within('P0 zone y', share(c, 'cd'), 0.7, 0.01));
    assert.ok(...within('P1', share(c, 's'), 0.3, 0.01));
  });

  it('keeps per-zone rotation across rebuilds (churn); one zone or no local target: the algorithm alone', () => {
    const ts = fleet();
    const b = make(withZones(roundRobin, 'x'));
    assert.equal(sequence(b.update(ts), 3), 'aba');
    assert.equal(sequence(b.update(ts), 3), 'bab', 'rotation survives');
    const added = [...ts, ...inZone('x', mk('g'))];
    assert.equal(
      sequence(b.update(added), 6).split('').sort().join(''),
      'aabbgg',
      'a new local target joins',
    );
    const removed = ts.filter((t) => t.target !== 'a');
    assert.equal(sequence(b.update(removed), 3), 'bbb');
    assert.equal(sequence(make(withZones(roundRobin, 'w')).update(fleet()), 6), 'abcdef', 'no local target');
    assert.equal(zoneAware('x', fleet()), true);
    assert.equal(zoneAware('', fleet()), false);
    assert.equal(zoneAware('w', fleet()), false);
    assert.equal(zoneAware('x', inZone('x', mk('a'), mk('b'))), false);
  });
});
