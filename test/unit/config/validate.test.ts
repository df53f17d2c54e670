import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, type ConfigIssue, formatIssue } from '../../../src/config/load.ts';
import { loadSnapshotFile, loadSnapshotText } from '../../../src/config/validate.ts';

// dist/test/unit/config → the repository root (fixtures are read from the source tree).
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures');

/** The issues of a text that must be refused. */
function issuesOf(text: string, file = 'f.yaml'): ConfigIssue[] {
  try {
    loadSnapshotText(text, file);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return [...err.issues];
  }
  assert.fail('expected the configuration to be refused');
}

/** The one issue at `path`; fails when there is none or more than one. */
function at(issues: ConfigIssue[], path: string): ConfigIssue {
  const found = issues.filter((i) => i.path === path);
  assert.equal(found.length, 1, `one issue at ${path}; got:\n${issues.map(formatIssue).join('\n')}`);
  return found[0]!;
}

function expectAt(issue: ConfigIssue, line: number, column: number, message: RegExp): void {
  assert.deepEqual({ line: issue.line, column: issue.column }, { line, column }, formatIssue(issue));
  assert.match(issue.message, message);
}

const HEAD = '_format_version: "3.0"\n';
/** The L4 fields every listener carries (docs/l4.md), at their defaults. */
const HTTP_LISTENER_DEFAULTS = { proxyProtocol: false, maxConnections: 0, maxSessions: 65536 };

describe('config: a Kong DB-less file loads as is', () => {
  for (const name of ['kong-3.0.yaml', 'kong-3.0.json']) {
    it(`loads ${name} with every object and Kong's defaults`, () => {
      const s = loadSnapshotFile(join(FIXTURES, name));
      assert.deepEqual(s.problems, []);
      assert.deepEqual(
        s.services.map((x) => [x.name, x.protocol, x.host, x.port, x.path, x.upstream]),
        [
          ['orders', 'http', 'orders.upstream', 80, '/v2', 'orders.upstream'],
          ['billing', 'http', 'billing.internal', 8080, '/api', 'billing.internal:8080'],
          ['legacy', 'http', '10.0.0.12', 8081, '/', '10.0.0.12:8081'],
        ],
      );
      const orders = s.services[0]!;
      assert.deepEqual(
        [orders.connectTimeoutMs, orders.readTimeoutMs, orders.writeTimeoutMs, orders.retries],
        [5000, 30000, 30000, 3],
      );
      assert.deepEqual(orders.tags, ['team-orders', 'prod']);
      assert.deepEqual(
        s.routes.map((r) => [r.name, r.service, r.path, r.stripPath, r.preserveHost, r.pathHandling]),
        [
          ['orders-api', 'orders', 'services[0].routes[0]', true, false, 'v0'],
          ['orders-by-id', 'orders', 'services[0].routes[1]', false, false, 'v0'],
          ['billing-api', 'billing', 'services[1].routes[0]', true, true, 'v0'],
          ['legacy', 'legacy', 'services[2].routes[0]', true, false, 'v1'],
        ],
      );
      assert.deepEqual(s.routes[0]!.hosts, ['api.example.com', '*.api.example.com']);
      assert.deepEqual(s.routes[1]!.paths, ['~/orders/\\d+$']);
      assert.equal(s.routes[1]!.regexPriority, 10);
      assert.deepEqual(s.routes[2]!.headers, { 'x-api-version': ['2', '3'] });
      const up = s.upstreams.find((u) => u.name === 'orders.upstream')!;
      assert.equal(up.implicit, false);
      assert.equal(up.hostHeader, 'orders.internal');
      assert.deepEqual(
        up.targets.map((t) => [t.target, t.weight]),
        [
          ['10.0.1.10:8000', 100],
          ['10.0.1.11:8000', 50],
          ['orders-3.internal:8000', 0],
        ],
      );
      const implicit = s.upstreams.find((u) => u.name === 'billing.internal:8080')!;
      assert.equal(implicit.implicit, true);
      assert.deepEqual(
        s.consumers.map((c) => [c.username, c.customId]),
        [
          ['mobile-app', 'app-001'],
          ['partner', undefined],
        ],
      );
      assert.ok(Object.isFrozen(s) && Object.isFrozen(s.routes[0]) && Object.isFrozen(s.routes[0]!.paths));
    });
  }

  it('gives snapshots that differ only in a set-valued field (retry statuses) different hashes', () => {
    // An equal hash is taken for an identical snapshot, which builds nothing (copy-on-swap).
    const text = (statuses: string) => `_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9/
    retry_policy: { retry_on: [http-status], statuses: ${statuses} }
    routes: [{ name: r, paths: [/] }]
`;
    const a = loadSnapshotText(text('[502]'), 'a.yaml');
    const b = loadSnapshotText(text('[503, 504]'), 'b.yaml');
    const c = loadSnapshotText(text('[504, 503]'), 'c.yaml');
    assert.notEqual(a.hash, b.hash);
    assert.equal(b.hash, c.hash, 'the same set in another order');
  });

  it('gives the YAML and the JSON form the same hash', () => {
    const a = loadSnapshotFile(join(FIXTURES, 'kong-3.0.yaml'));
    const b = loadSnapshotFile(join(FIXTURES, 'kong-3.0.json'));
    assert.equal(a.hash, b.hash);
    assert.notEqual(a.source, b.source);
  });
});

