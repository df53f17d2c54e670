/**
 * Kong's reading of a declarative document before validation (config/kong-compat.ts): null is
 * unset, and `_format_version` 1.1 / 2.1 regex paths are migrated as Kong 3 migrates them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kongPrepass, migrateRoutePath } from '../../../src/config/kong-compat.ts';
import { loadSnapshotText } from '../../../src/config/validate.ts';

describe('Kong 3 route path migration (1.1 and 2.1 files)', () => {
  it('a plain path is unchanged; one with a regex character becomes ~regex', () => {
    assert.equal(migrateRoutePath('/orders'), '/orders');
    assert.equal(migrateRoutePath('/a-b_c.d~e/%20'), '/a-b_c.d~e/%20');
    assert.equal(migrateRoutePath('/orders/\\d+$'), '~/orders/\\d+$');
    assert.equal(migrateRoutePath('/v(1|2)/x'), '~/v(1|2)/x');
  });

  it('percent-encoded characters of a regex path are decoded, reserved ones kept, meta ones escaped', () => {
    // %41 is "A" (decoded), %2F "/" stays encoded (reserved, upper-cased), %2e "." is escaped.
    assert.equal(migrateRoutePath('/x/%41%2f%2e(\\d+)'), '~/x/A%2F\\.(\\d+)');
  });

  it('only 1.1 and 2.1 documents are migrated, nested and top-level routes alike, with a warning each', () => {
    const doc = {
      _format_version: '1.1',
      services: [{ name: 's', host: 'h', routes: [{ paths: ['/a', '/b/\\d+'] }] }],
      routes: [{ service: 's', paths: ['/c/[0-9]+'] }],
    };
    const r = kongPrepass(doc);
    const v = r.value as typeof doc;
    assert.equal(v._format_version, '3.0');
    assert.deepEqual(v.services[0]!.routes[0]!.paths, ['/a', '~/b/\\d+']);
    assert.deepEqual(v.routes[0]!.paths, ['~/c/[0-9]+']);
    assert.deepEqual(
      r.warnings.map((w) => w.path),
      ['routes[0].paths[0]', 'services[0].routes[0].paths[1]'],
    );
    assert.match(
      r.warnings[0]!.message,
      /^format 1\.1 regex path "\/c\/\[0-9\]\+" is read as "~\/c\/\[0-9\]\+"/,
    );
    assert.equal((doc.routes[0]!.paths as string[])[0], '/c/[0-9]+', 'the input is not modified');
    const three = kongPrepass({ ...doc, _format_version: '3.0' });
    assert.deepEqual(three.warnings, []);
  });

  it('a 2.1 file loads, its regex route matching as a regex, with the warning in the snapshot', () => {
    const s = loadSnapshotText(
      '_format_version: "2.1"\nservices:\n  - name: s\n    host: h\n    routes:\n      - paths: ["/items/\\\\d+$"]\n',
      'old.yaml',
    );
    assert.deepEqual(s.routes[0]!.paths, ['~/items/\\d+$']);
    assert.equal(s.warnings.length, 1);
  });
});

describe('null is unset', () => {
  it('keys whose value is null are dropped at any depth; list items stay', () => {
    const r = kongPrepass({ a: null, b: { c: null, d: 1 }, e: [null, { f: null }] });
    assert.deepEqual(r.value, { b: { d: 1 }, e: [null, {}] });
  });

  it('a dump full of nulls loads with the defaults', () => {
    const s = loadSnapshotText(
      `_format_version: "3.0"
services:
  - name: s
    host: h
    path: ~
    client_certificate: null
    tls_verify_depth: null
    ca_certificates: null
    tags: ~
    routes:
      - name: r
        paths: [/x]
        hosts: null
        headers: null
        snis: null
        sources: null
        plugins:
          - name: cors
            config: { exposed_headers: null, headers: null, max_age: null, origins: null }
          - name: ip-restriction
            config: { allow: [10.0.0.0/8], deny: null, message: null, status: null }
`,
      'dump.yaml',
    );
    assert.equal(s.services[0]!.path, '/');
    assert.deepEqual(s.routes[0]!.hosts, []);
    assert.deepEqual(s.warnings, []);
  });
});

describe("a service's url beside its fields", () => {
  it('loads when they agree (as converters and dumps write them); a disagreement is refused', () => {
    const doc = (host: string) =>
      `_format_version: "3.0"\nservices:\n  - name: s\n    url: http://example-api.com/v1\n    protocol: http\n    host: ${host}\n    port: 80\n    path: /v1\n`;
    const s = loadSnapshotText(doc('example-api.com'), 'both.yaml');
    assert.equal(s.services[0]!.host, 'example-api.com');
    assert.equal(s.services[0]!.path, '/v1');
    assert.throws(() => loadSnapshotText(doc('other.com'), 'both.yaml'), /give either "url" or/);
  });
});
