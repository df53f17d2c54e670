/** cors (preflight at the edge, headers on responses and on other plugins' replies) and the transformers. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

describe('cors and transformer plugins through a running proxy', () => {
  let a: TestUpstream;
  let f: TestNode;

  before(async () => {
    a = await startUpstream('a', (_req, res) => {
      res.writeHead(200, {
        'content-type': 'text/plain',
        'x-internal': 'secret',
        'x-old': 'v',
        server: 'up',
      });
      res.end('a');
    });
    f = await startFulcrum(`
services:
  - name: api
    url: http://${a.target}
    routes:
      - name: cors
        paths: [/cors]
        plugins:
          - name: cors
            config:
              origins: [https://app.example.com, "https://.*\\\\.example\\\\.org"]
              headers: [x-auth]
              exposed_headers: [x-request-id]
              credentials: true
              max_age: 600
          - name: key-auth
            config: { run_on_preflight: true }
      - name: star
        paths: [/star]
        plugins:
          - name: cors
      - name: transform
        paths: [/transform]
        plugins:
          - name: request-transformer
            config:
              remove: { headers: [x-drop], querystring: [secret] }
              rename: { headers: ["x-from:x-to"] }
              replace: { headers: ["x-rep:new"], querystring: ["page:1"] }
              add: { headers: ["x-added:yes", "x-rep:ignored"], querystring: ["lang:en"] }
              append: { headers: ["x-multi:two"] }
          - name: response-transformer
            config:
              remove: { headers: [x-internal] }
              rename: { headers: ["x-old:x-new"] }
              add: { headers: ["x-served-by:fulcrum"] }
              replace: { headers: ["server:edge"] }
consumers:
  - username: u
    keyauth_credentials: [{ key: k }]
`);
  });
  after(async () => {
    await f?.stop();
    await a?.close();
  });

  async function send(path: string, method: string, headers: Record<string, string> = {}) {
    const r = await request(`${f.url}${path}`, { method: method as 'GET', headers });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text };
  }

  it('answers a preflight at the edge (before key-auth), for an allowed origin', async () => {
    const before = a.seen.length;
    const r = await send('/cors', 'OPTIONS', {
      origin: 'https://app.example.com',
      'access-control-request-method': 'POST',
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
    assert.equal(r.headers['access-control-allow-credentials'], 'true');
    assert.equal(r.headers['access-control-allow-headers'], 'x-auth');
    assert.equal(r.headers['access-control-max-age'], '600');
    assert.match(String(r.headers['access-control-allow-methods']), /^GET,HEAD,PUT,PATCH,POST,DELETE/);
    assert.equal(r.headers.vary, 'Origin');
    assert.equal(a.seen.length, before);
  });

  it('matches regex origins anchored, and leaves out Allow-Origin for others', async () => {
    const ok = await send('/cors', 'GET', { origin: 'https://x.example.org', apikey: 'k' });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://x.example.org');
    assert.equal(ok.headers['access-control-expose-headers'], 'x-request-id');
    const no = await send('/cors', 'GET', { origin: 'https://x.example.org.evil.com', apikey: 'k' });
    assert.equal(no.status, 200);
    assert.equal(no.headers['access-control-allow-origin'], undefined);
  });

  it("adds CORS headers to another plugin's refusal too (a browser can read the 401)", async () => {
    const r = await send('/cors', 'GET', { origin: 'https://app.example.com' });
    assert.equal(r.status, 401);
    assert.equal(r.headers['access-control-allow-origin'], 'https://app.example.com');
  });

  it('with no origins configured, allows any origin with *', async () => {
    const r = await send('/star', 'GET', { origin: 'https://any.test' });
    assert.equal(r.headers['access-control-allow-origin'], '*');
    const p = await send('/star', 'OPTIONS', {
      origin: 'https://any.test',
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'x-a,x-b',
    });
    assert.equal(p.status, 200);
    assert.equal(p.headers['access-control-allow-headers'], 'x-a,x-b');
  });

  it('request-transformer edits headers and query in Kong order; response-transformer edits the response', async () => {
    const r = await send('/transform?secret=1&page=7&keep=a', 'GET', {
      'x-drop': '1',
      'x-from': 'moved',
      'x-rep': 'old',
      'x-multi': 'one',
    });
    assert.equal(r.status, 200);
    const seen = a.seen.at(-1)!;
    assert.equal(seen.url, '/?page=1&keep=a&lang=en');
    assert.equal(seen.headers['x-drop'], undefined);
    assert.equal(seen.headers['x-from'], undefined);
    assert.equal(seen.headers['x-to'], 'moved');
    assert.equal(seen.headers['x-rep'], 'new');
    assert.equal(seen.headers['x-added'], 'yes');
    assert.equal(seen.headers['x-multi'], 'one, two');
    assert.equal(r.headers['x-internal'], undefined);
    assert.equal(r.headers['x-old'], undefined);
    assert.equal(r.headers['x-new'], 'v');
    assert.equal(r.headers['x-served-by'], 'fulcrum');
    assert.equal(r.headers.server, 'edge');
    assert.equal(r.text, 'a');
  });
});
