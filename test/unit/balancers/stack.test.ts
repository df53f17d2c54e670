/**
 * The balancer stack every user shares (proxy runtime, simulator, client library): zones inside
 * priority levels around the algorithm, only where the targets call for them; state kept while the
 * algorithm and the options it reads are unchanged, rebuilt when they change.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_BALANCER_SETTINGS } from '../../../src/balancers/configure.ts';
import { BalancerStack, type StackSpec } from '../../../src/balancers/stack.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { seededRng } from '../../../src/core/random.ts';
import type { TargetState } from '../../../src/upstreams/target.ts';
import { counts, mk, sequence } from './support.ts';

const spec = (algorithm: string, settings = {}): StackSpec => ({
  algorithm,
  balancer: { ...DEFAULT_BALANCER_SETTINGS, ...settings },
  overprovisioningFactor: 1.4,
});

const stack = (s: StackSpec, zone = '') =>
  new BalancerStack(s, { rng: seededRng(1), clock: new ManualClock(), zone });

function placed(name: string, zone: string, priority = 0): TargetState {
  const t = mk(name);
  t.zone = zone;
  t.priority = priority;
  return t;
}

describe('balancer stack', () => {
  it('is the bare algorithm when no layer applies', () => {
    assert.equal(sequence(stack(spec('round-robin')).update([mk('a'), mk('b'), mk('c')]), 6), 'abcabc');
  });

  it('keeps traffic in the local zone, and spills when its targets fail', () => {
    const ts = [placed('a', 'x'), placed('b', 'x'), placed('c', 'y'), placed('d', 'y')];
    const picker = stack(spec('round-robin'), 'x').update(ts);
    assert.deepEqual(counts(picker, 100), { a: 50, b: 50 });
    ts[0]!.healthy = false;
    const c = counts(picker, 4000);
    assert.equal(c.a, undefined);
    // Local capacity share 1/3 against a demand share 1/2: 2/3 stays, 1/3 spills (zones.ts).
    assert.ok(Math.abs(c.c! + c.d! - 4000 / 3) < 150, `a third spills: ${JSON.stringify(c)}`);
  });

  it('applies zones within priority levels', () => {
    const ts = [placed('a', 'x'), placed('b', 'y'), placed('c', 'x', 1), placed('d', 'y', 1)];
    const picker = stack(spec('random'), 'x').update(ts);
    assert.deepEqual(counts(picker, 200), { a: 200 });
    ts[0]!.healthy = false;
    ts[1]!.healthy = false;
    assert.deepEqual(counts(picker, 200), { c: 200 }, 'level 0 is down: level 1, local zone');
  });

  it('keeps rotation across updates while the options it reads hold; rebuilds when they change', () => {
    const ts = [mk('a'), mk('b'), mk('c')];
    const s = stack(spec('round-robin'));
    assert.equal(sequence(s.update(ts), 2), 'ab');
    s.configure(spec('round-robin', { choiceCount: 7 }), '');
    assert.equal(sequence(s.update(ts), 2), 'ca', 'an option round-robin does not read: kept');
    const lr = stack(spec('least-request'));
    const before = lr.update(ts);
    lr.configure(spec('least-request', { choiceCount: 3 }), '');
    assert.notEqual(lr.update(ts), before);
    assert.throws(() => {
      lr.configure(spec('least-request', { choiceCount: 1 }), '');
      lr.update(ts);
    }, /choice_count/);
  });
});
