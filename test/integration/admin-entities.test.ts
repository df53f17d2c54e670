import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { admin, type ManagedNode, startManaged } from '../helpers/admin.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

async function get(url: string): Promise<{ status: number; text: string }> {
  const res = await request(url);
  return { status: res.statusCode, text: await res.body.text() };
}

describe('admin API: Kong entities in managed mode', () => {
  let f: ManagedNode;
  let a: TestUpstream;
  let b: TestUpstream;
  const api = (m: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', p: string, body?: unknown) =>
    admin(f.adminUrl, m, p, body);

  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    f = await startManaged();
  });
  after(async () => {
    await f.stop();
    await a.close();
    await b.close();
  });

  it("follows Kong's walkthrough: service by url, route paths[]=/, upstream, targets, host → upstream", async () => {
    const s = await api('POST', '/services', `name=example_service&url=http://127.0.0.1:${a.port}`);
    assert.equal(s.status, 201, s.text);
    assert.match(s.body.id, UUID);
    assert.equal(s.body.host, '127.0.0.1');
    assert.equal(s.body.port, a.port);
    assert.equal(s.body.protocol, 'http');
    assert.equal(s.body.url, undefined);
    assert.equal(typeof s.body.created_at, 'number');
    const r = await api('POST', '/services/example_service/routes', 'name=root&paths[]=/');
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(r.body.paths, ['/']);
    assert.deepEqual(r.body.service, { id: s.body.id });
    assert.equal((await get(`${f.url}/x`)).text, 'a');

    assert.equal((await api('POST', '/upstreams', 'name=example_upstream')).status, 201);
    const t1 = await api('POST', '/upstreams/example_upstream/targets', `target=127.0.0.1:${a.port}`);
    assert.equal(t1.status, 201, t1.text);
    assert.equal(t1.body.target, `127.0.0.1:${a.port}`);
    assert.equal(
      (
        await api('POST', '/upstreams/example_upstream/targets', {
          target: `127.0.0.1:${b.port}`,
          weight: 100,
        })
      ).status,
      201,
    );
    const p = await api('PATCH', '/services/example_service', 'host=example_upstream');
    assert.equal(p.status, 200, p.text);
    assert.equal(p.body.port, a.port, 'PATCH keeps the other fields');
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await get(`${f.url}/y`)).text);
    assert.deepEqual([...seen].sort(), ['a', 'b']);

    const prof = await api(
      'POST',
      '/services/example_service/routes',
      'name=profile&paths[]=/profile&strip_path=false',
    );
    assert.equal(prof.status, 201, prof.text);
    assert.equal(prof.body.strip_path, false, 'form booleans are typed by the schema');
    await get(`${f.url}/profile/me`);
    const last = [...a.seen, ...b.seen].find((x) => x.url.startsWith('/profile'));
    assert.equal(last?.url, '/profile/me');

    // The rest of the tutorial: key-auth on /profile, a consumer and its key.
    const plug = await api('POST', '/routes/profile/plugins', 'name=key-auth');
    assert.equal(plug.status, 201, plug.text);
    const denied = await request(`${f.url}/profile/me`);
    assert.equal(denied.statusCode, 401);
    assert.deepEqual(await denied.body.json(), { message: 'No API key found in request' });
    const c = await api('POST', '/consumers', 'username=luka');
    assert.equal(c.status, 201, c.text);
    const k = await api('POST', '/consumers/luka/key-auth', 'key=top-secret');
    assert.equal(k.status, 201, k.text);
    assert.deepEqual(k.body.consumer, { id: c.body.id });
    const generated = await api('POST', '/consumers/luka/key-auth', {});
    assert.match(generated.body.key, /^[0-9a-f]{32}$/, 'a key is generated when none is given');
    assert.equal((await api('POST', '/consumers/luka/key-auth', 'key=top-secret')).status, 409);
    const listed = await api('GET', '/consumers/luka/key-auth');
    assert.equal(listed.body.data.length, 2);
    const wrong = await request(`${f.url}/profile/me`, { headers: { apikey: 'nope' } });
    assert.equal(wrong.statusCode, 401);
    await wrong.body.text();
    const before = a.seen.length + b.seen.length;
    const who = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await request(`${f.url}/profile/me`, { headers: { apikey: 'top-secret' } });
      assert.equal(r.statusCode, 200);
      who.add(await r.body.text());
    }
    assert.deepEqual([...who].sort(), ['a', 'b'], 'the key reaches both targets in turn');
    const hit = [...a.seen, ...b.seen].slice(-1)[0]!;
    assert.equal(a.seen.length + b.seen.length, before + 4);
    assert.equal(hit.headers['x-consumer-id'], c.body.id);
    assert.equal(hit.headers['x-consumer-username'], 'luka');
    assert.equal((await api('DELETE', `/consumers/luka/key-auth/${k.body.id}`)).status, 204);
    const revoked = await request(`${f.url}/profile/me`, { headers: { apikey: 'top-secret' } });
    assert.equal(revoked.statusCode, 401, 'a deleted key is refused at once');
    await revoked.body.text();
    assert.equal((await api('DELETE', '/consumers/luka')).status, 204);
  });

  it('lists with size/offset pagination and the tags filter', async () => {
    for (let i = 0; i < 5; i++)
      assert.equal(
        (await api('POST', '/consumers', { username: `u${i}`, tags: i % 2 ? ['odd', 'x'] : ['even', 'x'] }))
          .status,
        201,
      );
    const names: string[] = [];
    let next: string | null = '/consumers?size=2';
    for (let pages = 0; next !== null && pages < 10; pages++) {
      const page = await api('GET', next);
      assert.equal(page.status, 200);
      assert.ok(page.body.data.length <= 2);
      names.push(...page.body.data.map((c: { username: string }) => c.username));
      next = page.body.next;
      if (next !== null) assert.equal(typeof page.body.offset, 'string');
    }
    assert.deepEqual(names, ['u0', 'u1', 'u2', 'u3', 'u4']);
    const odd = await api('GET', '/consumers?tags=odd');
    assert.deepEqual(
      odd.body.data.map((c: { username: string }) => c.username),
      ['u1', 'u3'],
    );
    const both = await api('GET', '/consumers?tags=odd,x');
    assert.equal(both.body.data.length, 2);
    const any = await api('GET', '/consumers?tags=odd/even');
    assert.equal(any.body.data.length, 5);
    assert.equal((await api('GET', '/consumers?size=0')).status, 400);
  });

  it('GET/PATCH/PUT/DELETE by id or by name, with Kong status codes', async () => {
    const c = await api('POST', '/upstreams', { name: 'crud', tags: ['t'] });
    assert.equal(c.status, 201);
    const byId = await api('GET', `/upstreams/${c.body.id}`);
    const byName = await api('GET', '/upstreams/crud');
    assert.deepEqual(byId.body, byName.body);
    const patched = await api('PATCH', '/upstreams/crud', { algorithm: 'least-connections' });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.algorithm, 'least-connections');
    assert.deepEqual(patched.body.tags, ['t']);
    assert.equal(patched.body.created_at, c.body.created_at);
    const replaced = await api('PUT', '/upstreams/crud', { algorithm: 'random' });
    assert.equal(replaced.status, 200);
    assert.equal(replaced.body.id, c.body.id, 'PUT keeps the id');
    // Kong shows a field that is unset as null.
    assert.equal(replaced.body.tags, null, 'PUT replaces the whole entity');
    const upserted = await api('PUT', '/upstreams/fresh', {});
    assert.equal(upserted.status, 200);
    assert.equal(upserted.body.name, 'fresh');
    const id = '3f1c7b0e-9a52-4d7e-8e3a-5b2f0c1d2e3f';
    const withId = await api('PUT', `/upstreams/${id}`, { name: 'given-id' });
    assert.equal(withId.body.id, id);
    assert.equal((await api('DELETE', '/upstreams/crud')).status, 204);
    assert.equal((await api('GET', '/upstreams/crud')).status, 404);
    assert.equal((await api('DELETE', '/upstreams/crud')).status, 204, 'DELETE is idempotent, as Kong');
    assert.equal((await api('PATCH', '/upstreams/crud', { slots: 100 })).status, 404);
    assert.equal((await api('GET', '/nothing-here')).status, 404);
    const m = await api('PUT', '/upstreams', {});
    assert.equal(m.status, 405);
    assert.equal(m.headers.allow, 'GET, POST');
  });

  it('answers 409 on a name, target or id that is taken', async () => {
    assert.equal((await api('POST', '/upstreams', { name: 'dup' })).status, 201);
    const again = await api('POST', '/upstreams', { name: 'dup' });
    assert.equal(again.status, 409);
    assert.ok(again.body.fields.name);
    assert.equal((await api('POST', '/upstreams/dup/targets', { target: '10.0.0.1:80' })).status, 201);
    assert.equal(
      (await api('POST', '/upstreams/dup/targets', { target: '10.0.0.1' })).status,
      201,
      'another port',
    );
    assert.equal((await api('POST', '/upstreams/dup/targets', { target: '10.0.0.1:80' })).status, 409);
    const u = await api('GET', '/upstreams/dup');
    assert.equal((await api('POST', '/upstreams', { name: 'other', id: u.body.id })).status, 409);
  });

  it('refuses schema errors with every failing field path and what was expected, changing nothing', async () => {
    const before = await api('GET', '/config');
    const version = before.headers['x-fulcrum-config-version'];
    const bad = await api('POST', '/routes', {
      name: 'bad',
      paths: ['nope', '~(x'],
      methods: ['get'],
      colour: 'red',
    });
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.body.name, 'schema violation');
    const paths = bad.body.issues.map((i: { path: string }) => i.path).sort();
    assert.deepEqual(paths, ['colour', 'methods[0]']);
    assert.match(bad.body.fields.colour, /unknown field; expected one of: id, name, service/);
    const sem = await api('POST', '/routes', { name: 'bad', paths: ['nope', '~(x'] });
    assert.equal(sem.status, 400);
    // Kong's nested `fields`: one message per list item, in order.
    assert.deepEqual(Object.keys(sem.body.fields), ['paths']);
    assert.equal(sem.body.fields.paths.length, 2);
    assert.match(sem.body.fields.paths[0], /expected a path starting with/);
    assert.match(sem.body.fields.paths[1], /invalid regular expression/);
    assert.equal(sem.body.code, 2, "Kong's code of a schema violation");
    const ref = await api('POST', '/routes', {
      paths: ['/z'],
      service: { id: '00000000-0000-4000-8000-000000000000' },
    });
    assert.equal(ref.status, 400);
    assert.equal(ref.body.name, 'foreign key violation');
    assert.equal((await api('POST', '/services/nope/routes', { paths: ['/z'] })).status, 404);
    const nested = await api('POST', '/services', { name: 'n', host: 'h', routes: [] });
    assert.equal(nested.status, 400);
    assert.match(nested.body.message, /\/services\/\{service\}\/routes/);
    const after = await api('GET', '/config');
    assert.equal(after.headers['x-fulcrum-config-version'], version);
    assert.deepEqual(after.body, before.body);
  });

  it('parses strictly: duplicate JSON keys, non-objects, unknown media types and oversized bodies', async () => {
    const dupKeys = await admin(f.adminUrl, 'POST', '/upstreams', '{"name":"x","name":"y"}', {
      type: 'application/json',
    });
    assert.equal(dupKeys.status, 400);
    assert.match(dupKeys.body.message, /not valid JSON/);
    assert.equal(
      (await admin(f.adminUrl, 'POST', '/upstreams', '[1]', { type: 'application/json' })).status,
      400,
    );
    assert.equal(
      (await admin(f.adminUrl, 'POST', '/upstreams', "{'a':1}", { type: 'application/json' })).status,
      400,
    );
    assert.equal((await admin(f.adminUrl, 'POST', '/upstreams', 'x', { type: 'text/plain' })).status, 415);
    const proto = await admin(f.adminUrl, 'POST', '/upstreams', '{"name":"p","__proto__":{"x":1}}', {
      type: 'application/json',
    });
    assert.equal(proto.status, 400);
    const big = await admin(f.adminUrl, 'POST', '/upstreams', {
      name: 'big',
      tags: ['x'.repeat(9 * 1024 * 1024)],
    });
    assert.equal(big.status, 413);
  });

  it('refuses to delete a service that routes point at; deleting an upstream takes its targets', async () => {
    const s = await api('POST', '/services', { name: 'owned', host: '127.0.0.1', port: a.port });
    await api('POST', '/services/owned/routes', { name: 'owned-r', paths: ['/owned'] });
    const refused = await api('DELETE', '/services/owned');
    assert.equal(refused.status, 400);
    assert.match(refused.body.message, /routes/);
    assert.equal((await api('DELETE', '/routes/owned-r')).status, 204);
    assert.equal((await api('DELETE', `/services/${s.body.id}`)).status, 204);
    await api('POST', '/upstreams', { name: 'gone' });
    await api('POST', '/upstreams/gone/targets', { target: '10.1.1.1:80' });
    assert.equal((await api('DELETE', '/upstreams/gone')).status, 204);
    assert.equal((await api('GET', '/upstreams/gone/targets')).status, 404);
    const doc = (await api('GET', '/config')).body;
    assert.equal(JSON.stringify(doc).includes('10.1.1.1'), false);
  });

  it('GET /upstreams/{u}/health shows each target with its weight in effect', async () => {
    const h = await api('GET', '/upstreams/example_upstream/health');
    assert.equal(h.status, 200, h.text);
    assert.equal(h.body.data.length, 2);
    for (const t of h.body.data) {
      assert.equal(t.health, 'HEALTHCHECKS_OFF');
      assert.equal(t.weight, 100);
      assert.equal(t.effective_weight, 100);
      assert.equal(t.ejections, 0);
      assert.match(t.id, /^[0-9a-f-]{36}$/);
    }
    await api('PATCH', `/upstreams/example_upstream/targets/127.0.0.1:${b.port}`, { weight: 0 });
    const h2 = await api('GET', '/upstreams/example_upstream/health');
    const tb = h2.body.data.find((t: { target: string }) => t.target === `127.0.0.1:${b.port}`);
    assert.equal(tb.weight, 0);
    assert.equal(tb.takes_traffic, false);
    assert.equal((await api('GET', '/upstreams/nope/health')).status, 404);
  });

  it('writes an audit line per change: who, what, before and after version', async () => {
    const n = f.node.control.audits.length;
    await api('POST', '/upstreams', { name: 'audited' });
    await api('POST', '/upstreams', { name: 'audited' });
    const [ok, refused] = f.node.control.audits.slice(n);
    assert.equal(ok?.result, 'applied');
    assert.equal(ok?.who, '127.0.0.1');
    assert.equal(ok?.method, 'POST');
    assert.equal(ok?.path, '/upstreams');
    assert.match(ok?.entity ?? '', /^upstreams\/[0-9a-f-]{36}$/);
    assert.equal(ok!.after, ok!.before + 1);
    assert.equal(refused?.result, 'refused');
    assert.equal(refused?.after, refused?.before);
  });
});
