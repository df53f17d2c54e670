/**
 * Files in Kong's real shapes (test/fixtures/kong/, written from Kong's and decK's documentation
 * and output) load unchanged, and a node started from each serves what the file says. Their
 * upstream addresses (`upstream-a.test:8081`, `-b` 8082, `-c` 8083) are the one thing changed,
 * to point at test upstreams on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { loadSnapshotFile } from '../../../src/config/validate.ts';
import { REPO_ROOT } from '../../helpers/child.ts';
import { startFulcrum, TEST_NODE_HEADER, type TestNode } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

const DIR = join(REPO_ROOT, 'test', 'fixtures', 'kong');
export const KONG_FILES = [
  'config-init.yml',
  'config-init-examples.yml',
  'db-export.yml',
  'format-1.1.yml',
  'format-2.1.yml',
  'supabase.yml',
  'deck-1.4-dump.yml',
  'deck-3-dump.yml',
  'deck-test-shapes.yml',
];
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('Kong-shaped files load unchanged', () => {
  for (const name of [...KONG_FILES, '../kong-3.0.yaml']) {
    it(name, () => {
      const snap = loadSnapshotFile(join(DIR, name));
      assert.deepEqual(snap.problems, [], 'nothing disabled');
    });
  }
});

describe('each Kong-shaped file serves what it says', () => {
  const ups: Record<'a' | 'b' | 'c', TestUpstream> = {} as never;
  let f: TestNode | null = null;
  before(async () => {
    ups.a = await startUpstream('a');
    ups.b = await startUpstream('b');
    ups.c = await startUpstream('c');
  });
  after(async () => {
    await f?.stop();
    for (const u of Object.values(ups)) await u.close();
  });

  /** Start a node from the file, its upstream names pointed at the test upstreams. */
  async function serve(name: string): Promise<TestNode> {
    await f?.stop();
    const text = readFileSync(join(DIR, name), 'utf8')
      .replace(/upstream-[abc]\.test/g, '127.0.0.1')
      .replace(/\b808([123])\b/g, (_m, n: string) => String(ups['abc'[Number(n) - 1] as 'a'].port));
    f = await startFulcrum(text, { header: TEST_NODE_HEADER.replace('_format_version: "3.0"\n', '') });
    return f;
  }
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const r = await request(`${f!.url}${path}`, { headers });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text };
  };
  const last = (u: 'a' | 'b' | 'c') => ups[u].seen.at(-1)!;

  it("kong config init's template: loads, routes nothing", async () => {
    await serve('config-init.yml');
    const r = await get('/');
    assert.equal(r.status, 404);
    assert.match(r.text, /no route matched with those values/);
  });

  it("the template's examples: key-auth on the service, the consumer's rate limit, a top-level route by host", async () => {
    await serve('config-init-examples.yml');
    assert.equal((await get('/')).status, 401);
    const ok = await get('/', { apikey: 'my-key' });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-ratelimit-limit-second'], '5', "example-user's own limit");
    assert.equal(last('a').headers['x-consumer-username'], 'example-user');
    assert.equal((await get('/', { host: 'hello.com', apikey: 'my-key' })).status, 200);
  });

  it('a db_export (nulls, timestamps, flat lists, ids, _transform: false) serves as in Kong', async () => {
    await serve('db-export.yml');
    assert.equal((await get('/orders')).status, 401);
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await get('/orders', { apikey: 'partner-key', origin: 'https://x.example' });
      assert.equal(r.status, 200);
      assert.equal(r.headers['access-control-allow-origin'], '*');
      assert.equal(r.headers['x-ratelimit-limit-minute'], '1000');
      seen.add(r.text);
    }
    assert.deepEqual([...seen].sort(), ['a', 'b'], 'balanced over the targets naming their upstream by id');
    assert.equal((await get('/legacy/v2/x')).status, 401);
    assert.equal((await get('/legacy/v2/x', { authorization: basic('aladdin', 'open-sesame') })).status, 200);
    assert.equal(last('c').url, '/api/x');
    const hash = createHash('sha1').update('open-sesame4e8e7d8b-2c3a-4f4e-9a61-4b1f8e6c1d01').digest('hex');
    assert.equal((await get('/legacy/v2/x', { authorization: basic('aladdin', hash) })).status, 401);
  });

  it('format 1.1: regex paths migrated (the regex route wins for /items/42)', async () => {
    const node = await serve('format-1.1.yml');
    assert.equal(node.node.control.state.node._format_version, '3.0');
    assert.equal((await get('/items/42')).status, 200);
    assert.equal(last('a').url, '/items/42');
    assert.equal((await get('/items')).status, 200);
    assert.equal((await get('/search')).text, 'b');
  });

  it('format 2.1: top-level targets, a regex path, a plugin of a missing consumer that never applies', async () => {
    await serve('format-2.1.yml');
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await get('/v2/users/7');
      assert.equal(r.status, 200, 'the rate limit of a consumer that does not exist applies to nobody');
      seen.add(r.text);
    }
    assert.deepEqual([...seen].sort(), ['a', 'b']);
    assert.equal(last('a').url, '/7');
    assert.equal((await get('/v3/users/7')).status, 404);
  });

  it('Supabase: top-level acls and basic-auth credentials, key-auth and acl per service', async () => {
    await serve('supabase.yml');
    const rest = await get('/rest/v1/todos', { apikey: 'anon-jwt-key' });
    assert.equal(rest.status, 200);
    assert.equal(last('b').url, '/todos');
    assert.equal(last('b').headers.apikey, undefined, 'hide_credentials');
    assert.equal((await get('/rest/v1/todos')).status, 401);
    assert.equal((await get('/pg/tables', { apikey: 'anon-jwt-key' })).status, 403, 'acl: admin only');
    assert.equal((await get('/pg/tables', { apikey: 'service-role-jwt-key' })).status, 200);
    assert.equal((await get('/auth/v1/verify')).status, 200);
    assert.equal(last('a').url, '/verify');
    assert.equal((await get('/')).status, 401, 'the dashboard needs basic-auth');
    const dash = await get('/', {
      authorization: basic('supabase', 'this_password_is_insecure_and_should_be_updated'),
    });
    assert.equal(dash.status, 200);
  });

  it("decK 1.4's dump: global key-auth, the upstream's two targets", async () => {
    await serve('deck-1.4-dump.yml');
    assert.equal((await get('/orders')).status, 401);
    assert.equal((await get('/orders', { apikey: 'alice-key' })).status, 200);
    assert.equal(last('a').url, '/v1');
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await get('/billing', { apikey: 'alice-key' })).text);
    assert.deepEqual([...seen].sort(), ['b', 'c']);
  });

  it("modern decK's dump: proxy-cache with Kong's headers, correlation-id echoed, prometheus", async () => {
    await serve('deck-3-dump.yml');
    const first = await get('/catalog', { apikey: 'frontend-key' });
    assert.equal(first.status, 200);
    assert.equal(first.headers['x-cache-status'], 'Miss');
    assert.match(String(first.headers['x-cache-key']), /^[0-9a-f]{32}$/);
    assert.match(String(first.headers['kong-request-id']), /^[0-9a-f-]{36}#\d+$/);
    assert.equal(last('a').headers['kong-request-id'], first.headers['kong-request-id']);
    assert.equal((await get('/catalog', { apikey: 'frontend-key' })).headers['x-cache-status'], 'Hit');
    const metrics = await request(`${f!.adminUrl}/metrics`);
    assert.equal(metrics.statusCode, 200);
    assert.match(
      await metrics.body.text(),
      /fulcrum_http_requests_total\{route="catalog-read",service="catalog",code="2xx"\} 2/,
    );
  });

  it("decK's test shapes: url beside its fields, a missing anonymous consumer fails closed, ordering", async () => {
    await serve('deck-test-shapes.yml');
    assert.equal(
      (await get('/example')).status,
      500,
      'no credentials, anonymous consumer missing: 500 as in Kong',
    );
    const ok = await get('/example/x', { authorization: basic('my_basic_user', 'my_basic_password') });
    assert.equal(ok.status, 200);
    assert.equal(last('a').url, '/v1/x');
    const health = await get('/health', { authorization: basic('my_basic_user', 'my_basic_password') });
    assert.equal(health.status, 200);
    assert.match(health.text, /"message":\s*"ok"/);
  });
});
