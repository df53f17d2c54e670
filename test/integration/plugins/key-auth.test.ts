/**
 * key-auth through a running proxy: 401s with Kong's messages, the X-Consumer-* headers the target
 * receives, hide_credentials, anonymous, precedence (a route without the plugin stays open), and
 * `hash_on: consumer` balancing by the authenticated consumer.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

describe('key-auth through a running proxy', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let f: TestNode;

  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    f = await startFulcrum(`
upstreams:
  - name: pair
    algorithm: ring-hash
    hash_on: consumer
    targets:
      - target: ${a.target}
      - target: ${b.target}
services:
  - name: api
    url: http://${a.target}
    plugins:
      - name: key-auth
        config:
          key_names: [apikey, X-Key]
    routes:
      - name: secured
        paths: [/secured]
      - name: hidden
        paths: [/hidden]
        plugins:
          - name: key-auth
            config: { hide_credentials: true }
  - name: open
    url: http://${a.target}
    routes:
      - name: open
        paths: [/open]
      - name: anon
        paths: [/anon]
        plugins:
          - name: key-auth
            config: { anonymous: guest }
      - name: ghost
        paths: [/ghost]
        plugins:
          - name: key-auth
            config: { anonymous: ghost }
  - name: hashed
    host: pair
    routes:
      - name: hashed
        paths: [/hashed]
        plugins:
          - name: key-auth
consumers:
  - username: alice
    custom_id: A-1
    keyauth_credentials:
      - key: alice-key
  - username: bob
    keyauth_credentials:
      - key: bob-key
  - username: guest
`);
  });
  after(async () => {
    await f?.stop();
    await a?.close();
    await b?.close();
  });

  async function get(path: string, headers: Record<string, string> = {}) {
    const r = await request(`${f.url}${path}`, { headers });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text };
  }

  it('answers 401 "No API key found in request" without a key, and forwards nothing', async () => {
    const before = a.seen.length;
    const r = await get('/secured');
    assert.equal(r.status, 401);
    assert.deepEqual(JSON.parse(r.text), { message: 'No API key found in request' });
    assert.equal(r.headers['www-authenticate'], 'Key realm="fulcrum"');
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.equal(a.seen.length, before);
  });

  it('answers 401 "Unauthorized" for an unknown key', async () => {
    const r = await get('/secured', { apikey: 'nope' });
    assert.equal(r.status, 401);
    assert.deepEqual(JSON.parse(r.text), { message: 'Unauthorized' });
  });

  it('passes a good key from a header or the query, with the consumer headers, replacing forged ones', async () => {
    const r1 = await get('/secured', { 'x-key': 'alice-key', 'x-consumer-username': 'mallory' });
    assert.equal(r1.status, 200);
    const seen = a.seen.at(-1)!;
    assert.equal(seen.headers['x-consumer-username'], 'alice');
    assert.equal(seen.headers['x-consumer-custom-id'], 'A-1');
    assert.match(String(seen.headers['x-consumer-id']), /^[0-9a-f-]{36}$/);
    assert.match(String(seen.headers['x-credential-identifier']), /^[0-9a-f-]{36}$/);
    assert.equal(seen.headers['x-anonymous-consumer'], undefined);
    // Not hidden by default.
    assert.equal(seen.headers['x-key'], 'alice-key');

    const r2 = await get('/secured?apikey=bob-key&x=1');
    assert.equal(r2.status, 200);
    assert.equal(a.seen.at(-1)!.headers['x-consumer-username'], 'bob');
    assert.equal(a.seen.at(-1)!.headers['x-consumer-custom-id'], undefined);
    assert.equal(a.seen.at(-1)!.url, '/?apikey=bob-key&x=1', 'strip_path leaves the query as sent');
  });

  it('refuses the same key given twice in the query', async () => {
    const r = await get('/secured?apikey=bob-key&apikey=alice-key');
    assert.equal(r.status, 401);
    assert.deepEqual(JSON.parse(r.text), { message: 'Duplicate API key found' });
  });

  it('the route-scoped instance wins over the service one (key_names back to apikey) and hides the key', async () => {
    assert.equal((await get('/hidden', { 'x-key': 'alice-key' })).status, 401);
    const r = await get('/hidden?apikey=alice-key&keep=1', { apikey: 'bob-key' });
    assert.equal(r.status, 200);
    const seen = a.seen.at(-1)!;
    assert.equal(seen.headers.apikey, undefined);
    assert.equal(seen.url, '/?keep=1');
    assert.equal(seen.headers['x-consumer-username'], 'bob', 'the header is read before the query');
  });

  it('a route of another service without the plugin stays open', async () => {
    assert.equal((await get('/open')).status, 200);
  });

  it('anonymous: a request without a key goes on as the anonymous consumer', async () => {
    const r = await get('/anon');
    assert.equal(r.status, 200);
    const seen = a.seen.at(-1)!;
    assert.equal(seen.headers['x-consumer-username'], 'guest');
    assert.equal(seen.headers['x-anonymous-consumer'], 'true');
    assert.equal(seen.headers['x-credential-identifier'], undefined);
    const r2 = await get('/anon', { apikey: 'alice-key' });
    assert.equal(r2.status, 200);
    assert.equal(a.seen.at(-1)!.headers['x-consumer-username'], 'alice');
  });

  it('anonymous naming a consumer that does not exist (loaded, as in Kong): a key still works, no key is a 500', async () => {
    const before = a.seen.length;
    assert.equal((await get('/ghost')).status, 500);
    assert.equal(a.seen.length, before, 'the request did not reach the target');
    assert.equal((await get('/ghost', { apikey: 'alice-key' })).status, 200);
  });

  it('hash_on: consumer sends each consumer to one target every time', async () => {
    const where = async (key: string) => {
      const r = await get('/hashed', { apikey: key });
      assert.equal(r.status, 200);
      return r.text;
    };
    const alice = await where('alice-key');
    const bob = await where('bob-key');
    for (let i = 0; i < 5; i++) {
      assert.equal(await where('alice-key'), alice);
      assert.equal(await where('bob-key'), bob);
    }
  });
});
