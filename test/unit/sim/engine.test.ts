/**
 * The simulator drives the real balancers: same seed, same numbers; a slow target is avoided by the
 * load-aware algorithms only; a dead target's failures and retries are counted and passive health
 * ejects it; consistent hashes move about 1/N of the keys when the fleet changes, Zipf or not.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simulate } from '../../../src/sim/engine.ts';
import { simulateAll } from '../../../src/sim/run.ts';
import { allAlgorithms } from '../../../src/sim/scenario.ts';
import { scenario, shareOf } from './support.ts';

const SLOW = `
seed: 3
duration: 20
rate: 800
targets:
  - name: t
    count: 4
    capacity: 16
    latency: { distribution: lognormal, median: 10, p99: 40 }
events:
  - { at: 5, kind: slow, target: t-4, factor: 10 }
`;

describe('simulate: determinism', () => {
  it('the same seed gives the same numbers, another seed others', () => {
    const a = simulateAll(scenario(SLOW)).results;
    const b = simulateAll(scenario(SLOW)).results;
    assert.deepEqual(a, b);
    assert.equal(a.length, allAlgorithms().length, 'every algorithm by default');
    assert.ok(a.length >= 9);
    const c = simulateAll(scenario(SLOW.replace('seed: 3', 'seed: 4'))).results;
    assert.notDeepEqual(
      a.map((r) => r.p99),
      c.map((r) => r.p99),
    );
  });

  it('every algorithm sees the same arrivals (common random numbers)', () => {
    const results = simulateAll(scenario(SLOW)).results;
    const counts = new Set(results.map((r) => r.requests));
    assert.equal(counts.size, 1);
    const n = results[0]!.requests;
    // Poisson: 800/s for 20 s is 16,000 ± a few hundred.
    assert.ok(Math.abs(n - 16_000) < 500, `requests ${n}`);
  });
});

describe('simulate: a 10x slower target', () => {
  const s = scenario(SLOW);
  const rr = simulate(s, 'round-robin');
  const lr = simulate(s, 'least-request');
  const lat = simulate(s, 'latency');
  const lc = simulate(s, 'least-connections');

  it('round-robin keeps sending it a quarter of the tries', () => {
    assert.ok(Math.abs(shareOf(rr, 't-4') - 0.25) < 0.01, `share ${shareOf(rr, 't-4')}`);
  });

  it('least-request, least-connections and latency send it far less than round-robin', () => {
    for (const r of [lr, lc, lat])
      assert.ok(
        shareOf(r, 't-4') < shareOf(rr, 't-4') * 0.6,
        `${r.algorithm}: ${shareOf(r, 't-4')} vs round-robin ${shareOf(rr, 't-4')}`,
      );
  });

  it('and keep the tail latency an order of magnitude lower', () => {
    for (const r of [lr, lc, lat]) assert.ok(r.p99 * 10 < rr.p99, `${r.algorithm} p99 ${r.p99} vs ${rr.p99}`);
  });

  it('round-robin piles requests up on it (queued beyond its capacity)', () => {
    const t4 = rr.targets.find((t) => t.name === 't-4')!;
    assert.ok(t4.peakInflight > 100, `peak ${t4.peakInflight}`);
    assert.equal(rr.peak, t4.peakInflight);
    assert.ok(rr.loadMax > rr.loadMean * 2);
  });

  it('charts one bucket per time slice, per target', () => {
    assert.equal(rr.series.p50.length, 120);
    assert.equal(rr.series.load.length, 4);
    for (const l of rr.series.load) assert.equal(l.length, 120);
    assert.deepEqual(
      rr.marks.map((m) => m.label),
      ['t-4 x10'],
    );
  });
});

const DIES = (extra: string) => `
seed: 5
duration: 10
rate: 500
algorithms: [round-robin]
${extra}
targets:
  - name: t
    count: 4
    capacity: 100
    latency: { distribution: constant, ms: 10 }
events:
  - { at: 4, kind: die, target: t-2 }
`;

describe('simulate: a target that dies', () => {
  it('without retries, each request sent to it fails and is counted', () => {
    const r = simulate(scenario(DIES('retries: 0')), 'round-robin');
    const t2 = r.targets.find((t) => t.name === 't-2')!;
    assert.ok(r.failed > 500, `failed ${r.failed}`);
    assert.equal(r.failed, t2.failures);
    assert.equal(r.retried, 0);
    assert.equal(r.completed + r.failed, r.requests);
  });

  it('with one retry, the failures are retried on another target and succeed', () => {
    const r = simulate(scenario(DIES('retries: 1')), 'round-robin');
    const t2 = r.targets.find((t) => t.name === 't-2')!;
    assert.equal(r.failed, 0);
    assert.equal(r.retried, t2.failures);
    assert.ok(r.retried > 500);
    assert.equal(r.completed, r.requests);
  });

  it('passive health (tcp_failures) ejects it: few failures, and no tries after', () => {
    const r = simulate(
      scenario(DIES('upstream: { healthchecks: { passive: { unhealthy: { tcp_failures: 3 } } } }')),
      'round-robin',
    );
    const t2 = r.targets.find((t) => t.name === 't-2')!;
    // The in-flight requests reset at death (about 500/s × 10 ms / 4 ≈ 1-2), then up to 3 refused.
    assert.ok(t2.failures >= 3 && t2.failures <= 10, `failures ${t2.failures}`);
    assert.deepEqual(
      r.marks.map((m) => m.label),
      ['t-2 dies', 't-2 ejected'],
    );
    assert.equal(r.failed, 0);
  });
});

const HASHING = (keys: string) => `
seed: 9
duration: 10
rate: 500
algorithms: [ring-hash, maglev, rendezvous, round-robin]
keys: ${keys}
targets:
  - name: t
    count: 4
    latency: { distribution: exponential, mean: 5 }
events:
  - { at: 5, kind: join, name: t-5, latency: { distribution: exponential, mean: 5 } }
`;

describe('simulate: keys moved by a fleet change', () => {
  for (const keys of [
    '{ distribution: uniform, count: 50000 }',
    '{ distribution: zipf, exponent: 1.2, count: 50000 }',
  ])
    it(`a fifth target joining moves about 1/5 of the keys (${keys})`, () => {
      const { results } = simulateAll(scenario(HASHING(keys)));
      for (const r of results.filter((x) => x.hashing)) {
        assert.equal(r.changes.length, 1, r.algorithm);
        const c = r.changes[0]!;
        assert.equal(c.what, 't-5 joined');
        assert.equal(c.ideal, 0.2);
        assert.ok(Math.abs(c.keysMoved - 0.2) <= 0.03, `${r.algorithm} moved ${c.keysMoved}`);
        assert.ok(c.trafficMoved >= 0 && c.trafficMoved <= 1);
      }
      const rr = results.find((x) => x.algorithm === 'round-robin')!;
      assert.equal(rr.hashing, false);
      assert.equal(rr.changes.length, 0);
    });

  it('Zipf keys concentrate the tries of a hashing algorithm, not of round-robin', () => {
    const { results } = simulateAll(scenario(HASHING('{ distribution: zipf, exponent: 1.2, count: 50000 }')));
    const maxShare = (a: string) =>
      Math.max(...results.find((r) => r.algorithm === a)!.targets.map((t) => t.share));
    assert.ok(maxShare('round-robin') < 0.25, `round-robin ${maxShare('round-robin')}`);
    for (const a of ['ring-hash', 'maglev', 'rendezvous'])
      assert.ok(maxShare(a) > 0.3, `${a} busiest share ${maxShare(a)}`);
  });

  it('with slow start, the keys are measured once the newcomer has ramped up', () => {
    const s = scenario(`${HASHING('{ count: 20000 }')}\nupstream: { slow_start: 2 }\n`);
    const r = simulate(s, 'maglev');
    const c = r.changes[0]!;
    assert.ok(Math.abs(c.keysMoved - 0.2) <= 0.03, `moved ${c.keysMoved}`);
    // During the ramp the newcomer took less than its share: its first second's load is below its last.
    const load = r.series.load[4]!;
    const first = load.slice(60, 72).reduce((a, b) => a + b, 0);
    const last = load.slice(108, 120).reduce((a, b) => a + b, 0);
    assert.ok(first < last * 0.7, `first ${first} last ${last}`);
  });
});
