/** Plugin configs are validated with the rest of the file: errors carry file:line:col and a path. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, type ConfigIssue, formatIssue } from '../../../src/config/load.ts';
import { loadSnapshotText } from '../../../src/config/validate.ts';

function issuesOf(text: string): ConfigIssue[] {
  try {
    loadSnapshotText(text, 'f.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return [...err.issues];
  }
  assert.fail('expected the configuration to be refused');
}

function one(issues: ConfigIssue[], path: string): ConfigIssue {
  const found = issues.filter((i) => i.path === path);
  assert.equal(found.length, 1, `one issue at ${path}; got:\n${issues.map(formatIssue).join('\n')}`);
  return found[0]!;
}

const HEAD =
  '_format_version: "3.0"\nservices:\n  - name: s\n    url: http://127.0.0.1:1\n    routes:\n      - name: r\n        paths: [/]\n';

describe('plugin configuration', () => {
  it('reports a structural error inside config with its position and path', () => {
    const issues = issuesOf(
      `${HEAD}plugins:\n  - name: key-auth\n    config:\n      key_names: apikey\n      nope: 1\n`,
    );
    const a = one(issues, 'plugins[0].config.key_names');
    assert.equal(a.line, 11);
    assert.equal(a.column, 18);
    assert.match(a.message, /expected array/);
    const b = one(issues, 'plugins[0].config.nope');
    assert.match(b.message, /unknown field; expected one of: key_names,/);
    assert.ok(!issues.some((i) => /then/.test(i.message)), issues.map(formatIssue).join('\n'));
  });

  it('names the fields of the right object for unknown fields in a nested plugin and its config', () => {
    const issues = issuesOf(
      `${HEAD}        plugins:\n          - name: cors\n            bar: 2\n            config: { nope: 1 }\n`,
    );
    assert.match(
      one(issues, 'services[0].routes[0].plugins[0].bar').message,
      /expected one of: id, name, instance_name,/,
    );
    assert.match(
      one(issues, 'services[0].routes[0].plugins[0].config.nope').message,
      /expected one of: origins, methods,/,
    );
  });

  it('reports semantic errors: unsupported fields, missing references, consumer scope of an auth plugin', () => {
    const issues = issuesOf(`${HEAD}consumers:
  - username: c
    plugins:
      - name: key-auth
plugins:
  - name: key-auth
    route: missing
  - name: key-auth
    config: { key_in_body: true, anonymous: ghost }
`);
    assert.match(one(issues, 'consumers[0].plugins[0]').message, /cannot be scoped to one/);
    assert.match(one(issues, 'plugins[0].route').message, /route "missing" does not exist/);
    assert.equal(
      issues.filter((i) => i.path === 'plugins[1].config.key_in_body').length,
      0,
      'key_in_body is supported',
    );
    assert.equal(
      issues.filter((i) => i.path === 'plugins[1].config.anonymous').length,
      0,
      'an anonymous consumer that does not exist loads, as in Kong',
    );
  });

  it('an anonymous consumer that does not exist loads with a warning, as in Kong', () => {
    const s = loadSnapshotText(
      `${HEAD}plugins:\n  - name: key-auth\n    config: { anonymous: ghost }\n`,
      'f.yaml',
    );
    assert.deepEqual(
      s.warnings.map((w) => [w.path, w.message]),
      [
        [
          'plugins[0].config.anonymous',
          'consumer "ghost" does not exist; a request that does not authenticate is answered 500, as in Kong',
        ],
      ],
    );
  });

  it('refuses the same plugin twice in one scope, and duplicate keys across consumers', () => {
    const issues = issuesOf(`${HEAD}    plugins:
      - name: key-auth
plugins:
  - name: key-auth
    service: s
  - name: key-auth
consumers:
  - username: a
    keyauth_credentials: [{ key: k }]
  - username: b
    keyauth_credentials: [{ key: k }]
`);
    assert.match(
      one(issues, 'plugins[0]').message,
      /already configured for this scope \(at services\[0\]\.plugins\[0\]\)/,
    );
    assert.match(
      one(issues, 'consumers[1].keyauth_credentials[0].key').message,
      /duplicate key-auth key \(also at consumers\[0\]/,
    );
  });

  it('refuses jwt secrets that cannot verify their algorithm', () => {
    const issues = issuesOf(`${HEAD}consumers:
  - username: a
    jwt_secrets:
      - { key: k1, algorithm: HS256 }
      - { key: k2, algorithm: RS256, rsa_public_key: "not a pem" }
      - { key: k1, algorithm: HS512, secret: s }
`);
    assert.match(one(issues, 'consumers[0].jwt_secrets[0]').message, /HS256 needs a "secret"/);
    assert.match(one(issues, 'consumers[0].jwt_secrets[1]').message, /not a PEM public key/);
    assert.match(one(issues, 'consumers[0].jwt_secrets[2].key').message, /duplicate jwt key/);
    const structural = issuesOf(
      `${HEAD}consumers:\n  - username: a\n    jwt_secrets: [{ key: k3, algorithm: XS1, secret: s }]\n`,
    );
    assert.match(one(structural, 'consumers[0].jwt_secrets[0].algorithm').message, /expected one of "HS256"/);
  });

  it('refuses a traffic-split naming a service that does not exist', () => {
    const issues = issuesOf(
      `${HEAD}plugins:\n  - name: traffic-split\n    config:\n      rules: [{ services: [{ service: s }, { service: ghost }] }]\n`,
    );
    assert.match(
      one(issues, 'plugins[0].config.rules[0].services[1].service').message,
      /service "ghost" does not exist/,
    );
  });

  it('normalizes scopes and defaults', () => {
    const s = loadSnapshotText(
      `${HEAD}        plugins:\n          - name: key-auth\n            enabled: false\nconsumers:\n  - username: u\n    acls: [{ group: g }, { group: g }]\nplugins:\n  - name: key-auth\n    service: s\n    config: { hide_credentials: true }\n`,
      'f.yaml',
    );
    const route = s.routes[0]!;
    assert.deepEqual(
      s.plugins.map((p) => [p.name, p.enabled, p.service, p.route, p.consumer, p.path]),
      [
        ['key-auth', false, null, route.id, null, 'services[0].routes[0].plugins[0]'],
        ['key-auth', true, 's', null, null, 'plugins[0]'],
      ],
    );
    assert.deepEqual(s.plugins[1]!.config, {
      key_names: ['apikey'],
      key_in_header: true,
      key_in_query: true,
      key_in_body: false,
      hide_credentials: true,
      anonymous: null,
      run_on_preflight: true,
      body_limit: 1048576,
    });
    assert.deepEqual(s.consumers[0]!.acls, ['g']);
  });
});