describe('config: defaults', () => {
  const s = loadSnapshotText(
    `${HEAD}services:\n  - name: s\n    host: u\n    routes:\n      - paths: [/]\nupstreams:\n  - name: u\n    targets:\n      - target: backend.internal\n`,
    'd.yaml',
  );

  it('binds 0.0.0.0:8000 and admin 127.0.0.1:8001 when no listener is named', () => {
    assert.deepEqual(s.node.listeners, [
      {
        name: 'proxy',
        protocol: 'http',
        address: '0.0.0.0',
        port: 8000,
        ...HTTP_LISTENER_DEFAULTS,
        tls: null,
      },
    ]);
    assert.deepEqual(s.node.admin, {
      enabled: true,
      address: '127.0.0.1',
      port: 8001,
      token: '',
      allowInsecure: false,
      allowedHosts: [],
      tls: null,
    });
  });

  it('applies the route defaults (strip_path true, preserve_host false, v0, both protocols)', () => {
    const r = s.routes[0]!;
    assert.equal(r.stripPath, true);
    assert.equal(r.preserveHost, false);
    assert.equal(r.pathHandling, 'v0');
    assert.equal(r.regexPriority, 0);
    assert.equal(r.priority, 0);
    assert.deepEqual(r.protocols, ['http', 'https']);
    assert.deepEqual(r.methods, []);
    assert.equal(r.name, '');
  });

  it('applies the service defaults (retries 5, timeouts 60000, http, port 80, path /)', () => {
    const sv = s.services[0]!;
    assert.deepEqual(
      [sv.retries, sv.connectTimeoutMs, sv.readTimeoutMs, sv.writeTimeoutMs],
      [5, 60000, 60000, 60000],
    );
    assert.deepEqual([sv.protocol, sv.port, sv.path, sv.enabled], ['http', 80, '/', true]);
  });

  it('gives every request a deadline: request_timeout twice read_timeout unless set (0 turns it off)', () => {
    assert.equal(s.services[0]!.requestTimeoutMs, 120000);
    const t = loadSnapshotText(
      `${HEAD}services:\n  - { name: a, url: "http://x", read_timeout: 5000 }\n  - { name: b, url: "http://x", read_timeout: 5000, request_timeout: 0 }\n  - { name: c, url: "http://x", request_timeout: 7000 }\n`,
      't.yaml',
    );
    assert.deepEqual(
      t.services.map((x) => x.requestTimeoutMs),
      [10000, 0, 7000],
    );
  });

  it('gives a target weight 100 and port 8000 when they are omitted', () => {
    const t = s.upstreams[0]!.targets[0]!;
    assert.deepEqual(
      [t.target, t.host, t.port, t.weight],
      ['backend.internal:8000', 'backend.internal', 8000, 100],
    );
  });

  it('names a listener proxy-<port> and binds 0.0.0.0 when only a port is given', () => {
    const n = loadSnapshotText(`${HEAD}listeners:\n  - port: 9000\n`, 'l.yaml').node;
    assert.deepEqual(n.listeners, [
      {
        name: 'proxy-9000',
        protocol: 'http',
        address: '0.0.0.0',
        port: 9000,
        ...HTTP_LISTENER_DEFAULTS,
        tls: null,
      },
    ]);
  });
});

