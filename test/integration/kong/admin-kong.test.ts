/**
 * The admin API answers Kong's clients in Kong's shapes, through real requests to a managed node:
 * node information, plugin listing and schemas, tags, consumer filters, every credential form
 * (nested and flat, basic-auth stored hashed and then logging in through the proxy), generated
 * jwt secrets, multipart POST /config, and proxy-cache's key header and purge endpoints.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { admin, type ManagedNode, startManaged } from '../../helpers/admin.ts';
import { testHeader } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

describe("admin API: Kong's endpoints and shapes", () => {
  let m: ManagedNode;
  let a: TestUpstream;
  // With a token, replies show secrets (a jwt secret), as Kong's do.
  const TOKEN = 'kong-shapes';
  const api = (method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown) =>
    admin(m.adminUrl, method, path, body, { token: TOKEN });
  const proxy = async (path: string, headers: Record<string, string> = {}) => {
    const r = await request(`${m.url}${path}`, { headers });
    return { status: r.statusCode, headers: r.headers, text: await r.body.text() };
  };

  before(async () => {
    a = await startUpstream('a');
    m = await startManaged({ header: testHeader({ admin: `  token: ${TOKEN}\n` }) });
    assert.equal((await api('POST', '/services', `name=api&url=http://${a.target}`)).status, 201);
    assert.equal((await api('POST', '/services/api/routes', 'name=r&paths[]=/r')).status, 201);
  });
  after(async () => {
    await m?.stop();
    await a?.close();
  });

  it('GET / carries Kong fields: version, node_id, plugins, configuration.database', async () => {
    const r = await api('GET', '/');
    assert.equal(r.body.version, '3.9.0');
    assert.match(r.body.node_id, /^[0-9a-f-]{36}$/);
    assert.ok(r.body.plugins.available_on_server['key-auth']);
    assert.equal(r.body.configuration.database, 'fulcrum', 'a managed node is writable: not "off"');
    const s = await api('GET', '/status');
    assert.deepEqual(s.body.database, { reachable: true });
    assert.equal(typeof s.body.server.connections_active, 'number');
  });

  it('/plugins/enabled and /schemas/plugins/{name} in Kong form', async () => {
    const e = await api('GET', '/plugins/enabled');
    assert.ok(e.body.enabled_plugins.includes('rate-limiting'));
    const s = await api('GET', '/schemas/plugins/key-auth');
    assert.equal(s.status, 200);
    const config = s.body.fields.find((f: Record<string, unknown>) => 'config' in f).config;
    assert.equal(config.type, 'record');
    const names = config.fields.find((f: Record<string, unknown>) => 'key_names' in f).key_names;
    assert.deepEqual(names, { ...names, type: 'array', default: ['apikey'] });
    assert.equal((await api('GET', '/schemas/plugins/no-such')).status, 404);
  });

  it('a form-encoded plugin is typed by its schema, and the reply shows every default', async () => {
    const r = await api(
      'POST',
      '/services/api/plugins',
      'name=rate-limiting&config.minute=5&config.hide_client_headers=true',
    );
    assert.equal(r.status, 201, r.text);
    assert.equal(r.body.config.minute, 5);
    assert.equal(r.body.config.hide_client_headers, true);
    assert.equal(r.body.config.second, null, 'unset Kong fields are null');
    assert.equal(r.body.config.policy, 'local');
    assert.equal(r.body.enabled, true);
    assert.deepEqual(r.body.protocols, ['grpc', 'grpcs', 'http', 'https']);
    assert.equal(r.body.route, null);
    const k = await api('POST', '/routes/r/plugins', 'name=key-auth&config.key_names=apikey');
    assert.deepEqual(k.body.config.key_names, ['apikey']);
    assert.equal((await api('DELETE', `/plugins/${k.body.id}`)).status, 204);
    assert.equal((await api('DELETE', `/plugins/${r.body.id}`)).status, 204);
  });

  it("errors carry Kong's codes and nested fields", async () => {
    const dup = await api('POST', '/services', `name=api&url=http://${a.target}`);
    assert.equal(dup.status, 409);
    assert.equal(dup.body.code, 5);
    const bad = await api('POST', '/services/api/plugins', 'name=rate-limiting&config.minute=-1');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.code, 2);
    assert.equal(typeof bad.body.fields.config.minute, 'string');
  });

  it('consumers filtered by custom_id; tags listed', async () => {
    await api('POST', '/consumers', 'username=ann&custom_id=crm-1&tags[]=beta');
    await api('POST', '/consumers', 'username=bob&custom_id=crm-2');
    const r = await api('GET', '/consumers?custom_id=crm-2');
    assert.deepEqual(
      r.body.data.map((c: { username: string }) => c.username),
      ['bob'],
    );
    const t = await api('GET', '/tags/beta');
    assert.deepEqual(
      t.body.data.map((x: { entity_name: string }) => x.entity_name),
      ['consumers'],
    );
  });

  it('basic-auth credentials are stored as Kong stores them, and log in through the proxy', async () => {
    const c = await api('POST', '/consumers/ann/basic-auth', 'username=ann&password=open-sesame');
    assert.equal(c.status, 201, c.text);
    const ann = (await api('GET', '/consumers/ann')).body;
    assert.equal(c.body.password, createHash('sha1').update(`open-sesame${ann.id}`).digest('hex'));
    await api('POST', '/routes/r/plugins', 'name=basic-auth');
    const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
    assert.equal((await proxy('/r', { authorization: basic('ann', 'open-sesame') })).status, 200);
    assert.equal((await proxy('/r', { authorization: basic('ann', c.body.password) })).status, 401);
    // PATCH by id on the flat collection changes the password (hashed again).
    const p = await api('PATCH', `/basic-auths/${c.body.id}`, 'password=new-one');
    assert.equal(p.status, 200, p.text);
    assert.equal((await proxy('/r', { authorization: basic('ann', 'new-one') })).status, 200);
    assert.equal((await proxy('/r', { authorization: basic('ann', 'open-sesame') })).status, 401);
    const all = await api('GET', '/basic-auths');
    assert.deepEqual(
      all.body.data.map((x: { consumer: { id: string } }) => x.consumer.id),
      [ann.id],
    );
    assert.equal((await api('POST', '/consumers/bob/basic-auth', 'username=ann&password=x')).status, 409);
  });

  it('key-auth: PUT creates by id, flat list and item, PATCH changes the key', async () => {
    const id = 'a7c1f3f0-5b2e-4c39-9d62-1f0b6e2b9c11';
    const put = await api('PUT', `/consumers/bob/key-auth/${id}`, 'key=k-1');
    assert.equal(put.status, 201, put.text);
    assert.equal(put.body.id, id);
    assert.equal((await api('GET', `/key-auths/${id}`)).body.key, 'k-1');
    assert.equal((await api('PATCH', `/key-auths/${id}`, 'key=k-2')).body.key, 'k-2');
    assert.equal((await api('GET', '/key-auths')).body.data.length, 1);
    assert.equal((await api('DELETE', `/key-auths/${id}`)).status, 204);
    assert.equal((await api('GET', `/key-auths/${id}`)).status, 404);
  });

  it('a bodiless POST /consumers/{c}/jwt makes a key and an HS256 secret', async () => {
    const r = await api('POST', '/consumers/bob/jwt');
    assert.equal(r.status, 201, r.text);
    assert.match(r.body.key, /^[0-9a-f]{32}$/);
    assert.match(r.body.secret, /^[0-9a-f]{32}$/);
    assert.equal((await api('GET', '/jwts')).body.data.length, 1);
  });

  it('proxy-cache sends X-Cache-Key by default; /proxy-cache/{key} finds and purges it', async () => {
    await api('POST', '/services', `name=cached&url=http://${a.target}`);
    await api('POST', '/services/cached/routes', 'name=c&paths[]=/c');
    await api('POST', '/routes/c/plugins', 'name=proxy-cache&config.content_type=text/plain');
    const first = await proxy('/c');
    assert.equal(first.headers['x-cache-status'], 'Miss');
    const key = String(first.headers['x-cache-key']);
    assert.match(key, /^[0-9a-f]{32}$/);
    assert.equal((await proxy('/c')).headers['x-cache-status'], 'Hit');
    assert.equal((await api('GET', `/proxy-cache/${key}`)).status, 200);
    assert.equal((await api('DELETE', `/proxy-cache/${key}`)).status, 204);
    assert.equal((await proxy('/c')).headers['x-cache-status'], 'Miss');
    assert.equal((await api('DELETE', '/proxy-cache')).status, 204);
    assert.equal((await api('GET', `/proxy-cache/${key}`)).status, 404);
  });

  it('POST /config takes a multipart body (curl --form config=@kong.yml)', async () => {
    const yaml = `_format_version: "3.0"\nlisteners: [{ name: proxy, address: 127.0.0.1, port: ${new URL(m.url).port} }]\nadmin: { address: 127.0.0.1, port: ${new URL(m.adminUrl).port}, token: ${TOKEN} }\nservices:\n  - name: from-form\n    url: http://${a.target}\n    routes: [{ name: f, paths: [/f] }]\n`;
    const form = new FormData();
    form.set('config', new Blob([yaml]), 'kong.yml');
    const r = await fetch(`${m.adminUrl}/config`, {
      method: 'POST',
      body: form,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const text = await r.text();
    assert.equal(r.status, 200, text);
    assert.equal((await proxy('/f')).status, 200);
    // A browser page cannot post one: its Origin is refused first.
    const page = await fetch(`${m.adminUrl}/config`, {
      method: 'POST',
      body: form,
      headers: { origin: 'http://evil.example' },
    });
    await page.text();
    assert.equal(page.status, 403);
  });
});
