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
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  return [];
}

describe('config: sticky', () => {
  it('is off by default, and on implicit upstreams', () => {
    assert.equal(load('    targets: [{ target: "a:1" }]\n').sticky, null);
    const implicit = loadSnapshotText(
      '_format_version: "3.0"\nservices:\n  - name: s\n    url: http://example.com:81\n',
      'f.yaml',
    ).upstreams[0]!;
    assert.equal(implicit.sticky, null);
  });

  it('defaults: cookie mode, fulcrum_sticky, session cookie, Path=/, HttpOnly, SameSite=Lax', () => {
    assert.deepEqual(load('    sticky: {}\n').sticky, {
      mode: 'cookie',
      cookie: {
        name: 'fulcrum_sticky',
        ttlMs: 0,
        path: '/',
        domain: '',
        secure: false,
        httpOnly: true,
        sameSite: 'Lax',
      },
      secret: '',
      tableSize: 100000,
      idleTimeoutMs: 1800000,
      tableStore: 'local',
    });
  });

  it('reads every field, in the units the runtime uses', () => {
    const c = load(
      '    sticky:\n      mode: cookie\n      secret: "0123456789abcdef"\n      cookie: { name: SRV, ttl: 3600, path: /app, domain: example.com, secure: true, http_only: false, same_site: None }\n',
    ).sticky!;
    assert.deepEqual(c.cookie, {
      name: 'SRV',
      ttlMs: 3_600_000,
      path: '/app',
      domain: 'example.com',
      secure: true,
      httpOnly: false,
      sameSite: 'None',
    });
    assert.equal(c.secret, '0123456789abcdef');
    const s = load('    sticky: { mode: source-ip, source_ip: { table_size: 5000, idle_timeout: 60 } }\n')
      .sticky!;
    assert.equal(s.mode, 'source-ip');
    assert.equal(s.tableSize, 5000);
    assert.equal(s.idleTimeoutMs, 60_000);
    assert.equal(s.tableStore, 'local');
    const shared = load('    sticky: { mode: source-ip, source_ip: { store: cluster } }\n').sticky!;
    assert.equal(shared.tableStore, 'cluster');
  });

  it('refuses bad values and fields the mode does not read', () => {
    assert.deepEqual(issues('    sticky: { mode: sticky }\n').length, 1);
    assert.match(issues('    sticky: { secret: short }\n')[0]!, /upstreams\[0\]\.sticky\.secret/);
    assert.match(issues('    sticky: { cookie: { name: "a b" } }\n')[0]!, /sticky\.cookie\.name/);
    assert.match(issues('    sticky: { cookie: { path: "/a;b" } }\n')[0]!, /sticky\.cookie\.path/);
    assert.match(issues('    sticky: { cookie: { ttl: -1 } }\n')[0]!, /sticky\.cookie\.ttl/);
    assert.match(issues('    sticky: { cookie: { same_site: lax } }\n')[0]!, /sticky\.cookie\.same_site/);
    assert.deepEqual(issues('    sticky: { cookie: { same_site: None } }\n'), [
      'upstreams[0].sticky.cookie.same_site: SameSite=None needs "secure: true"',
    ]);
    assert.deepEqual(issues('    sticky: { mode: source-ip, cookie: { name: x } }\n'), [
      'upstreams[0].sticky: "cookie" and "secret" are read in cookie mode only, not with mode source-ip',
    ]);
    assert.deepEqual(issues('    sticky: { source_ip: { table_size: 10 } }\n'), [
      'upstreams[0].sticky.source_ip: read with mode source-ip only',
    ]);
    assert.match(issues('    sticky: { mode: source-ip, source_ip: { table_size: 0 } }\n')[0]!, /table_size/);
    assert.match(issues('    sticky: { extra: 1 }\n')[0]!, /sticky/);
    assert.deepEqual(
      issues(
        '    algorithm: maglev\n    hash_on: cookie\n    hash_on_cookie: fulcrum_sticky\n    sticky: {}\n',
      ),
      ['upstreams[0].sticky.cookie.name: expected a name other than hash_on_cookie ("fulcrum_sticky")'],
    );
  });
});
