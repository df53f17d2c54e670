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

describe('config: upstream balancing', () => {
  it('defaults to round-robin with documented option defaults', () => {
    const u = load('    targets: []\n');
    assert.equal(u.algorithm, 'round-robin');
    assert.deepEqual(u.balancer, {
      slots: 10000,
      hashBalanceFactor: 0,
      choiceCount: 2,
      activeRequestBias: 1,
      decayWindowMs: 10000,
      maglevTableSize: 65537,
      loadHeader: 'x-load',
      loadFloor: 0.05,
      loadDecayMs: 10000,
    });
    assert.equal(u.hashOn.kind, 'none');
  });

  it("accepts every algorithm id and stores Kong's consistent-hashing as ring-hash", () => {
    for (const a of [
      'random',
      'least-connections',
      'least-request',
      'latency',
      'ring-hash',
      'maglev',
      'rendezvous',
      'resource',
    ])
      assert.equal(load(`    algorithm: ${a}\n`).algorithm, a);
    assert.equal(load('    algorithm: consistent-hashing\n').algorithm, 'ring-hash');
  });

  it('reads every option', () => {
    const u = load(
      '    algorithm: maglev\n    maglev_table_size: 251\n    hash_balance_factor: 1.5\n    hash_on: header\n    hash_on_header: X-User\n    hash_fallback: ip\n',
    );
    assert.equal(u.balancer.maglevTableSize, 251);
    assert.equal(u.balancer.hashBalanceFactor, 1.5);
    assert.deepEqual(u.hashOn, { kind: 'header', name: 'x-user' });
    assert.deepEqual(u.hashFallback, { kind: 'ip', name: '' });
    const c = load(
      '    algorithm: ring-hash\n    hash_on: cookie\n    hash_on_cookie: sticky\n    hash_on_cookie_path: /app\n',
    );
    assert.deepEqual(c.hashOn, { kind: 'cookie', name: 'sticky' });
    assert.equal(c.hashCookiePath, '/app');
    const cap = load(
      '    algorithm: rendezvous\n    hash_on: uri_capture\n    hash_on_uri_capture: tenant\n    hash_fallback: uri_capture\n    hash_fallback_uri_capture: "1"\n',
    );
    assert.deepEqual(cap.hashOn, { kind: 'uri_capture', name: 'tenant' });
    assert.deepEqual(cap.hashFallback, { kind: 'uri_capture', name: '1' });
    assert.equal(load('    algorithm: least-request\n    choice_count: 3\n').balancer.choiceCount, 3);
    assert.equal(load('    algorithm: latency\n    decay_window: 500\n').balancer.decayWindowMs, 500);
  });

  it('refuses bad combinations with the field position', () => {
    const notPrime = issues('    algorithm: maglev\n    maglev_table_size: 100\n');
    assert.equal(notPrime.length, 1);
    assert.match(notPrime[0]!, /^5:24 upstreams\[0\]\.maglev_table_size: .*prime/);
    assert.match(
      issues('    algorithm: ring-hash\n    hash_on: header\n')[0]!,
      /hash_on: header needs "hash_on_header"/,
    );
    assert.match(
      issues(
        '    algorithm: ring-hash\n    hash_on: cookie\n    hash_on_cookie: c\n    hash_fallback: ip\n',
      )[0]!,
      /upstreams\[0\]\.hash_fallback: expected "none" when hash_on is "cookie"/,
    );
    assert.match(issues('    hash_on: ip\n')[0]!, /hash_on is read only by the hashing algorithms/);
    assert.match(
      issues('    algorithm: maglev\n    hash_on: uri_capture\n')[0]!,
      /hash_on: uri_capture needs "hash_on_uri_capture"/,
    );
    assert.match(
      issues('    algorithm: ring-hash\n    hash_balance_factor: 0.5\n')[0]!,
      /hash_balance_factor/,
    );
    assert.match(issues('    algorithm: magic\n')[0]!, /algorithm: expected one of "round-robin", "random"/);
  });
});
