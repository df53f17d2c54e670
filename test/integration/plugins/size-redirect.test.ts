/**
 * request-size-limiting (declared and streamed bodies) and redirect through a running proxy; and
 * a plugin's local reply to a request with an unread body keeps the connection usable.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../../helpers/fulcrum.ts';
import { rawRequest } from '../../helpers/raw.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

describe('request-size-limiting and redirect through a running proxy', () => {
  let a: TestUpstream;
  let f: TestNode;

  before(async () => {
    a = await startUpstream('a', (_req, res, body) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(String(body.length));
    });
    f = await startFulcrum(`
services:
  - name: api
    url: http://${a.target}
    routes:
      - name: small
        paths: [/small]
        plugins:
          - name: request-size-limiting
            config: { allowed_payload_size: 1, size_unit: kilobytes }
      - name: moved
        paths: [/moved]
        plugins:
          - name: redirect
            config: { location: "https://example.com/elsewhere?x=1" }
      - name: https
        paths: [/https]
        plugins:
          - name: redirect
            config: { location: "https://secure.example.com", keep_incoming_path: true, status_code: 308 }
      - name: locked
        paths: [/locked]
        plugins:
          - name: key-auth
`);
  });
  after(async () => {
    await f?.stop();
    await a?.close();
  });

  it("passes a body under the limit and refuses a declared one over it with Kong's message", async () => {
    const ok = await request(`${f.url}/small`, { method: 'POST', body: 'x'.repeat(1024) });
    assert.equal(ok.statusCode, 200);
    assert.equal(await ok.body.text(), '1024');
    const before = a.seen.length;
    const big = await request(`${f.url}/small`, { method: 'POST', body: 'x'.repeat(1025) });
    assert.equal(big.statusCode, 413);
    assert.deepEqual(await big.body.json(), { message: 'Request size limit exceeded' });
    assert.equal(a.seen.length, before);
  });

  it('counts a chunked body as it streams and answers 413 past the limit', async () => {
    const chunk = 'x'.repeat(600);
    const r = await rawRequest(
      f.port,
      [
        'POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n',
        `258\r\n${chunk}\r\n`,
        `258\r\n${chunk}\r\n0\r\n\r\n`,
      ],
      { gapMs: 30 },
    );
    assert.deepEqual(r.statuses, [413]);
    assert.match(r.text, /FULCRUM_ERR_PAYLOAD_TOO_LARGE/);
  });

  it('redirects to a fixed location, or to the same path and query on another origin', async () => {
    const r1 = await request(`${f.url}/moved/a?b=2`);
    await r1.body.text();
    assert.equal(r1.statusCode, 301);
    assert.equal(r1.headers.location, 'https://example.com/elsewhere?x=1');
    const r2 = await request(`${f.url}/https/orders/7?page=2`);
    await r2.body.text();
    assert.equal(r2.statusCode, 308);
    assert.equal(r2.headers.location, 'https://secure.example.com/https/orders/7?page=2');
  });

  it('a local reply to a request whose body was never read leaves the connection usable', async () => {
    const r = await rawRequest(
      f.port,
      'POST /locked HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /moved HTTP/1.1\r\nHost: t\r\n\r\n',
    );
    assert.deepEqual(r.statuses, [401, 301]);
  });
});