describe('config: every structural error at once, each with file:line:column, path and expectation', () => {
  const text = `${HEAD}services:
  - name: a
    host: up
    colour: red
    retries: many
    port: 70000
    protocol: ftp
upstreams:
  - algorithm: round-robin
`;
  const issues = issuesOf(text, 'five.yaml');

  it('reports all five mistakes', () => {
    assert.equal(issues.length, 5, issues.map(formatIssue).join('\n'));
    assert.ok(issues.every((i) => i.file === 'five.yaml'));
  });

  it('points an unknown field at its key and lists the known ones', () => {
    expectAt(at(issues, 'services[0].colour'), 5, 5, /^unknown field; expected one of: id, name, url, /);
  });

  it('points a wrong type at the value', () => {
    expectAt(at(issues, 'services[0].retries'), 6, 14, /^expected integer, got "many"$/);
  });

  it('points an out-of-range number at the value', () => {
    expectAt(at(issues, 'services[0].port'), 7, 11, /^expected a number <= 65535, got 70000$/);
  });

  it('points a value outside an enum at the value and lists the allowed ones', () => {
    expectAt(at(issues, 'services[0].protocol'), 8, 15, /^expected one of "http", "https", .*got "ftp"$/);
  });

  it('points a missing required field at the object that lacks it', () => {
    expectAt(at(issues, 'upstreams[0]'), 10, 5, /^missing required field "name"$/);
  });

  it('formats an issue as file:line:column: path: message', () => {
    assert.equal(
      formatIssue(at(issues, 'services[0].port')),
      'five.yaml:7:11: services[0].port: expected a number <= 65535, got 70000',
    );
  });

  it('locates deep paths inside nested lists', () => {
    const deep = issuesOf(
      `${HEAD}services:\n  - name: a\n    host: u\n    routes:\n      - paths: [/a]\n      - paths: [/b]\n      - paths: [/c, 42]\n`,
    );
    expectAt(at(deep, 'services[0].routes[2].paths[1]'), 8, 21, /^expected string, got 42$/);
  });

  it('reports the missing _format_version and a top-level list', () => {
    expectAt(at(issuesOf('services: []\n'), ''), 1, 1, /missing required field "_format_version"/);
    expectAt(at(issuesOf('- a\n- b\n'), ''), 1, 1, /expected a mapping at the top level, got a list/);
  });

  it('refuses a route header with an empty value list and a negative weight', () => {
    const i = issuesOf(
      `${HEAD}services:\n  - name: a\n    host: u\n    routes:\n      - headers:\n          x-a: []\nupstreams:\n  - name: u\n    targets:\n      - target: a:1\n        weight: -1\n`,
    );
    expectAt(at(i, 'services[0].routes[0].headers.x-a'), 7, 16, /^expected at least 1 item/);
    expectAt(at(i, 'upstreams[0].targets[0].weight'), 12, 17, /^expected a number >= 0, got -1$/);
  });
});

