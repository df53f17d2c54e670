import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { TLSSocket } from 'node:tls';
import { request } from 'undici';
import { TestPki, yamlPem } from '../helpers/certs.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';

interface Echo {
  sni: string | false;
  cn: string;
  authorized: boolean;
  host: string;
}

describe('upstream TLS: verification against configured CAs, SNI, client certificates', () => {
  const pki = new TestPki();
  const upstreamCa = pki.ca('Upstream CA');
  const target = pki.issue(upstreamCa, 'upstream.test', {
    sans: ['DNS:upstream.test', 'DNS:alt.test', 'IP:127.0.0.1'],
  });
  const clientCa = pki.ca('Proxy Client CA');
  const proxyClient = pki.issue(clientCa, 'fulcrum-proxy', { usage: 'clientAuth' });
  const CA_ID = '5a000000-0000-4000-8000-00000000000a';
  const CLIENT_ID = '5a000000-0000-4000-8000-00000000000b';
  let server: Server;
  let port: number;
  let f: TestNode;

  before(async () => {
    server = createServer(
      { cert: target.cert, key: target.key, ca: clientCa.cert, requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const s = req.socket as TLSSocket;
        const cn = s.getPeerCertificate()?.subject?.CN;
        const echo: Echo = {
          sni: (s as TLSSocket & { servername: string | false }).servername,
          cn: typeof cn === 'string' ? cn : '',
          authorized: s.authorized,
          host: req.headers.host ?? '',
        };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(echo));
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
    f = await startFulcrum(`
services:
  - name: verified
    protocol: https
    host: u
    ca_certificates: [${CA_ID}]
    client_certificate: ${CLIENT_ID}
    routes: [{ paths: [/verified] }]
  - name: system-store
    protocol: https
    host: u
    retries: 0
    routes: [{ paths: [/system] }]
  - name: unverified
    protocol: https
    host: u
    tls_verify: false
    routes: [{ paths: [/unverified] }]
  - name: sni-override
    protocol: https
    host: u
    ca_certificates: [${CA_ID}]
    tls_server_name: alt.test
    routes: [{ paths: [/sni] }]
  - name: by-ip
    url: https://127.0.0.1:${port}
    ca_certificates: [${CA_ID}]
    routes: [{ paths: [/ip] }]
upstreams:
  - name: u
    host_header: upstream.test
    targets: [{ target: "127.0.0.1:${port}" }]
ca_certificates:
  - id: ${CA_ID}
    cert: ${yamlPem(upstreamCa.cert, 6)}
certificates:
  - id: ${CLIENT_ID}
    cert: ${yamlPem(proxyClient.cert, 6)}
    key: ${yamlPem(proxyClient.key, 6)}
`);
  });
  after(async () => {
    await f.stop();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const get = async (path: string): Promise<{ status: number; echo: Echo | null; text: string }> => {
    const r = await request(`${f.url}${path}`);
    const text = await r.body.text();
    return { status: r.statusCode, echo: r.statusCode === 200 ? (JSON.parse(text) as Echo) : null, text };
  };

  it('verifies the target against the service CA, sends SNI = the Host sent upstream, presents the client certificate', async () => {
    const r = await get('/verified');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.echo, {
      sni: 'upstream.test',
      cn: 'fulcrum-proxy',
      authorized: true,
      host: 'upstream.test',
    });
  });

  it('refuses a target the system store does not trust (tls_verify is on by default)', async () => {
    const r = await get('/system');
    assert.equal(r.status, 502, r.text);
    // A refused certificate is a connect failure: nothing of the request was sent.
    assert.equal(JSON.parse(r.text).code, 'FULCRUM_ERR_UPSTREAM_CONNECT');
  });

  it('tls_verify: false skips verification', async () => {
    const r = await get('/unverified');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.echo!.cn, '');
  });

  it('tls_server_name overrides the SNI, and the certificate is checked against it', async () => {
    const r = await get('/sni');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.echo!.sni, 'alt.test');
    assert.equal(r.echo!.host, 'upstream.test');
  });

  it('sends no SNI to an IP address and verifies the IP instead', async () => {
    const r = await get('/ip');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.echo!.sni, false);
  });

  it('refuses a service naming a CA or client certificate that does not exist', async () => {
    f.write(`
services:
  - name: s
    protocol: https
    host: example.test
    ca_certificates: [nope]
    client_certificate: { id: nope }
`);
    const r = await f.node.reload();
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.deepEqual(
        r.issues.map((i) => i.path),
        ['services[0].ca_certificates[0]', 'services[0].client_certificate'],
      );
    }
  });
});
