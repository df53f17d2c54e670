/**
 * ip-restriction (on the real client address behind trusted proxies), basic-auth, acl and
 * request-termination through a running proxy, and consumer-scoped precedence: a plugin scoped
 * to a consumer applies once an authentication plugin has identified that consumer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;

describe('access control plugins through a running proxy', () => {
  let a: TestUpstream;
  let f: TestNode;

  before(async () => {
    a = await startUpstream('a');
    f = await startFulcrum(`
trusted_ips: [127.0.0.1]
services:
  - name: api
    url: http://${a.target}
    routes:
      - name: allow
        paths: [/allow]
        plugins:
          - name: ip-restriction
            config: { allow: [10.0.0.0/8, "2001:db8::/32"] }
      - name: deny
        paths: [/deny]
        plugins:
          - name: ip-restriction
            config: { deny: [192.0.2.7], status: 401, message: go away }
      - name: basic
        paths: [/basic]
        plugins:
          - name: basic-auth
            config: { hide_credentials: true }
      - name: admins
        paths: [/admins]
        plugins:
          - name: basic-auth
          - name: acl
            config: { allow: [admin] }
      - name: not-banned
        paths: [/not-banned]
        plugins:
          - name: basic-auth
          - name: acl
            config: { deny: [banned], hide_groups_header: true }
      - name: maintenance
        paths: [/maintenance]
        plugins:
          - name: request-termination
            config: { status_code: 503, message: back soon }
      - name: maint-auth
        paths: [/maint-auth]
        plugins:
          - name: basic-auth
          - name: request-termination
            config: { status_code: 503, message: back soon }
      - name: stub
        paths: [/stub]
        plugins:
          - name: request-termination
            config: { status_code: 200, body: '{"ok":true}', trigger: x-stub }
consumers:
  - username: ann
    basicauth_credentials: [{ username: ann, password: "s3cret:colon" }]
    acls: [{ group: admin }, { group: ops }]
  - username: ben
    basicauth_credentials: [{ username: ben, password: pw }]
    acls: [{ group: banned }]
    plugins:
      - name: request-termination
        route: maint-auth
        config: { status_code: 403, message: ben is blocked }
  - username: cy
    basicauth_credentials: [{ username: cy, password: pw }]
    plugins:
      - name: request-termination
        config: { status_code: 418 }
`);
  });
  after(async () => {
    await f?.stop();
    await a?.close();
  });

  async function get(path: string, headers: Record<string, string> = {}) {
    const r = await request(`${f.url}${path}`, { headers });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text, json: () => JSON.parse(text) };
  }

  it('ip-restriction allows by CIDR on the real client address, IPv4 and IPv6', async () => {
    assert.equal((await get('/allow', { 'x-forwarded-for': '10.1.2.3' })).status, 200);
    assert.equal((await get('/allow', { 'x-forwarded-for': '2001:db8::1' })).status, 200);
    // Trusted hops on the right are skipped; the first untrusted one is the client.
    assert.equal((await get('/allow', { 'x-forwarded-for': '10.1.2.3, 127.0.0.1' })).status, 200);
    const r = await get('/allow', { 'x-forwarded-for': '10.0.0.1, 198.51.100.9' });
    assert.equal(r.status, 403);
    assert.deepEqual(r.json(), { message: 'Your IP address is not allowed' });
    // Without X-Forwarded-For the socket address (127.0.0.1) is the client: not in the list.
    assert.equal((await get('/allow')).status, 403);
  });

  it('ip-restriction deny with a custom status and message', async () => {
    const r = await get('/deny', { 'x-forwarded-for': '192.0.2.7' });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json(), { message: 'go away' });
    assert.equal((await get('/deny', { 'x-forwarded-for': '192.0.2.8' })).status, 200);
  });

  it('basic-auth: 401 with a challenge, then the consumer headers; hide_credentials drops Authorization', async () => {
    const none = await get('/basic');
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], 'Basic realm="service"');
    assert.deepEqual(none.json(), { message: 'Unauthorized' });
    assert.equal((await get('/basic', { authorization: basic('ann', 'wrong') })).status, 401);
    assert.equal((await get('/basic', { authorization: basic('nobody', 'pw') })).status, 401);
    const ok = await get('/basic', { authorization: basic('ann', 's3cret:colon') });
    assert.equal(ok.status, 200);
    const seen = a.seen.at(-1)!;
    assert.equal(seen.headers['x-consumer-username'], 'ann');
    assert.equal(seen.headers['x-credential-username'], 'ann');
    assert.equal(seen.headers.authorization, undefined);
  });

  it('acl allow: a consumer in the group passes with X-Consumer-Groups; others get 403', async () => {
    const ok = await get('/admins', { authorization: basic('ann', 's3cret:colon') });
    assert.equal(ok.status, 200);
    assert.equal(a.seen.at(-1)!.headers['x-consumer-groups'], 'admin, ops');
    const no = await get('/admins', { authorization: basic('cy', 'pw') });
    // cy has a consumer-scoped request-termination (418) that runs after acl: acl refuses first.
    assert.equal(no.status, 403);
    assert.deepEqual(no.json(), { message: 'You cannot consume this service' });
  });

  it('acl deny refuses a consumer in the group and hides the groups header', async () => {
    assert.equal((await get('/not-banned', { authorization: basic('ben', 'pw') })).status, 403);
    const ok = await get('/not-banned', { authorization: basic('ann', 's3cret:colon') });
    assert.equal(ok.status, 200);
    assert.equal(a.seen.at(-1)!.headers['x-consumer-groups'], undefined);
  });

  it('request-termination answers with its status and message, without proxying', async () => {
    const before = a.seen.length;
    const r = await get('/maintenance');
    assert.equal(r.status, 503);
    assert.deepEqual(r.json(), { message: 'back soon' });
    assert.equal(a.seen.length, before);
  });

  it('request-termination with a trigger only stops requests carrying it, with a raw body', async () => {
    assert.equal((await get('/stub')).status, 200);
    assert.equal((await get('/stub')).text, 'a');
    const r = await get('/stub', { 'x-stub': '1' });
    assert.equal(r.text, '{"ok":true}');
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal((await get('/stub?x-stub=1')).text, '{"ok":true}');
  });

  it('a consumer-scoped plugin applies once the consumer is known, and only to that consumer', async () => {
    // cy: request-termination scoped to the consumer alone applies on any route with an auth plugin.
    const cy = await get('/basic', { authorization: basic('cy', 'pw') });
    assert.equal(cy.status, 418);
    assert.deepEqual(cy.json(), { message: "I'm a Teapot" });
    // ben's consumer+route instance beats the route's own instance (consumer+route > route).
    const ben = await get('/maint-auth', { authorization: basic('ben', 'pw') });
    assert.equal(ben.status, 403);
    assert.deepEqual(ben.json(), { message: 'ben is blocked' });
    const ann = await get('/maint-auth', { authorization: basic('ann', 's3cret:colon') });
    assert.deepEqual([ann.status, ann.json()], [503, { message: 'back soon' }]);
    // ben's instance is scoped to that route: elsewhere ben passes.
    assert.equal((await get('/basic', { authorization: basic('ben', 'pw') })).status, 200);
  });
});
