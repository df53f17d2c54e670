/**
 * Routing through a running proxy: what the upstream receives (path, Host) for strip_path,
 * preserve_host and upstream host_header, routing by host, method and header, and a route whose
 * service is missing answering 503 while the others serve.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { rawRequest } from '../helpers/raw.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

interface Got {
  status: number;
  body: string;
  /** What the upstream saw for this request (null when none was forwarded). */
  url: string | null;
  host: string | null;
}

describe('routing through a running proxy', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let c: TestUpstream;
  let f: TestNode;

  /** Send one request and read what the answering upstream saw. */
  async function send(
    path: string,
    opts: { method?: string; headers?: Record<string, string> } = {},
  ): Promise<Got> {
    const before = [a.seen.length, b.seen.length, c.seen.length];
    const r = await request(`${f.url}${path}`, {
      method: (opts.method ?? 'GET') as 'GET',
      headers: opts.headers ?? {},
    });
    const body = await r.body.text();
    const ups = [a, b, c];
    let url: string | null = null;
    let host: string | null = null;
    for (let i = 0; i < ups.length; i++)
      if (ups[i]!.seen.length > before[i]!) {
        const seen = ups[i]!.seen[ups[i]!.seen.length - 1]!;
        url = seen.url;
        host = seen.headers.host ?? null;
      }
    return { status: r.statusCode, body, url, host };
  }

  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    c = await startUpstream('c');
    f = await startFulcrum(`
services:
  - name: stripping
    url: http://${a.target}/svc
    routes:
      - name: strip
        paths: [/strip]
      - name: keep
        paths: [/keep]
        strip_path: false
      - name: strip-v1
        paths: [/v1strip]
        path_handling: v1
  - name: hosts
    url: http://${a.target}
    routes:
      - name: preserve
        paths: [/preserve]
        preserve_host: true
      - name: rewrite
        paths: [/rewrite]
  - name: named
    host: named-upstream
    routes:
      - name: named-default
        paths: [/named]
  - name: headered
    host: headered-upstream
    routes:
      - name: host-header
        paths: [/hh]
      - name: host-header-preserved
        paths: [/hhp]
        preserve_host: true
  - name: by-host
    url: http://${b.target}
    routes:
      - name: api-host
        hosts: [api.example.com, "*.api.example.com"]
  - name: by-method
    url: http://${c.target}
    routes:
      - name: deletes
        methods: [DELETE]
        paths: [/items]
  - name: by-header
    url: http://${b.target}/canary
    routes:
      - name: canary
        paths: [/items]
        headers:
          x-canary: ["yes"]
  - name: items
    url: http://${a.target}
    routes:
      - name: items
        paths: [/items]
routes:
  - name: orphan
    service: no-such-service
    paths: [/orphan]
upstreams:
  - name: named-upstream
    targets:
      - target: ${a.target}
  - name: headered-upstream
    host_header: internal.example
    targets:
      - target: ${a.target}
`);
  });
  after(async () => {
    await f.stop();
    await a.close();
    await b.close();
    await c.close();
  });

  describe('strip_path and the service path', () => {
    it('strips the matched prefix and prepends the service path (strip_path: true)', async () => {
      const g = await send('/strip/users?x=1&y=2');
      assert.equal(g.status, 200);
      assert.equal(g.url, '/svc/users?x=1&y=2');
    });

    it('forwards the service path alone for the bare prefix', async () => {
      assert.equal((await send('/strip')).url, '/svc');
      assert.equal((await send('/strip/')).url, '/svc/');
    });

    it('keeps the matched prefix after the service path (strip_path: false)', async () => {
      assert.equal((await send('/keep/users')).url, '/svc/keep/users');
    });

    it('joins as a plain prefix with path_handling v1', async () => {
      assert.equal((await send('/v1strip/users')).url, '/svc/users');
      assert.equal((await send('/v1strippedx')).url, '/svcpedx');
    });

    // A raw socket, because an HTTP client would normalize these paths itself before sending.
    it('routes and forwards the normalized path', async () => {
      const before = a.seen.length;
      const r = await rawRequest(
        f.port,
        'GET /other/../strip/%75sers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      assert.deepEqual(r.statuses, [200]);
      assert.equal(a.seen.length, before + 1);
      assert.equal(a.seen[before]!.url, '/svc/users');
    });

    it('answers 400 for a path that climbs above the root', async () => {
      const before = a.seen.length;
      const r = await rawRequest(
        f.port,
        'GET /strip/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      );
      assert.deepEqual(r.statuses, [400]);
      assert.equal(a.seen.length, before);
    });
  });

  describe('preserve_host and host_header', () => {
    it("forwards the client's Host with preserve_host: true", async () => {
      const g = await send('/preserve', { headers: { host: 'client.example:8443' } });
      assert.equal(g.status, 200);
      assert.equal(g.host, 'client.example:8443');
    });

    it("sends the service's host:port with preserve_host: false", async () => {
      const g = await send('/rewrite', { headers: { host: 'client.example' } });
      assert.equal(g.host, a.target);
    });

    it("sends the upstream's name when the service names an upstream", async () => {
      const g = await send('/named', { headers: { host: 'client.example' } });
      assert.equal(g.status, 200);
      assert.equal(g.host, 'named-upstream');
    });

    it("sends the upstream's host_header when it has one", async () => {
      const g = await send('/hh', { headers: { host: 'client.example' } });
      assert.equal(g.host, 'internal.example');
    });

    it('lets preserve_host win over host_header', async () => {
      const g = await send('/hhp', { headers: { host: 'client.example' } });
      assert.equal(g.host, 'client.example');
    });
  });

  describe('routing by host, method and header', () => {
    it('routes by Host, plain and wildcard, with any port', async () => {
      for (const host of ['api.example.com', 'eu.api.example.com', 'api.example.com:8000']) {
        const g = await send('/anything', { headers: { host } });
        assert.equal(g.body, 'b', host);
        assert.equal(g.url, '/anything');
      }
      const miss = await send('/anything', { headers: { host: 'example.com' } });
      assert.equal(miss.status, 404);
    });

    it('routes by method', async () => {
      assert.equal((await send('/items/1', { method: 'DELETE' })).body, 'c');
      assert.equal((await send('/items/1', { method: 'GET' })).body, 'a');
    });

    it('routes by header, values case-insensitive', async () => {
      const g = await send('/items/1', { headers: { 'x-canary': 'YES' } });
      assert.equal(g.body, 'b');
      assert.equal(g.url, '/canary/1');
      assert.equal((await send('/items/1', { headers: { 'x-canary': 'no' } })).body, 'a');
    });
  });

  describe('a route whose service is missing', () => {
    it('answers 503 FULCRUM_ERR_ROUTE_DISABLED', async () => {
      const g = await send('/orphan/x');
      assert.equal(g.status, 503);
      assert.equal((JSON.parse(g.body) as { code: string }).code, 'FULCRUM_ERR_ROUTE_DISABLED');
      assert.equal(g.url, null);
    });

    it('while the other routes serve', async () => {
      assert.equal((await send('/strip/ok')).status, 200);
      assert.equal((await send('/items/ok')).status, 200);
    });

    it('is reported in the snapshot problems', () => {
      assert.deepEqual(f.node.runtime.current.snapshot.problems, [
        { path: 'routes[0]', message: 'service "no-such-service" does not exist; route disabled' },
      ]);
    });
  });
});
