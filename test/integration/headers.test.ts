/**
 * Header hygiene through a running proxy: the upstream records what it received.
 * Hop-by-hop fields never cross; X-Forwarded-* / X-Real-IP / Forwarded are replaced for an
 * untrusted client and extended for a trusted one; Via both ways; X-Request-Id; Host.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { rawRequest } from '../helpers/raw.ts';
import { type Seen, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const SPOOFED = {
  'x-forwarded-for': '203.0.113.9',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'spoofed.example',
  'x-forwarded-port': '8443',
  'x-real-ip': '203.0.113.10',
  forwarded: 'for=203.0.113.9;proto=https',
};

function services(up: TestUpstream): string {
  return `
headers:
  forwarded: true
services:
  - name: plain
    url: http://${up.target}
    routes:
      - { name: plain, paths: ["/plain"], strip_path: false }
      - { name: preserve, paths: ["/preserve"], strip_path: false, preserve_host: true }
  - name: balanced
    host: pool
    routes:
      - { name: balanced, paths: ["/balanced"], strip_path: false }
upstreams:
  - name: pool
    targets: [{ target: "${up.target}" }]
`;
}

describe('header hygiene', () => {
  let up: TestUpstream;
  let untrusted: TestNode;
  let trusted: TestNode;

  before(async () => {
    up = await startUpstream('up', (req, res) => {
      if (req.url === '/plain/hop-response') {
        res.writeHead(200, {
          connection: 'x-hop-listed',
          'x-hop-listed': '1',
          'keep-alive': 'timeout=5, max=7',
          'proxy-authenticate': 'Basic realm="x"',
          via: '1.0 origin',
          'x-end': 'e',
        });
        res.end('ok');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
    untrusted = await startFulcrum(`trusted_ips: ["10.0.0.0/8"]\n${services(up)}`);
    trusted = await startFulcrum(`trusted_ips: ["127.0.0.1/32"]\n${services(up)}`);
  });

  after(async () => {
    await untrusted?.stop();
    await trusted?.stop();
    await up?.close();
  });

  /** Send through `f` and return what the upstream received. */
  async function via(f: TestNode, path: string, headers: Record<string, string> = {}): Promise<Seen> {
    const before = up.seen.length;
    const r = await request(`${f.url}${path}`, { headers });
    assert.equal(r.statusCode, 200);
    await r.body.text();
    assert.equal(up.seen.length, before + 1);
    return up.seen[before]!;
  }

  it('removes hop-by-hop request fields: Connection-listed, Keep-Alive, TE, Trailer, Proxy-*, Upgrade', async () => {
    const before = up.seen.length;
    const r = await rawRequest(
      untrusted.port,
      'GET /plain/hop HTTP/1.1\r\nHost: client.example\r\n' +
        'Connection: close, X-Listed\r\nX-Listed: secret\r\nKeep-Alive: timeout=5\r\n' +
        'TE: trailers, deflate\r\nTrailer: X-T\r\nProxy-Authorization: Basic eDp5\r\n' +
        'Proxy-Custom: y\r\nProxy-Connection: keep-alive\r\nUpgrade: websocket\r\nX-Keep: kept\r\n\r\n',
    );
    assert.deepEqual(r.statuses, [200]);
    const h = up.seen[before]!.headers;
    assert.equal(h['x-keep'], 'kept');
    assert.equal(h['x-listed'], undefined);
    assert.doesNotMatch(String(h.connection ?? ''), /x-listed|close/i);
    assert.equal(h['keep-alive'], undefined);
    assert.equal(h.te, 'trailers');
    assert.equal(h.trailer, undefined);
    assert.equal(h['proxy-authorization'], undefined);
    assert.equal(h['proxy-custom'], undefined);
    assert.equal(h['proxy-connection'], undefined);
    assert.equal(h.upgrade, undefined);
  });

  it('drops TE when it does not offer trailers', async () => {
    const s = await via(untrusted, '/plain/te', { te: 'gzip' });
    assert.equal(s.headers.te, undefined);
  });

  it('re-frames a chunked request body: the client Transfer-Encoding is not passed on', async () => {
    const before = up.seen.length;
    const r = await rawRequest(
      untrusted.port,
      'POST /plain/chunked HTTP/1.1\r\nHost: client.example\r\nConnection: close\r\n' +
        'Transfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n',
    );
    assert.deepEqual(r.statuses, [200]);
    const s = up.seen[before]!;
    assert.equal(s.body.toString(), 'hello');
    const framing = s.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.ok(
      framing.filter((n) => n === 'transfer-encoding' || n === 'content-length').length <= 1,
      `one framing header: ${s.rawHeaders}`,
    );
  });

  it('removes hop-by-hop response fields and appends to Via', async () => {
    const r = await request(`${untrusted.url}/plain/hop-response`);
    assert.equal(r.statusCode, 200);
    assert.equal(await r.body.text(), 'ok');
    assert.equal(r.headers['x-end'], 'e');
    assert.equal(r.headers['x-hop-listed'], undefined);
    assert.equal(r.headers['proxy-authenticate'], undefined);
    assert.doesNotMatch(String(r.headers['keep-alive'] ?? ''), /max=7/);
    assert.equal(r.headers.via, '1.0 origin, 1.1 fulcrum');
  });

  it('adds Via to a response that had none', async () => {
    const r = await request(`${untrusted.url}/plain/x`);
    await r.body.text();
    assert.equal(r.headers.via, '1.1 fulcrum');
  });

  it('adds Via to the request, and appends to an existing one', async () => {
    assert.equal((await via(untrusted, '/plain/v')).headers.via, '1.1 fulcrum');
    assert.equal(
      (await via(untrusted, '/plain/v', { via: '1.0 edge' })).headers.via,
      '1.0 edge, 1.1 fulcrum',
    );
  });

  it('replaces spoofed X-Forwarded-*, X-Real-IP and Forwarded from an untrusted client', async () => {
    const s = await via(untrusted, '/plain/xff', { host: 'client.example', ...SPOOFED });
    assert.equal(s.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(s.headers['x-forwarded-proto'], 'http');
    assert.equal(s.headers['x-forwarded-host'], 'client.example');
    assert.equal(s.headers['x-forwarded-port'], String(untrusted.port));
    assert.equal(s.headers['x-real-ip'], '127.0.0.1');
    assert.equal(s.headers.forwarded, 'for=127.0.0.1;host="client.example";proto=http');
  });

  it('sets X-Forwarded-* from the connection when an untrusted client sent none', async () => {
    const s = await via(untrusted, '/plain/xff', { host: 'client.example' });
    assert.equal(s.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(s.headers['x-forwarded-proto'], 'http');
    assert.equal(s.headers['x-forwarded-host'], 'client.example');
    assert.equal(s.headers['x-forwarded-port'], String(untrusted.port));
    assert.equal(s.headers['x-real-ip'], '127.0.0.1');
  });

  it('appends to X-Forwarded-For and Forwarded, and keeps X-Forwarded-*, from a trusted client', async () => {
    const s = await via(trusted, '/plain/xff', { host: 'client.example', ...SPOOFED });
    assert.equal(s.headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(s.headers['x-forwarded-proto'], 'https');
    assert.equal(s.headers['x-forwarded-host'], 'spoofed.example');
    assert.equal(s.headers['x-forwarded-port'], '8443');
    assert.equal(s.headers['x-real-ip'], '127.0.0.1');
    assert.equal(
      s.headers.forwarded,
      'for=203.0.113.9;proto=https, for=127.0.0.1;host="client.example";proto=http',
    );
  });

  it('sets X-Forwarded-* from the connection when a trusted client sent none', async () => {
    const s = await via(trusted, '/plain/xff', { host: 'client.example' });
    assert.equal(s.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(s.headers['x-forwarded-proto'], 'http');
    assert.equal(s.headers['x-forwarded-host'], 'client.example');
    assert.equal(s.headers['x-forwarded-port'], String(trusted.port));
  });

  it('passes a given X-Request-Id through and generates a UUID otherwise', async () => {
    assert.equal(
      (await via(untrusted, '/plain/id', { 'x-request-id': 'abc-123' })).headers['x-request-id'],
      'abc-123',
    );
    const a = (await via(untrusted, '/plain/id')).headers['x-request-id'];
    const b = (await via(untrusted, '/plain/id')).headers['x-request-id'];
    assert.match(String(a), UUID);
    assert.match(String(b), UUID);
    assert.notEqual(a, b);
  });

  it('echoes the X-Request-Id on a locally generated error', async () => {
    const r = await request(`${untrusted.url}/nowhere`, { headers: { 'x-request-id': 'err-1' } });
    assert.equal(r.statusCode, 404);
    assert.equal(r.headers['x-request-id'], 'err-1');
    assert.equal(((await r.body.json()) as { request_id: string }).request_id, 'err-1');
    const g = await request(`${untrusted.url}/nowhere`);
    assert.match(String(g.headers['x-request-id']), UUID);
    assert.equal(((await g.body.json()) as { request_id: string }).request_id, g.headers['x-request-id']);
  });

  it('rewrites Host to the service host, or keeps it with preserve_host', async () => {
    assert.equal((await via(untrusted, '/plain/h', { host: 'client.example' })).headers.host, up.target);
    assert.equal((await via(untrusted, '/balanced/h', { host: 'client.example' })).headers.host, 'pool');
    assert.equal(
      (await via(untrusted, '/preserve/h', { host: 'client.example:81' })).headers.host,
      'client.example:81',
    );
  });
});
