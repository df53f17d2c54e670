import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { joinPath, normalizePath } from '../../../src/routing/path.ts';

describe('normalizePath', () => {
  const cases: [string, string | null][] = [
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['/a/./b', '/a/b'],
    ['/a/b/../c', '/a/c'],
    ['/a/b/..', '/a/'],
    ['/a/.', '/a/'],
    ['/a/b/../../c', '/c'],
    ['/.hidden/x', '/.hidden/x'],
    ['/a..b/c', '/a..b/c'],
    ['/..', null],
    ['/../etc/passwd', null],
    ['/a/../../b', null],
    ['/%2e%2e/etc', null],
    ['/a/%2E%2E/b', '/b'],
    ['/%61%62%63', '/abc'],
    ['/%7Euser/%2d_%2E', '/~user/-_.'],
    ['/a%2fb', '/a%2Fb'],
    ['/a%20b', '/a%20b'],
    ['/caf%c3%a9', '/caf%C3%A9'],
    ['//admin', '/admin'],
    ['/a//b///c', '/a/b/c'],
    ['/a/.//b', '/a/b'],
  ];
  for (const [input, want] of cases)
    it(`${input} → ${want ?? 'null (400)'}`, () => {
      assert.equal(normalizePath(input), want);
    });

  it('returns the same string when there is nothing to do', () => {
    const p = '/api/v1/users';
    assert.equal(normalizePath(p), p);
  });
});

/**
 * Kong's path_handling table (Kong admin API docs, "path handling algorithms": service path `/s`,
 * every combination of strip_path and v0/v1), plus the rows with an empty remainder that Kong's
 * router code (`get_upstream_uri_v0`, the v1 branch) gives. `strip` is the route's strip_path;
 * the route path is a prefix of the request path in every row.
 */
const KONG_TABLE: [
  service: string,
  route: string,
  strip: boolean,
  handling: 'v0' | 'v1',
  request: string,
  proxied: string,
][] = [
  // The documented table.
  ['/s', '/fv0', false, 'v0', '/fv0req', '/s/fv0req'],
  ['/s', '/fv1', false, 'v1', '/fv1req', '/sfv1req'],
  ['/s', '/tv0', true, 'v0', '/tv0req', '/s/req'],
  ['/s', '/tv1', true, 'v1', '/tv1req', '/sreq'],
  ['/s', '/fv0/', false, 'v0', '/fv0/req', '/s/fv0/req'],
  ['/s', '/fv1/', false, 'v1', '/fv1/req', '/sfv1/req'],
  ['/s', '/tv0/', true, 'v0', '/tv0/req', '/s/req'],
  ['/s', '/tv1/', true, 'v1', '/tv1/req', '/sreq'],
  // The same routes with a request path that continues with a slash, or stops at the route path.
  ['/s', '/fv0', false, 'v0', '/fv0/req', '/s/fv0/req'],
  ['/s', '/fv0', false, 'v0', '/fv0', '/s/fv0'],
  ['/s', '/fv1', false, 'v1', '/fv1/req', '/sfv1/req'],
  ['/s', '/fv1', false, 'v1', '/fv1', '/sfv1'],
  ['/s', '/tv0', true, 'v0', '/tv0/req', '/s/req'],
  ['/s', '/tv0', true, 'v0', '/tv0', '/s'],
  ['/s', '/tv1', true, 'v1', '/tv1/req', '/s/req'],
  ['/s', '/tv1', true, 'v1', '/tv1', '/s'],
  ['/s', '/fv0/', false, 'v0', '/fv0/', '/s/fv0/'],
  ['/s', '/fv1/', false, 'v1', '/fv1/', '/sfv1/'],
  ['/s', '/tv0/', true, 'v0', '/tv0/', '/s/'],
  ['/s', '/tv1/', true, 'v1', '/tv1/', '/s'],
  // A service path ending in a slash never doubles it.
  ['/s/', '/t', true, 'v0', '/t/req', '/s/req'],
  ['/s/', '/t', true, 'v0', '/treq', '/s/req'],
  ['/s/', '/t', true, 'v0', '/t', '/s'],
  ['/s/', '/t/', true, 'v0', '/t/', '/s/'],
  ['/s/', '/f', false, 'v0', '/f/req', '/s/f/req'],
  ['/s/', '/t', true, 'v1', '/t/req', '/s/req'],
  ['/s/', '/f', false, 'v1', '/f/req', '/s/f/req'],
  // The default service path `/`.
  ['/', '/api', true, 'v0', '/api/users', '/users'],
  ['/', '/api', true, 'v0', '/api', '/'],
  ['/', '/api', true, 'v0', '/api/', '/'],
  ['/', '/api', false, 'v0', '/api/users', '/api/users'],
  ['/', '/', true, 'v0', '/', '/'],
  ['/', '/', false, 'v0', '/', '/'],
  ['/', '/api', true, 'v1', '/api/users', '/users'],
  ['/', '/api', true, 'v1', '/api', '/'],
  ['/', '/api', false, 'v1', '/api/users', '/api/users'],
];

describe("joinPath: Kong's path_handling table", () => {
  for (const [service, route, strip, handling, request, proxied] of KONG_TABLE)
    it(`service ${service}, route ${route}, strip_path ${strip}, ${handling}: ${request} → ${proxied}`, () => {
      assert.ok(request.startsWith(route));
      assert.equal(joinPath(service, request, strip ? route.length : 0, handling), proxied);
    });
});

describe('joinPath: routes without paths and unsafe remainders', () => {
  it('forwards the whole request path after the service path when nothing was matched', () => {
    assert.equal(joinPath('/s', '/x/y', 0, 'v0'), '/s/x/y');
    assert.equal(joinPath('/s', '/', 0, 'v0'), '/s');
    assert.equal(joinPath('/s/', '/', 0, 'v0'), '/s/');
    assert.equal(joinPath('/', '/x', 0, 'v0'), '/x');
    assert.equal(joinPath('/s', '/x', 0, 'v1'), '/sx');
  });

  it('drops a leading dot segment of the remainder, so /api../x cannot climb out of the service path', () => {
    // `/api../secret` is a normal path (`api..` is not a dot segment), but stripping `/api` leaves `../secret`.
    assert.equal(joinPath('/public', '/api../secret', 4, 'v0'), '/public/secret');
    assert.equal(joinPath('/public', '/api./x', 4, 'v0'), '/public/x');
    assert.equal(joinPath('/public', '/api..', 4, 'v0'), '/public');
    assert.equal(joinPath('/public/', '/api../secret', 4, 'v1'), '/public/secret');
  });
});
