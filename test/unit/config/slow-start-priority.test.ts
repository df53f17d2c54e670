import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/config/load.ts';
import { loadSnapshotText } from '../../../src/config/validate.ts';

const load = (upstream: string) =>
  loadSnapshotText(`_format_version: "3.0"\nupstreams:\n  - name: u\n${upstream}`, 'f.yaml').upstreams[0]!;

function issues(upstream: string): string[] {
  try {
    load(upstream);
  } catch (err) {
    if (err instanceof ConfigError)
      return err.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('config: slow start and priority levels', () => {
  it('defaults: slow start off (aggression 1, min weight 10%), factor 1.4, priority 0', () => {
    const u = load('    targets: [{ target: "a:1" }]\n');
    assert.deepEqual(u.slowStart, { windowMs: 0, aggression: 1, minFraction: 0.1 });
    assert.equal(u.overprovisioningFactor, 1.4);
    assert.equal(u.targets[0]!.priority, 0);
    const implicit = loadSnapshotText(
      '_format_version: "3.0"\nservices:\n  - name: s\n    url: http://example.com:81\n',
      'f.yaml',
    ).upstreams[0]!;
    assert.equal(implicit.slowStart.windowMs, 0);
    assert.equal(implicit.targets[0]!.priority, 0);
  });

  it('reads every field, in the units the runtime uses', () => {
    const u = load(
      '    slow_start: 2.5\n    slow_start_aggression: 2\n    slow_start_min_weight_percent: 25\n    overprovisioning_factor: 2\n    targets:\n      - { target: "a:1", priority: 0 }\n      - { target: "b:1", priority: 3 }\n',
    );
    assert.deepEqual(u.slowStart, { windowMs: 2500, aggression: 2, minFraction: 0.25 });
    assert.equal(u.overprovisioningFactor, 2);
    assert.deepEqual(
      u.targets.map((t) => t.priority),
      [0, 3],
    );
    const top = loadSnapshotText(
      '_format_version: "3.0"\nupstreams:\n  - name: u\ntargets:\n  - { target: "c:1", upstream: u, priority: 2 }\n',
      'f.yaml',
    ).upstreams[0]!;
    assert.equal(top.targets[0]!.priority, 2);
  });

  it('refuses out-of-range values with their positions', () => {
    assert.match(issues('    slow_start: -1\n')[0]!, /^4:17 upstreams\[0\]\.slow_start: .*>= 0/);
    assert.match(issues('    slow_start: 3601\n')[0]!, /^4:17 upstreams\[0\]\.slow_start: .*<= 3600/);
    assert.match(
      issues('    slow_start_aggression: 0\n')[0]!,
      /^4:28 upstreams\[0\]\.slow_start_aggression: .*>= 0\.1/,
    );
    assert.match(
      issues('    slow_start_min_weight_percent: 0\n')[0]!,
      /^4:36 upstreams\[0\]\.slow_start_min_weight_percent: .*>= 1/,
    );
    assert.match(
      issues('    overprovisioning_factor: 0.5\n')[0]!,
      /^4:30 upstreams\[0\]\.overprovisioning_factor: .*>= 1/,
    );
    assert.match(
      issues('    slow_start: soon\n')[0]!,
      /^4:17 upstreams\[0\]\.slow_start: expected number, got "soon"$/,
    );
    assert.match(
      issues('    targets:\n      - { target: "a:1", priority: -1 }\n')[0]!,
      /^5:36 upstreams\[0\]\.targets\[0\]\.priority: .*>= 0/,
    );
    assert.match(
      issues('    targets:\n      - { target: "a:1", priority: 1.5 }\n')[0]!,
      /upstreams\[0\]\.targets\[0\]\.priority: expected integer/,
    );
  });
});
