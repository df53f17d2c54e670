import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { type RequestFacts, Router } from '../../../src/routing/router.ts';

/**
 * A router over routes written as YAML (one service `s`, routes nested under it), so each route
 * goes through the same validation and normalization as a real file. Routes are named by their
 * `name`, which the tests use as the match result.
 */
function routerOf(routesYaml: string): Router<string> {
  const indented = routesYaml
    .trim()
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n');
  const s = loadSnapshotText(
    `_format_version: "3.0"\nservices:\n  - name: s\n    url: http://127.0.0.1:9\n    routes:\n${indented}\n`,
    'routes.yaml',
  );
  return new Router(s.routes.map((r) => ({ route: r.name, spec: r })));
}

type HeaderObject = Record<string, string | string[]>;

/** Request facts; `headers` given as an object (repeated fields as arrays), read as the proxy reads fields. */
function req(
  path: string,
  more: Partial<Omit<RequestFacts, 'headers'>> & { headers?: HeaderObject } = {},
): RequestFacts {
  const h = more.headers ?? {};
  const get = (name: string) => {
    const v = h[name];
    return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : v;
  };
  return { method: 'GET', host: 'example.com', path, ...more, headers: { get } };
}

function winner(r: Router<string>, facts: RequestFacts): string | null {
  return r.match(facts)?.route ?? null;
}

describe('router: matching order (router.ts header, docs/routing.md)', () => {
  it('1. a higher priority wins over everything else', () => {
    const r = routerOf(`
- name: specific
  hosts: [example.com]
  methods: [GET]
  paths: [/api/v1]
- name: boosted
  priority: 1
  paths: [/]
`);
    assert.equal(winner(r, req('/api/v1/users')), 'boosted');
    assert.deepEqual(r.order(), ['boosted', 'specific']);
  });

  it('2. more match categories win over a longer path', () => {
    const r = routerOf(`
- name: long-path
  paths: [/api/v1/users]
- name: host-and-path
  hosts: [example.com]
  paths: [/]
`);
    assert.equal(winner(r, req('/api/v1/users')), 'host-and-path');
    assert.equal(winner(r, req('/api/v1/users', { host: 'other.com' })), 'long-path');
  });

  it('2. methods and headers count as categories too', () => {
    const r = routerOf(`
- name: path-only
  paths: [/a/b/c]
- name: method-and-path
  methods: [GET]
  paths: [/a]
- name: header-method-path
  methods: [GET]
  paths: [/]
  headers:
    x-team: [blue]
`);
    assert.equal(winner(r, req('/a/b/c', { headers: { 'x-team': 'blue' } })), 'header-method-path');
    assert.equal(winner(r, req('/a/b/c')), 'method-and-path');
    assert.equal(winner(r, req('/a/b/c', { method: 'POST' })), 'path-only');
  });

  it('3. a plain host wins over a wildcard host, whatever the file order', () => {
    const r = routerOf(`
- name: wild
  hosts: ["*.example.com"]
- name: plain
  hosts: [api.example.com]
`);
    assert.equal(winner(r, req('/', { host: 'api.example.com' })), 'plain');
    assert.equal(winner(r, req('/', { host: 'www.example.com' })), 'wild');
  });

  it('3. a route with plain and wildcard hosts sorts each kind in its own place', () => {
    const r = routerOf(`
- name: mixed
  hosts: ["*.example.com", "api.example.org"]
- name: plain
  hosts: [www.example.com]
- name: wild
  hosts: ["*.example.org"]
`);
    assert.equal(winner(r, req('/', { host: 'api.example.org' })), 'mixed');
    assert.equal(winner(r, req('/', { host: 'www.example.com' })), 'plain');
    assert.equal(winner(r, req('/', { host: 'x.example.com' })), 'mixed');
    assert.equal(winner(r, req('/', { host: 'x.example.org' })), 'wild');
  });

  it('4. more headers win', () => {
    const r = routerOf(`
- name: one
  headers:
    x-a: ["1"]
- name: two
  headers:
    x-a: ["1"]
    x-b: ["2"]
`);
    assert.equal(winner(r, req('/', { headers: { 'x-a': '1', 'x-b': '2' } })), 'two');
    assert.equal(winner(r, req('/', { headers: { 'x-a': '1' } })), 'one');
  });

  it('5. a regex path wins over a prefix path, even a longer one', () => {
    const r = routerOf(`
- name: prefix
  paths: [/users/123/profile]
- name: regex
  paths: ["~/users/\\\\d+"]
`);
    assert.equal(winner(r, req('/users/123/profile')), 'regex');
    assert.equal(winner(r, req('/users/abc/profile')), null);
  });

  it('5. among regex paths, a higher regex_priority wins; then the file order', () => {
    const r = routerOf(`
- name: low
  paths: ["~/users/\\\\d+$"]
- name: high
  regex_priority: 5
  paths: ["~/users/.*"]
- name: low-twin
  paths: ["~/users/\\\\d+$"]
`);
    assert.equal(winner(r, req('/users/42')), 'high');
    const r2 = routerOf(`
- name: first
  paths: ["~/users/\\\\d+$"]
- name: second
  paths: ["~/users/\\\\d+$"]
`);
    assert.equal(winner(r2, req('/users/42')), 'first');
  });

  it('5. regex_priority does not lift a prefix path', () => {
    const r = routerOf(`
- name: prefix
  regex_priority: 100
  paths: [/users]
- name: regex
  paths: ["~/users"]
`);
    assert.equal(winner(r, req('/users')), 'regex');
  });

  it('6. the longest prefix wins', () => {
    const r = routerOf(`
- name: api
  paths: [/api]
- name: api-v1
  paths: [/api/v1]
- name: root
  paths: [/]
`);
    assert.equal(winner(r, req('/api/v1/users')), 'api-v1');
    assert.equal(winner(r, req('/api/v2/users')), 'api');
    assert.equal(winner(r, req('/other')), 'root');
    assert.deepEqual(r.order(), ['api-v1', 'api', 'root']);
  });

  it('6. a route with several paths sorts each path in its own place', () => {
    const r = routerOf(`
- name: short-and-long
  paths: [/a, /b/c/d]
- name: middle
  paths: [/b/c]
`);
    assert.equal(winner(r, req('/b/c/d/e')), 'short-and-long');
    assert.equal(winner(r, req('/b/c/x')), 'middle');
    assert.equal(winner(r, req('/a/x')), 'short-and-long');
  });

  it('7. otherwise the first route in the file wins', () => {
    const r = routerOf(`
- name: first
  paths: [/same]
- name: second
  paths: [/same]
`);
    assert.equal(winner(r, req('/same')), 'first');
  });

  it('answers null when no route matches', () => {
    const r = routerOf(`
- name: only
  paths: [/only]
`);
    assert.equal(r.match(req('/other')), null);
  });
});

