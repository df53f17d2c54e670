/**
 * The transformers' body rules through a running proxy: request-transformer on JSON and form
 * bodies (the target sees the edited body with a matching Content-Length, a retry replays it),
 * bodies over body_limit and other types passed untouched; response-transformer's json rules
 * (typed values), a large or non-JSON response untouched, and a rewritten body then compressed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

describe('transformer body rules through a running proxy', () => {
  let a: TestUpstream;
  let f: TestNode;

  before(async () => {
    a = await startUpstream('a', (req, res, body) => {
      if (req.url?.startsWith('/out/big')) {
        const big = JSON.stringify({ secret: 1, pad: 'p'.repeat(4000) });
        // With a Content-Length over the limit; chunked (held up to the limit, then passed on).
        const sized = req.url === '/out/big';
        res.writeHead(200, {
          'content-type': 'application/json',
          ...(sized ? { 'content-length': String(big.length) } : {}),
        });
        return res.end(big);
      }
      if (req.url?.startsWith('/out/text')) {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end('{"secret":1}');
      }
      if (req.url?.startsWith('/out')) {
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
        return res.end(JSON.stringify({ secret: 's', old: 'o', list: 1, pad: 'q'.repeat(600) }));
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(body);
    });
    f = await startFulcrum(
      `
services:
  - name: api
    url: http://${a.target}
    routes:
      - name: in
        paths: [/in]
        plugins:
          - name: request-transformer
            config:
              body_limit: 2048
              remove: { body: [password] }
              rename: { body: ["user:username"] }
              replace: { body: ["role:member", "absent:x"] }
              add: { body: ["source:fulcrum", "role:ignored"] }
              append: { body: ["tags:new"] }
      - name: out
        paths: [/out]
        strip_path: false
        plugins:
          - name: response-transformer
            config:
              body_limit: 2048
              remove: { json: [secret] }
              rename: { json: ["old:renamed"] }
              add: { json: ["count:3", "ok:true", "name:x"], json_types: [number, boolean] }
              append: { json: ["list:2"], json_types: [number] }
`,
    );
  });
  after(async () => {
    await f?.stop();
    await a?.close();
  });

  async function post(type: string, body: string) {
    const r = await request(`${f.url}/in`, { method: 'POST', headers: { 'content-type': type }, body });
    assert.equal(r.statusCode, 200);
    const echoed = await r.body.text();
    const seen = a.seen.at(-1)!;
    assert.equal(seen.headers['content-length'], String(seen.body.length), 'Content-Length matches');
    return echoed;
  }

  it('edits a JSON request body in Kong order, with a matching Content-Length', async () => {
    const out = await post(
      'application/json',
      JSON.stringify({ user: 'ann', password: 'pw', role: 'admin', tags: 'old' }),
    );
    assert.deepEqual(JSON.parse(out), {
      username: 'ann',
      role: 'member',
      source: 'fulcrum',
      tags: ['old', 'new'],
    });
  });

  it('edits a form body', async () => {
    const out = await post('application/x-www-form-urlencoded', 'user=ann&password=pw&tags=a');
    assert.deepEqual(
      [...new URLSearchParams(out)],
      [
        ['username', 'ann'],
        ['source', 'fulcrum'],
        ['role', 'ignored'],
        ['tags', 'a'],
        ['tags', 'new'],
      ],
    );
  });

  it('makes a JSON body from add and append for a request that had none', async () => {
    const r = await request(`${f.url}/in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': '0' },
    });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(JSON.parse(await r.body.text()), { source: 'fulcrum', role: 'ignored', tags: ['new'] });
    assert.equal(a.seen.at(-1)!.headers['content-length'], String(a.seen.at(-1)!.body.length));
  });

  it('passes a body over body_limit, and other types, untouched', async () => {
    const big = JSON.stringify({ password: 'pw', pad: 'z'.repeat(3000) });
    assert.equal(await post('application/json', big), big);
    assert.equal(await post('text/plain', 'password=pw'), 'password=pw');
    assert.equal(await post('application/json', '{not json'), '{not json');
  });

  it('rewrites a JSON response body with typed values', async () => {
    const r = await request(`${f.url}/out`);
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-length'], undefined);
    const v = (await r.body.json()) as Record<string, unknown>;
    assert.equal(v.secret, undefined);
    assert.equal(v.renamed, 'o');
    assert.equal(v.count, 3);
    assert.equal(v.ok, true);
    assert.equal(v.name, 'x');
    assert.deepEqual(v.list, [1, 2]);
  });

  it('passes a response over body_limit, or not JSON, untouched', async () => {
    const big = await request(`${f.url}/out/big`);
    const text = await big.body.text();
    assert.equal(big.headers['content-length'], String(text.length));
    assert.equal(JSON.parse(text).secret, 1);
    const chunked = await request(`${f.url}/out/big-chunked`);
    assert.equal(await chunked.body.text(), text);
    const plain = await request(`${f.url}/out/text`);
    assert.equal(await plain.body.text(), '{"secret":1}');
  });
});

describe('response-transformer json rules before compression', () => {
  let a: TestUpstream;
  let f: TestNode;

  before(async () => {
    a = await startUpstream('a', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ secret: 's', pad: 'r'.repeat(3000) }));
    });
    f = await startFulcrum(`
services:
  - name: api
    url: http://${a.target}
    plugins:
      - name: response-transformer
        config: { remove: { json: [secret] }, add: { json: ["v:1"] } }
      - name: compression
        config: { algorithms: [gzip] }
    routes:
      - name: r
        paths: [/]
`);
  });
  after(async () => {
    await f?.stop();
    await a?.close();
  });

  it('compresses the rewritten body', async () => {
    const r = await request(f.url, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(r.headers['content-encoding'], 'gzip');
    const v = JSON.parse(gunzipSync(Buffer.from(await r.body.arrayBuffer())).toString());
    assert.equal(v.secret, undefined);
    assert.equal(v.v, '1');
    assert.equal(v.pad.length, 3000);
  });
});

describe('a transformed request body on a retry', () => {
  let bad: TestUpstream;
  let good: TestUpstream;
  let f: TestNode;

  before(async () => {
    bad = await startUpstream('bad', (_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('down');
    });
    good = await startUpstream('good', (_req, res, body) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
    f = await startFulcrum(`
upstreams:
  - name: pair
    algorithm: round-robin
    targets: [{ target: ${bad.target} }, { target: ${good.target} }]
services:
  - name: api
    host: pair
    retries: 1
    routes:
      - name: r
        paths: [/]
        plugins:
          - name: request-transformer
            config: { add: { body: ["via:gw"] } }
`);
  });
  after(async () => {
    await f?.stop();
    await bad?.close();
    await good?.close();
  });

  it('replays the edited body to the next target', async () => {
    for (let i = 0; i < 4; i++) {
      const r = await request(f.url, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ n: i }),
      });
      assert.equal(r.statusCode, 200);
      assert.deepEqual(JSON.parse(await r.body.text()), { n: i, via: 'gw' });
    }
    assert.ok(bad.seen.length >= 1, 'the failing target was tried first at least once');
    for (const s of [...bad.seen, ...good.seen]) {
      assert.equal(JSON.parse(s.body.toString()).via, 'gw');
      assert.equal(s.headers['content-length'], String(s.body.length));
    }
  });
});
