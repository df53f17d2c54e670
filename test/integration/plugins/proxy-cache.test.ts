/**
 * proxy-cache through a running proxy: Miss then Hit (the target is not asked again), HEAD from a
 * GET entry, Vary variants, Cache-Control honoured, statuses and types that are not cached, a body
 * over the entry limit, and expiry (the node runs on a manual clock).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { ManualClock } from '../../../src/core/clock.ts';
import { FulcrumNode } from '../../../src/runtime/node.ts';
import { TEST_NODE_HEADER } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

describe('proxy-cache through a running proxy', () => {
  let a: TestUpstream;
  let node: FulcrumNode;
  let url: string;
  const clock = new ManualClock(1_700_000_000_000);
  let n = 0;

  before(async () => {
    a = await startUpstream('a', (req, res) => {
      n++;
      const u = new URL(req.url ?? '/', 'http://x');
      const headers: Record<string, string> = {
        'content-type': u.searchParams.get('type') ?? 'application/json',
      };
      const cc = u.searchParams.get('cc');
      if (cc) headers['cache-control'] = cc;
      if (u.searchParams.has('vary')) headers.vary = 'Accept-Language';
      res.writeHead(Number(u.searchParams.get('status') ?? 200), headers);
      res.end(
        u.searchParams.has('big')
          ? 'x'.repeat(5000)
          : JSON.stringify({ n, lang: req.headers['accept-language'] ?? null }),
      );
    });
    const file = join(mkdtempSync(join(tmpdir(), 'fulcrum-test-')), 'fulcrum.yaml');
    writeFileSync(
      file,
      `${TEST_NODE_HEADER}
services:
  - name: api
    url: http://${a.target}
    routes:
      - name: cached
        paths: [/cached]
        plugins:
          - name: proxy-cache
            config: { cache_ttl: 60, max_entry_bytes: 4096, response_headers: { X-Cache-Key: true } }
      - name: cc
        paths: [/cc]
        plugins:
          - name: proxy-cache
            config: { cache_control: true }
`,
    );
    node = await FulcrumNode.start({ configFile: file, clock, accessLog: 'off', logLevel: 'silent' });
    url = `http://127.0.0.1:${node.proxyAddresses()[0]!.port}`;
  });
  after(async () => {
    await node?.stop();
    await a?.close();
  });

  async function get(path: string, opts: { method?: string; headers?: Record<string, string> } = {}) {
    const r = await request(`${url}${path}`, {
      method: (opts.method ?? 'GET') as 'GET',
      headers: opts.headers ?? {},
    });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text };
  }

  it('stores a miss and answers the next request from memory, HEAD included', async () => {
    const before = n;
    const m = await get('/cached/one?a=1&b=2');
    assert.equal(m.headers['x-cache-status'], 'Miss');
    clock.advance(3000);
    const h = await get('/cached/one?b=2&a=1', {});
    assert.equal(h.headers['x-cache-status'], 'Hit', 'query order does not matter');
    assert.equal(h.text, m.text);
    assert.equal(h.headers['content-type'], 'application/json');
    assert.equal(h.headers.age, '3');
    assert.equal(h.headers['x-cache-key'], m.headers['x-cache-key']);
    const head = await get('/cached/one?a=1&b=2', { method: 'HEAD' });
    assert.equal(head.headers['x-cache-status'], 'Hit');
    assert.equal(head.text, '');
    assert.equal(n, before + 1, 'the target was asked once');
  });

  it('expires entries after cache_ttl', async () => {
    await get('/cached/exp');
    clock.advance(59_000);
    assert.equal((await get('/cached/exp')).headers['x-cache-status'], 'Hit');
    clock.advance(1_000);
    assert.equal((await get('/cached/exp')).headers['x-cache-status'], 'Miss');
  });

  it('keeps Vary variants apart', async () => {
    const en = await get('/cached/v?vary=1', { headers: { 'accept-language': 'en' } });
    const fr = await get('/cached/v?vary=1', { headers: { 'accept-language': 'fr' } });
    assert.equal(fr.headers['x-cache-status'], 'Miss');
    const en2 = await get('/cached/v?vary=1', { headers: { 'accept-language': 'en' } });
    const fr2 = await get('/cached/v?vary=1', { headers: { 'accept-language': 'fr' } });
    assert.equal(en2.headers['x-cache-status'], 'Hit');
    assert.equal(fr2.headers['x-cache-status'], 'Hit');
    assert.equal(en2.text, en.text);
    assert.equal(fr2.text, fr.text);
    assert.notEqual(en.text, fr.text);
  });

  it('bypasses other methods, statuses, types, and bodies over max_entry_bytes', async () => {
    assert.equal((await get('/cached/p', { method: 'POST' })).headers['x-cache-status'], 'Bypass');
    for (const q of ['status=500', 'type=text/html']) {
      assert.equal((await get(`/cached/q?${q}`)).headers['x-cache-status'], 'Bypass', q);
      assert.equal((await get(`/cached/q?${q}`)).headers['x-cache-status'], 'Bypass', q);
    }
    // A chunked body (no Content-Length) is a Miss at its head, and dropped once past the limit.
    assert.equal((await get('/cached/q?big=1')).headers['x-cache-status'], 'Miss');
    const again = await get('/cached/q?big=1');
    assert.equal(again.headers['x-cache-status'], 'Miss');
    assert.equal(again.text.length, 5000);
  });

  it('honours Cache-Control with cache_control: true', async () => {
    await get('/cc/a?cc=no-store');
    assert.notEqual((await get('/cc/a?cc=no-store')).headers['x-cache-status'], 'Hit');
    await get('/cc/b?cc=max-age%3D5');
    clock.advance(4000);
    assert.equal((await get('/cc/b?cc=max-age%3D5')).headers['x-cache-status'], 'Hit');
    const refresh = await get('/cc/b?cc=max-age%3D5', { headers: { 'cache-control': 'no-cache' } });
    assert.equal(refresh.headers['x-cache-status'], 'Refresh');
    clock.advance(4000);
    assert.equal(
      (await get('/cc/b?cc=max-age%3D5')).headers['x-cache-status'],
      'Hit',
      'the refresh stored anew',
    );
    clock.advance(2000);
    assert.equal((await get('/cc/b?cc=max-age%3D5')).headers['x-cache-status'], 'Miss');
  });
});
