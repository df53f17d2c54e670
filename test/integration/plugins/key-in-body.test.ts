/**
 * key-auth's key_in_body through a running proxy: the key in a JSON, form and multipart body, the
 * body forwarded whole (and without the key under hide_credentials, Content-Length matching),
 * a body over body_limit streamed on untouched and holding no key, and Expect: 100-continue.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:http2';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

describe('key-auth key_in_body through a running proxy', () => {
  let a: TestUpstream;
  let f: TestNode;

  before(async () => {
    a = await startUpstream('a');
    f = await startFulcrum(`
services:
  - name: api
    url: http://${a.target}
    routes:
      - name: body
        paths: [/body]
        plugins:
          - name: key-auth
            config: { key_in_body: true, body_limit: 1024 }
      - name: hidden
        paths: [/hidden]
        plugins:
          - name: key-auth
            config: { key_in_body: true, hide_credentials: true }
consumers:
  - username: alice
    keyauth_credentials: [{ key: alice-key }]
`);
  });
  after(async () => {
    await f?.stop();
    await a?.close();
  });

  async function post(
    path: string,
    type: string,
    body: string | Buffer,
    headers: Record<string, string> = {},
  ) {
    const r = await request(`${f.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': type, ...headers },
      body,
    });
    return { status: r.statusCode, json: (await r.body.json()) as Record<string, unknown> | null };
  }

  async function postText(path: string, type: string, body: string | Buffer) {
    const r = await request(`${f.url}${path}`, { method: 'POST', headers: { 'content-type': type }, body });
    return { status: r.statusCode, text: await r.body.text() };
  }

  it('finds the key in a JSON body and forwards the body whole', async () => {
    const body = JSON.stringify({ apikey: 'alice-key', order: 7 });
    const r = await postText('/body', 'application/json', body);
    assert.equal(r.status, 200);
    const seen = a.seen.at(-1)!;
    assert.equal(seen.headers['x-consumer-username'], 'alice');
    assert.equal(seen.body.toString(), body);
    assert.equal(seen.headers['content-length'], String(Buffer.byteLength(body)));
  });

  it('finds the key in a form body and in a multipart body', async () => {
    const r = await postText('/body', 'application/x-www-form-urlencoded', 'a=1&apikey=alice-key');
    assert.equal(r.status, 200);
    assert.equal(a.seen.at(-1)!.body.toString(), 'a=1&apikey=alice-key');
    const mp =
      '--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n' +
      '--XyZ\r\nContent-Disposition: form-data; name="apikey"\r\n\r\nalice-key\r\n--XyZ--\r\n';
    const m = await postText('/body', 'multipart/form-data; boundary=XyZ', mp);
    assert.equal(m.status, 200);
    assert.equal(a.seen.at(-1)!.body.toString(), mp);
  });

  it('answers 401 for a wrong key, or none, in the body', async () => {
    const before = a.seen.length;
    const wrong = await post('/body', 'application/json', JSON.stringify({ apikey: 'nope' }));
    assert.equal(wrong.status, 401);
    assert.deepEqual(wrong.json, { message: 'Unauthorized' });
    const none = await post('/body', 'application/json', JSON.stringify({ other: 1 }));
    assert.equal(none.status, 401);
    assert.deepEqual(none.json, { message: 'No API key found in request' });
    const dup = await post('/body', 'application/x-www-form-urlencoded', 'apikey=a&apikey=b');
    assert.equal(dup.status, 401);
    assert.deepEqual(dup.json, { message: 'Duplicate API key found' });
    assert.equal(a.seen.length, before);
  });

  it('treats a body over body_limit as holding no key, chunked or not', async () => {
    const big = JSON.stringify({ apikey: 'alice-key', pad: 'x'.repeat(2000) });
    const r = await post('/body', 'application/json', big);
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { message: 'No API key found in request' });
    // Chunked: read up to the limit, then refused the same way.
    const chunked = await request(`${f.url}/body`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Readable.from([Buffer.from(big.slice(0, 900)), Buffer.from(big.slice(900))]),
    });
    assert.equal(chunked.statusCode, 401);
    await chunked.body.text();
  });

  it('still takes a key from a header while the body is streamed on untouched', async () => {
    const big = `{"pad":"${'y'.repeat(5000)}"}`;
    const r = await request(`${f.url}/body`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', apikey: 'alice-key' },
      body: big,
    });
    assert.equal(r.statusCode, 200);
    await r.body.text();
    assert.equal(a.seen.at(-1)!.body.toString(), big);
  });

  it('removes the key from the body with hide_credentials, with a matching Content-Length', async () => {
    const r = await postText('/hidden', 'application/json', JSON.stringify({ apikey: 'alice-key', n: 1 }));
    assert.equal(r.status, 200);
    const seen = a.seen.at(-1)!;
    assert.equal(seen.body.toString(), '{"n":1}');
    assert.equal(seen.headers['content-length'], '7');
    const form = await postText('/hidden', 'application/x-www-form-urlencoded', 'x=1&apikey=alice-key');
    assert.equal(form.status, 200);
    assert.equal(a.seen.at(-1)!.body.toString(), 'x=1');
    assert.equal(a.seen.at(-1)!.headers['content-length'], '3');
  });

  it('answers Expect: 100-continue before reading the body', async () => {
    const body = JSON.stringify({ apikey: 'alice-key' });
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${f.url}/body`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          expect: '100-continue',
        },
      });
      // The body goes only once the proxy said 100: without it the request would hang.
      req.on('continue', () => req.end(body));
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    assert.equal(status, 200);
  });
});

describe('key-auth key_in_body over HTTP/2 (h2c, a body without Content-Length)', () => {
  let a: TestUpstream;
  let f: TestNode;

  before(async () => {
    a = await startUpstream('a');
    f = await startFulcrum(
      `
services:
  - name: api
    url: http://${a.target}
    routes:
      - name: body
        paths: [/]
        plugins:
          - name: key-auth
            config: { key_in_body: true }
consumers:
  - username: alice
    keyauth_credentials: [{ key: alice-key }]
`,
      {
        header: `_format_version: "3.0"
listeners:
  - name: proxy
    address: 127.0.0.1
    port: 0
    protocol: h2c
admin:
  address: 127.0.0.1
  port: 0
`,
      },
    );
  });
  after(async () => {
    await f?.stop();
    await a?.close();
  });

  it('reads the key from the DATA frames and forwards the body with a Content-Length', async () => {
    const session = connect(f.url);
    try {
      const post = (body: string) =>
        new Promise<number>((resolve, reject) => {
          const s = session.request({
            ':method': 'POST',
            ':path': '/',
            'content-type': 'application/x-www-form-urlencoded',
          });
          s.on('response', (h) => resolve(Number(h[':status'])));
          s.on('error', reject);
          s.resume();
          s.end(body);
        });
      assert.equal(await post('apikey=alice-key&x=1'), 200);
      const seen = a.seen.at(-1)!;
      assert.equal(seen.body.toString(), 'apikey=alice-key&x=1');
      assert.equal(seen.headers['content-length'], '20');
      assert.equal(await post('apikey=wrong'), 401);
    } finally {
      session.close();
    }
  });
});