describe('config: semantic errors, all at once', () => {
  const text = `${HEAD}services:
  - name: a
    host: up
    routes:
      - name: r1
        paths: ["/x", "~/(x", "nope"]
      - name: r1
        hosts: ["bad host"]
  - name: a
    url: http://h:1/p
    host: other
upstreams:
  - name: up
    targets:
      - target: "host:99999"
      - target: "a:b:c"
      - target: 1.2.3.4
      - target: 1.2.3.4:8000
`;
  const issues = issuesOf(text, 'sem.yaml');

  it('reports every one of them', () => {
    assert.equal(issues.length, 9, issues.map(formatIssue).join('\n'));
  });

  it('points a regex path that does not compile at the path', () => {
    expectAt(
      at(issues, 'services[0].routes[0].paths[1]'),
      7,
      23,
      /^invalid regular expression: Unterminated group$/,
    );
  });

  it('points a path that is neither /prefix nor ~regex at the path', () => {
    expectAt(at(issues, 'services[0].routes[0].paths[2]'), 7, 31, /expected a path starting with "\/"/);
  });

  it('points a duplicate route name at the second name, naming the first', () => {
    expectAt(
      at(issues, 'services[0].routes[1].name'),
      8,
      15,
      /^duplicate route name "r1" \(also at services\[0\]\.routes\[0\]\)$/,
    );
  });

  it('points a malformed host at the host', () => {
    expectAt(at(issues, 'services[0].routes[1].hosts[0]'), 9, 17, /expected a hostname/);
  });

  it('points a duplicate service name at the second name', () => {
    expectAt(
      at(issues, 'services[1].name'),
      10,
      11,
      /^duplicate service name "a" \(also at services\[0\]\)$/,
    );
  });

  it('refuses url and host together, pointing at url', () => {
    expectAt(
      at(issues, 'services[1].url'),
      11,
      5,
      /give either "url" or "protocol"\/"host"\/"port"\/"path", not both/,
    );
  });

  it('refuses a bad target host:port, pointing at the target value', () => {
    const bad = issues.filter((i) => /^upstreams\[0\]\.targets\[[01]\]\.target$/.test(i.path));
    assert.equal(bad.length, 2);
    expectAt(bad[0]!, 16, 17, /^expected host:port .*got "host:99999"$/);
    expectAt(bad[1]!, 17, 17, /^expected host:port .*got "a:b:c"$/);
  });

  it('refuses a duplicate target (port 8000 implied) and names the first', () => {
    expectAt(
      at(issues, 'upstreams[0].targets[3].target'),
      19,
      17,
      /^duplicate target 1\.2\.3\.4:8000 in upstream "up" \(first at upstreams\[0\]\.targets\[2\]\)$/,
    );
  });

  it('refuses a route without any match rule and a nested route naming another service', () => {
    const i = issuesOf(
      `${HEAD}services:\n  - name: a\n    host: u\n    routes:\n      - strip_path: false\n      - service: b\n        paths: [/]\n`,
    );
    expectAt(
      at(i, 'services[0].routes[0]'),
      6,
      9,
      /needs at least one of "hosts", "paths", "methods" or "headers"/,
    );
    expectAt(at(i, 'services[0].routes[1].service'), 7, 18, /belongs to its parent service "a"/);
  });

  it('refuses an unknown plugin and a Host header rule', () => {
    const i = issuesOf(
      `${HEAD}plugins:\n  - name: no-such-plugin\nservices:\n  - name: a\n    host: u\n    routes:\n      - headers:\n          Host: [x]\n`,
    );
    // Kong's message, with the plugins this version has.
    expectAt(
      at(i, 'plugins[0].name'),
      3,
      11,
      /^plugin 'no-such-plugin' not enabled; add it to the 'plugins' configuration property \(Fulcrum has: key-auth, /,
    );
    expectAt(at(i, 'services[0].routes[0].headers.Host'), 9, 11, /use "hosts"/);
  });
});

describe('config: syntax errors and JSON positions', () => {
  it('reports a YAML syntax error with its line and column', () => {
    const i = issuesOf(`${HEAD}services:\n  - name: a\n    host: up\n   bad: indent\n`);
    assert.ok(i.length >= 1);
    assert.equal(i[0]!.line, 5);
    assert.equal(i[0]!.path, '');
    assert.match(i[0]!.message, /^syntax: /);
  });

  it('refuses a duplicate key as a syntax error at the second key', () => {
    const i = issuesOf(`${HEAD}services:\n  - name: a\n    name: b\n`);
    expectAt(i[0]!, 4, 5, /^syntax: Map keys must be unique/);
  });

  it('reports JSON errors at their JSON positions', () => {
    const json = `{
  "_format_version": "3.0",
  "services": [
    { "name": "a", "host": "up", "retries": -1,
      "routes": [ { "paths": ["/ok", 7] } ] }
  ]
}
`;
    const i = issuesOf(json, 'f.json');
    assert.equal(i.length, 2, i.map(formatIssue).join('\n'));
    expectAt(at(i, 'services[0].retries'), 4, 45, /^expected a number >= 0, got -1$/);
    expectAt(at(i, 'services[0].routes[0].paths[1]'), 5, 38, /^expected string, got 7$/);
    assert.equal(i[0]!.file, 'f.json');
  });

  it('reports malformed JSON as a syntax error on its line', () => {
    const i = issuesOf('{\n  "_format_version": "3.0",\n  "services": [ }\n', 'bad.json');
    assert.ok(i.length >= 1);
    assert.equal(i[0]!.line, 3);
    assert.match(i[0]!.message, /^syntax: /);
  });

  it('reports a file that cannot be read', () => {
    assert.throws(
      () => loadSnapshotFile(join(FIXTURES, 'does-not-exist.yaml')),
      (err: unknown) => err instanceof ConfigError && /cannot read/.test(err.issues[0]!.message),
    );
  });
});

describe('config: problems degrade one object instead of refusing the file', () => {
  const s = loadSnapshotText(
    `${HEAD}services:\n  - name: live\n    url: http://127.0.0.1:9/\n    routes:\n      - paths: [/live]\nroutes:\n  - name: orphan\n    service: ghost\n    paths: [/ghost]\n  - paths: [/nobody]\ntargets:\n  - upstream: nowhere\n    target: 1.2.3.4:80\n`,
    'p.yaml',
  );

  it('keeps a top-level route naming a missing service, disabled, with a problem', () => {
    assert.deepEqual(s.problems, [
      { path: 'targets[0]', message: 'upstream "nowhere" does not exist; target ignored' },
      { path: 'routes[0]', message: 'service "ghost" does not exist; route disabled' },
    ]);
    // A route without a service is valid in Kong: it loads, with a warning (it answers 503).
    assert.deepEqual(
      s.warnings.map((w) => w.path),
      ['routes[1]'],
    );
    assert.match(s.warnings[0]!.message, /^this route has no service: its requests are answered 503/);
    assert.deepEqual(
      s.routes.map((r) => [r.path, r.service]),
      [
        ['services[0].routes[0]', 'live'],
        ['routes[0]', 'ghost'],
        ['routes[1]', ''],
      ],
    );
  });

  it('attaches top-level routes and targets that name existing objects', () => {
    const t = loadSnapshotText(
      `${HEAD}services:\n  - name: s\n    host: u\nroutes:\n  - service: s\n    paths: [/top]\nupstreams:\n  - name: u\ntargets:\n  - upstream: u\n    target: 10.0.0.1:81\n`,
      't.yaml',
    );
    assert.deepEqual(t.problems, []);
    assert.equal(t.routes[0]!.service, 's');
    assert.deepEqual(
      t.upstreams[0]!.targets.map((x) => x.target),
      ['10.0.0.1:81'],
    );
  });
});

describe('config: fixtures on disk', () => {
  it('the JSON fixture is the YAML fixture, converted', async () => {
    const { parse } = await import('yaml');
    const y = parse(readFileSync(join(FIXTURES, 'kong-3.0.yaml'), 'utf8'));
    const j = JSON.parse(readFileSync(join(FIXTURES, 'kong-3.0.json'), 'utf8'));
    assert.deepEqual(j, y);
  });
});
