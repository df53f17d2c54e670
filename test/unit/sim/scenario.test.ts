/** Scenario files: defaults, expansion of `count`, and errors that name line and path. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/config/load.ts';
import { seededRng } from '../../../src/core/random.ts';
import { allAlgorithms } from '../../../src/sim/scenario.ts';
import { KeySampler, normal, percentile, serviceMs } from '../../../src/sim/variates.ts';
import { scenario } from './support.ts';

function issues(yaml: string): string[] {
  try {
    scenario(yaml);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues.map((i) => `${i.line}:${i.path}: ${i.message}`);
  }
  assert.fail('expected a ConfigError');
}

describe('simulate: scenario', () => {
  it('defaults and count expansion', () => {
    const s = scenario('targets:\n  - { name: web, count: 3, capacity: 8 }\n  - { name: db }\n');
    assert.deepEqual(
      s.targets.map((t) => t.name),
      ['web-1', 'web-2', 'web-3', 'db'],
    );
    assert.equal(s.targets[0]!.capacity, 8);
    assert.equal(s.targets[3]!.capacity, Number.POSITIVE_INFINITY);
    assert.equal(s.targets[3]!.weight, 100);
    assert.deepEqual(s.algorithms, allAlgorithms());
    assert.equal(s.retries, 1);
    assert.equal(s.tcpFailures, 0);
    assert.equal(s.balancer.maglevTableSize, 65537);
    assert.deepEqual(s.keys, { distribution: 'uniform', count: 10000, exponent: 1 });
  });

  it("accepts Kong's alias and drops repeats", () => {
    const s = scenario('algorithms: [consistent-hashing, ring-hash, maglev]\ntargets: [{ name: a }]\n');
    assert.deepEqual(s.algorithms, ['ring-hash', 'maglev']);
  });

  it('errors name the line and the path', () => {
    const e = issues(
      [
        'rate: -1',
        'algorithms: [maglev, fastest]',
        'targets:',
        '  - name: a',
        '    latency: { distribution: lognormal, median: 50, p99: 10 }',
        '    colour: red',
        'events:',
        '  - { at: 1, kind: slow, target: nope }',
        '  - { at: 2, kind: explode, target: a }',
        'upstream: { maglev_table_size: 100 }',
      ].join('\n'),
    );
    const want = [
      /^1:rate: expected a number/,
      /^2:algorithms\[1\]: expected one of round-robin/,
      /^5:targets\[0\]\.latency\.p99: expected a p99 above the median/,
      /^6:targets\[0\]\.colour: unknown field/,
      /^8:events\[0\]\.target: expected the name of a target/,
      /^9:events\[1\]\.kind: expected one of slow, die, recover, join/,
      /^10:upstream: .*prime/,
    ];
    for (const w of want)
      assert.ok(
        e.some((x) => w.test(x)),
        `${w} in\n${e.join('\n')}`,
      );
  });

  it('an event after the end of the run, or a duplicate target, is refused', () => {
    const e = issues(
      'duration: 10\ntargets: [{ name: a }, { name: a }]\nevents: [{ at: 11, kind: die, target: a }]\n',
    );
    assert.ok(
      e.some((x) => /events\[0\]\.at: expected a number from 0 to 10/.test(x)),
      e.join('\n'),
    );
    assert.ok(
      e.some((x) => /appears twice/.test(x)),
      e.join('\n'),
    );
  });
});

describe('simulate: variates', () => {
  it('a lognormal has the median and p99 it was given', () => {
    const rng = seededRng(1);
    const d = { kind: 'lognormal', medianMs: 20, p99Ms: 200 } as const;
    const xs = Float64Array.from({ length: 100_000 }, () => serviceMs(d, 0, normal(rng))).sort();
    assert.ok(Math.abs(percentile(xs, 0.5) / 20 - 1) < 0.03, `median ${percentile(xs, 0.5)}`);
    assert.ok(Math.abs(percentile(xs, 0.99) / 200 - 1) < 0.06, `p99 ${percentile(xs, 0.99)}`);
  });

  it('an exponential has its mean', () => {
    const rng = seededRng(2);
    let sum = 0;
    for (let i = 0; i < 100_000; i++) sum += serviceMs({ kind: 'exponential', meanMs: 30 }, rng.next(), 0);
    assert.ok(Math.abs(sum / 100_000 / 30 - 1) < 0.02);
  });

  it('Zipf draws follow 1/k^s', () => {
    const z = new KeySampler({ distribution: 'zipf', count: 1000, exponent: 1 });
    const rng = seededRng(3);
    const hits = new Uint32Array(1000);
    for (let i = 0; i < 200_000; i++) hits[z.draw(rng)]!++;
    for (const k of [0, 1, 9]) {
      const p = z.probability(k);
      assert.ok(Math.abs(hits[k]! / 200_000 - p) < 0.005, `key ${k}: ${hits[k]! / 200_000} vs ${p}`);
    }
    // Rank 1 is twice as likely as rank 2, ten times rank 10.
    assert.ok(Math.abs(z.probability(0) / z.probability(1) - 2) < 1e-9);
    assert.ok(Math.abs(z.probability(0) / z.probability(9) - 10) < 1e-9);
    const u = new KeySampler({ distribution: 'uniform', count: 10, exponent: 1 });
    assert.equal(u.probability(3), 0.1);
  });
});
