import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSnapshotText } from '../../../src/config/validate.ts';

const load = (yaml: string) => loadSnapshotText(`_format_version: "3.0"\n${yaml}`, 'f.yaml');

describe('config: zones', () => {
  it('defaults to no zone on the node and on targets', () => {
    const s = load('upstreams:\n  - name: u\n    targets: [{ target: "a:1" }]\n');
    assert.equal(s.node.zone, '');
    assert.equal(s.upstreams[0]!.targets[0]!.zone, '');
  });

  it('reads the node zone and target zones, nested and top-level', () => {
    const s = load(
      'zone: eu-west-1a\nupstreams:\n  - name: u\n    targets: [{ target: "a:1", zone: eu-west-1a }]\ntargets:\n  - { target: "b:1", upstream: u, zone: eu-west-1b }\n',
    );
    assert.equal(s.node.zone, 'eu-west-1a');
    assert.deepEqual(
      s.upstreams[0]!.targets.map((t) => t.zone),
      ['eu-west-1a', 'eu-west-1b'],
    );
  });

  it('refuses an empty or non-string zone', () => {
    assert.throws(() => load('zone: ""\n'), /zone/);
    assert.throws(() => load('upstreams:\n  - name: u\n    targets: [{ target: "a:1", zone: 3 }]\n'), /zone/);
  });
});
