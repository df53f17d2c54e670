/**
 * The registry's pieces without a server (docs/discovery.md#registry): the `registry` node setting
 * and an upstream's `registry`, refused with file, line and path when wrong; one registration's
 * value read into target fields or refused with the reason; and the set of registrations, which
 * tells discovery only when an upstream's targets change (not on a heartbeat).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/config/load.ts';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import {
  parseRegistration,
  type RegisteredTarget,
  RegistrationSet,
} from '../../../src/discovery/registry.ts';

const load = (yaml: string) => loadSnapshotText(`_format_version: "3.0"\n${yaml}`, 'f.yaml');

function issues(yaml: string): string[] {
  try {
    load(yaml);
  } catch (err) {
    if (err instanceof ConfigError)
      return err.issues.map((i) => `${i.file}:${i.line} ${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('config: registry', () => {
  it('reads etcd and redis settings with their defaults, and an upstream that takes registrations', () => {
    const s = load(`registry:
  etcd:
    endpoints: ["127.0.0.1", "[::1]:2380", "etcd-1.internal:12379"]
  redis: {}
upstreams:
  - name: api
    registry: true
  - name: web
`);
    assert.deepEqual(s.node.registry, {
      etcd: {
        endpoints: ['127.0.0.1:2379', '[::1]:2380', 'etcd-1.internal:12379'],
        prefix: 'fulcrum/',
        dialTimeoutMs: 2000,
      },
      redis: { refreshMs: 10_000 },
    });
    assert.equal(s.upstreams[0]!.registry, true);
    assert.equal(s.upstreams[1]!.registry, undefined);
    assert.deepEqual(load('upstreams: []\n').node.registry, { etcd: null, redis: null });
    assert.equal(
      load('registry:\n  etcd:\n    endpoints: [e:1]\n    prefix: svc\n').node.registry.etcd!.prefix,
      'svc/',
    );
  });

  it('refuses bad settings with file, line and path', () => {
    assert.deepEqual(issues('registry:\n  etcd:\n    endpoints: ["http://127.0.0.1:2379"]\n'), [
      'f.yaml:4 registry.etcd.endpoints[0]: expected address:port of an etcd member (no scheme; port 2379 when omitted), got "http://127.0.0.1:2379"',
    ]);
    const missing = issues('registry:\n  etcd:\n    prefix: x/\n');
    assert.equal(missing.length, 1);
    assert.match(missing[0]!, /^f\.yaml:\d registry\.etcd: missing required field "endpoints"/);
    const unknown = issues('registry:\n  consul: {}\n');
    assert.equal(unknown.length, 1);
    assert.match(unknown[0]!, /^f\.yaml:\d+ registry/);
    const notBool = issues('upstreams:\n  - name: api\n    registry: yes please\n');
    assert.equal(notBool.length, 1);
    assert.match(notBool[0]!, /^f\.yaml:4 upstreams\[0\]\.registry: /);
    assert.match(
      issues('registry:\n  redis:\n    refresh_interval: 0\n')[0]!,
      /registry\.redis\.refresh_interval/,
    );
  });
});

describe('a registration', () => {
  const parse = (address: string, value: string) => parseRegistration('api', address, value, 'k', 5);

  it('reads weight, priority, zone and tags; an empty value takes the defaults', () => {
    assert.deepEqual(parse('10.0.0.1:8080', '{"weight":50,"priority":1,"zone":"z","tags":["a","b"]}'), {
      upstream: 'api',
      target: '10.0.0.1:8080',
      host: '10.0.0.1',
      port: 8080,
      weight: 50,
      priority: 1,
      zone: 'z',
      tags: ['a', 'b'],
      key: 'k',
      lastSeenMs: 5,
    });
    const d = parse('[::1]:9000', '') as RegisteredTarget;
    assert.equal(d.target, '[::1]:9000');
    assert.equal(d.weight, null);
    assert.deepEqual((parse('h.internal:1', '{"tags":"x, y"}') as RegisteredTarget).tags, ['x', 'y']);
  });

  it('is refused with the reason when its address or value is wrong', () => {
    const why = (address: string, value: string) => (parse(address, value) as { error: string }).error;
    assert.match(why('10.0.0.1:99999', ''), /expected address:port/);
    assert.match(why('10.0.0.1:80', '{"weight":'), /not JSON/);
    assert.match(why('10.0.0.1:80', '[1]'), /expected a JSON object/);
    assert.match(why('10.0.0.1:80', '{"weight":-1}'), /weight: expected an integer from 0 to 65535/);
    assert.match(why('10.0.0.1:80', '{"priority":256}'), /priority: expected an integer from 0 to 255/);
    assert.match(why('10.0.0.1:80', '{"zone":3}'), /zone: expected a string/);
    assert.match(why('10.0.0.1:80', '{"tags":[1]}'), /tags: expected a list of strings/);
    assert.match(why('10.0.0.1:80', `{"zone":"${'x'.repeat(20_000)}"}`), /larger than/);
  });
});

describe('the set of registrations', () => {
  it('tells a change of targets, not a heartbeat; a refused registration is reported once', () => {
    let changes = 0;
    const refused: string[] = [];
    const set = new RegistrationSet(
      () => changes++,
      (key, why) => refused.push(`${key}: ${why}`),
    );
    set.put('api', '10.0.0.1:80', '{"weight":5}', 'a', 1);
    set.put('web', '10.0.0.2:80', '', 'b', 1);
    set.commit();
    assert.equal(changes, 1);
    assert.deepEqual(
      set.targets('api').map((t) => [t.target, t.weight]),
      [['10.0.0.1:80', 5]],
    );
    set.put('api', '10.0.0.1:80', '{"weight":5}', 'a', 2); // the same, read again
    set.commit();
    assert.equal(changes, 1);
    assert.equal(set.targets('api')[0]!.lastSeenMs, 2);
    set.put('api', '10.0.0.1:80', '{"weight":"x"}', 'a', 3);
    set.put('api', '10.0.0.1:80', '{"weight":"x"}', 'a', 4);
    set.commit();
    assert.equal(changes, 2, 'a registration that turned bad leaves');
    assert.deepEqual(set.targets('api'), []);
    assert.equal(refused.length, 1);
    assert.deepEqual(Object.keys(set.errors()), ['a']);
    set.retain(new Set(['b']));
    set.commit();
    assert.equal(changes, 2, 'dropping a refused registration changes no target');
    set.delete('b');
    set.commit();
    assert.equal(changes, 3);
    assert.equal(set.size(), 0);
  });
});