describe('router: hosts', () => {
  const r = routerOf(`
- name: suffix
  hosts: ["*.example.com"]
- name: prefix
  hosts: ["example.*"]
- name: exact-port
  hosts: ["api.test:8080"]
- name: exact
  hosts: [plain.test]
- name: suffix-port
  hosts: ["*.port.test:8443"]
- name: prefix-port
  hosts: ["svc.*:9000"]
- name: v6
  hosts: ["[::1]"]
`);
  const cases: [string, string | null][] = [
    ['a.example.com', 'suffix'],
    ['a.b.example.com', 'suffix'],
    ['a.example.com:8000', 'suffix'],
    ['example.com', 'prefix'],
    ['example.org', 'prefix'],
    ['example.org:81', 'prefix'],
    ['www.example.org', null],
    ['xexample.com', null],
    ['api.test:8080', 'exact-port'],
    ['api.test:8081', null],
    ['api.test', null],
    ['plain.test', 'exact'],
    ['plain.test:1234', 'exact'],
    ['plain.test.evil', null],
    ['a.port.test:8443', 'suffix-port'],
    ['a.port.test', null],
    ['a.port.test:80', null],
    ['svc.local:9000', 'prefix-port'],
    ['svc.local:9001', null],
    ['svc.local', null],
    ['[::1]', 'v6'],
    ['[::1]:8000', 'v6'],
    ['', null],
  ];
  for (const [host, want] of cases)
    it(`Host ${JSON.stringify(host)} → ${want ?? 'no route'}`, () => {
      assert.equal(winner(r, req('/', { host })), want);
    });

  it('matches hosts case-insensitively (names are lower-cased at load, Host by the proxy)', () => {
    const r2 = routerOf(`
- name: upper
  hosts: [API.Example.COM]
`);
    assert.equal(winner(r2, req('/', { host: 'api.example.com' })), 'upper');
  });
});

