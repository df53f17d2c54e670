/** compression through a running proxy: negotiation, skips, and a large streamed body intact. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { request } from 'undici';
import { negotiate } from '../../../src/plugins/compression.ts';
import { startFulcrum, type TestNode } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

const BIG = JSON.stringify({ items: Array.from({ length: 400 }, (_, i) => ({ id: i, name: `item ${i}` })) });

describe('compression through a running proxy', () => {
  let a: TestUpstream;
  let f: TestNode;

  before(async () => {
    a = await startUpstream('a', (req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const kind = u.pathname.split('/').pop();
      if (kind === 'small') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '11' });
        return res.end('{"a":"1234"}'.slice(0, 11));
      }
      if (kind === 'png') {
        res.writeHead(200, { 'content-type': 'image/png' });
        return res.end(Buffer.alloc(4096, 7));
      }
      if (kind === 'encoded') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        return res.end(Buffer.from('not really gzip'));
      }
      if (kind === 'huge') {
        // About 3 MB in 64 KiB writes: streams through the encoder.
        res.writeHead(200, { 'content-type': 'text/plain' });
        let i = 0;
        const write = () => {
          while (i < 48) {
            const ok = res.write(`${String(i).padStart(4, '0')}${'abcdefgh'.repeat(8191)}\n`);
            i++;
            if (!ok) return void res.once('drain', write);
          }
          res.end();
        };
        return write();
      }
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', etag: '"v1"' });
      res.end(BIG);
    });
    f = await startFulcrum(`
services:
  - name: api
    url: http://${a.target}
    routes:
      - name: z
        paths: [/z]
        plugins:
          - name: compression
`);
  });
  after(async () => {
    await f?.stop();
    await a?.close();
  });

  async function get(path: string, ae?: string, method = 'GET') {
    const r = await request(`${f.url}${path}`, {
      method: method as 'GET',
      headers: ae === undefined ? {} : { 'accept-encoding': ae },
    });
    const body = Buffer.from(await r.body.arrayBuffer());
    return { status: r.statusCode, headers: r.headers, body };
  }

  it('negotiates brotli first, gzip when asked, with Vary and a weakened ETag', async () => {
    const br = await get('/z/json', 'gzip, br');
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(br.headers['content-length'], undefined);
    assert.equal(br.headers.vary, 'Accept-Encoding');
    assert.equal(br.headers.etag, 'W/"v1"');
    assert.equal(brotliDecompressSync(br.body).toString(), BIG);
    assert.ok(br.body.length < BIG.length / 3, `${br.body.length} of ${BIG.length}`);
    const gz = await get('/z/json', 'gzip;q=1, br;q=0');
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gunzipSync(gz.body).toString(), BIG);
  });

  it('sends identity without Accept-Encoding, for HEAD, small bodies, other types and encoded bodies', async () => {
    const plain = await get('/z/json');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.vary, 'Accept-Encoding');
    assert.equal(plain.body.toString(), BIG);
    assert.equal((await get('/z/json', 'gzip', 'HEAD')).headers['content-encoding'], undefined);
    assert.equal((await get('/z/small', 'gzip')).headers['content-encoding'], undefined);
    assert.equal((await get('/z/png', 'gzip')).headers['content-encoding'], undefined);
    const enc = await get('/z/encoded', 'br');
    assert.equal(enc.headers['content-encoding'], 'gzip');
    assert.equal(enc.body.toString(), 'not really gzip');
  });

  it('streams a 3 MB body through gzip intact', async () => {
    const r = await get('/z/huge', 'gzip');
    assert.equal(r.headers['content-encoding'], 'gzip');
    const text = gunzipSync(r.body).toString();
    assert.equal(text.length, 48 * (4 + 8 * 8191 + 1));
    assert.ok(text.startsWith('0000abcdefgh') && text.includes('\n0047abcd'));
  });

  it('negotiate follows q-values and *', () => {
    assert.equal(negotiate('gzip, br', ['br', 'gzip']), 'br');
    assert.equal(negotiate('br;q=0, gzip', ['br', 'gzip']), 'gzip');
    assert.equal(negotiate('*', ['br', 'gzip']), 'br');
    assert.equal(negotiate('*;q=0, identity', ['br', 'gzip']), null);
    assert.equal(negotiate('identity', ['gzip']), null);
  });
});
