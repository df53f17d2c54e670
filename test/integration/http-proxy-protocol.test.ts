/**
 * PROXY protocol on an http listener (`proxy_protocol: true`, HAProxy's accept-proxy): the
 * header's source address is the client's for X-Forwarded-For, X-Real-IP and the access log; only
 * peers in trusted_ips may send it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeV2 } from '../../src/listeners/proxy-protocol.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { rawRequest } from '../helpers/raw.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const header = (trusted: string) => `_format_version: "3.0"
trusted_ips: [${trusted}]
listeners:
  - { name: proxy, address: 127.0.0.1, port: 0, proxy_protocol: true }
admin: { address: 127.0.0.1, port: 0 }
`;

describe('PROXY protocol on an http listener', () => {
  let up: TestUpstream;
  let f: TestNode;
  let g: TestNode;
  const body = () => `
services:
  - name: s
    url: http://${up.target}
    routes: [{ paths: ["/"] }]
`;

  before(async () => {
    up = await startUpstream('a');
    f = await startFulcrum(body(), { header: header('127.0.0.1/32') });
    g = await startFulcrum(body(), { header: header('10.0.0.0/8') });
  });
  after(async () => {
    await f.stop();
    await g.stop();
    await up.close();
  });

  it('v1: the header source is the client, for every request on the keep-alive connection', async () => {
    const r = await rawRequest(
      f.port,
      'PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\nGET /one HTTP/1.1\r\nHost: x\r\n\r\nGET /two HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    assert.deepEqual(r.statuses, [200, 200]);
    const seen = up.seen.slice(-2);
    assert.deepEqual(
      seen.map((s) => [s.url, s.headers['x-forwarded-for'], s.headers['x-real-ip']]),
      [
        ['/one', '203.0.113.7', '203.0.113.7'],
        ['/two', '203.0.113.7', '203.0.113.7'],
      ],
    );
  });

  it('v2 (binary), IPv6 source', async () => {
    const v2 = encodeV2({
      sourceIp: '2001:db8::9',
      destIp: '::1',
      sourcePort: 4242,
      destPort: 80,
    });
    const r = await rawRequest(f.port, [v2, 'GET /v2 HTTP/1.1\r\nHost: x\r\n\r\n']);
    assert.deepEqual(r.statuses, [200]);
    assert.equal(up.seen.at(-1)!.headers['x-forwarded-for'], '2001:db8::9');
  });

  it('closes a connection without a valid header, and one from a peer not in trusted_ips', async () => {
    const bad = await rawRequest(f.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.equal(bad.text, '');
    assert.equal(bad.closed, true);
    const untrusted = await rawRequest(
      g.port,
      'PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    assert.equal(untrusted.text, '');
    assert.equal(untrusted.closed, true);
  });
});