describe('router: methods and headers', () => {
  it('matches only the listed methods', () => {
    const r = routerOf(`
- name: reads
  methods: [GET, HEAD]
`);
    assert.equal(winner(r, req('/', { method: 'GET' })), 'reads');
    assert.equal(winner(r, req('/', { method: 'HEAD' })), 'reads');
    assert.equal(winner(r, req('/', { method: 'POST' })), null);
  });

  it('compares header values case-insensitively, and names too', () => {
    const r = routerOf(`
- name: prod
  headers:
    X-Env: [Prod, staging]
`);
    assert.equal(winner(r, req('/', { headers: { 'x-env': 'PROD' } })), 'prod');
    assert.equal(winner(r, req('/', { headers: { 'x-env': 'Staging' } })), 'prod');
    assert.equal(winner(r, req('/', { headers: { 'x-env': 'dev' } })), null);
    assert.equal(winner(r, req('/', { headers: {} })), null);
  });

  it('matches any one of repeated header values', () => {
    const r = routerOf(`
- name: tagged
  headers:
    x-tag: [b]
`);
    assert.equal(winner(r, req('/', { headers: { 'x-tag': ['a', 'B'] } })), 'tagged');
    assert.equal(winner(r, req('/', { headers: { 'x-tag': ['a', 'c'] } })), null);
  });

  it('treats a value starting with ~* as a case-insensitive regex', () => {
    const r = routerOf(`
- name: versioned
  headers:
    x-version: ["~*^v[0-9]+$"]
`);
    assert.equal(winner(r, req('/', { headers: { 'x-version': 'V12' } })), 'versioned');
    assert.equal(winner(r, req('/', { headers: { 'x-version': 'v1beta' } })), null);
  });

  it('requires every listed header', () => {
    const r = routerOf(`
- name: both
  headers:
    x-a: ["1"]
    x-b: ["2"]
`);
    assert.equal(winner(r, req('/', { headers: { 'x-a': '1' } })), null);
    assert.equal(winner(r, req('/', { headers: { 'x-a': '1', 'x-b': '2' } })), 'both');
  });
});

describe('router: paths', () => {
  it('matches a prefix as a plain string prefix, as Kong (/foo matches /foobar)', () => {
    const r = routerOf(`
- name: foo
  paths: [/foo]
`);
    assert.deepEqual(r.match(req('/foobar')), { route: 'foo', matchedLength: 4, captures: null });
    assert.deepEqual(r.match(req('/foo/bar')), { route: 'foo', matchedLength: 4, captures: null });
    assert.equal(r.match(req('/fo')), null);
    assert.equal(r.match(req('/xfoo')), null);
  });

  it('is case-sensitive for paths', () => {
    const r = routerOf(`
- name: foo
  paths: [/foo]
`);
    assert.equal(r.match(req('/FOO')), null);
  });

  it('anchors a regex at the start of the path, not at the end', () => {
    const r = routerOf(`
- name: v
  paths: ["~/v\\\\d+/"]
`);
    const v = r.match(req('/v2/users'))!;
    assert.deepEqual([v.route, v.matchedLength, v.captures?.[0]], ['v', 4, '/v2/']);
    assert.equal(r.match(req('/api/v2/users')), null);
  });

  it('reports the whole regex match as the matched length (what strip_path removes)', () => {
    const r = routerOf(`
- name: ver
  paths: ["~/version/\\\\d+/service"]
`);
    const m = r.match(req('/version/1/service/path/to/resource'))!;
    assert.deepEqual([m.route, m.matchedLength, m.captures?.[0]], ['ver', 18, '/version/1/service']);
  });

  it('hands over the regex captures, numbered and named (for hash_on: uri_capture)', () => {
    const r = routerOf(`
- name: t
  paths: ["~/t/(?<tenant>[a-z]+)/(\\\\d+)"]
`);
    const m = r.match(req('/t/acme/42/x'))!;
    assert.equal(m.captures?.groups?.tenant, 'acme');
    assert.equal(m.captures?.[2], '42');
  });

  it('gives matchedLength 0 for a route without paths', () => {
    const r = routerOf(`
- name: any
  hosts: [example.com]
`);
    assert.deepEqual(r.match(req('/anything')), { route: 'any', matchedLength: 0, captures: null });
  });
});
