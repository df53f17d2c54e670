import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Client } from 'undici';
import { type Pem, TestPki } from '../helpers/certs.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

describe('client certificates (mTLS) on https listeners', () => {
  const pki = new TestPki();
  const ca = pki.ca('Server CA');
  const server = pki.issue(ca, 'mtls.test');
  const clientCa = pki.ca('Client CA');
  const client = pki.issue(clientCa, 'client-1', {
    sans: ['URI:spiffe://test/client-1', 'DNS:client-1.test'],
    usage: 'clientAuth',
  });
  const rogueCa = pki.ca('Rogue CA');
  const rogue = pki.issue(rogueCa, 'rogue', { usage: 'clientAuth' });
  let up: TestUpstream;
  let f: TestNode;

  const header = (verify: string) => `_format_version: "3.0"
listeners:
  - name: mtls
    protocol: https
    address: 127.0.0.1
    port: 0
    tls:
      certificate: ${server.certPath}
      key: ${server.keyPath}
      client_ca: ${clientCa.certPath}
      verify_client: ${verify}
      forward_client_cert: true
admin:
  address: 127.0.0.1
  port: 0
`;
  const body = () => `
services:
  - name: s
    url: http://${up.target}
    routes:
      - paths: ["/"]
`;

  /** One request with an optional client certificate; the status, or the error's message. */
  async function get(who: Pem | null, headers: Record<string, string> = {}): Promise<number | string> {
    const c = new Client(`https://127.0.0.1:${f.port}`, {
      connect: {
        ca: ca.cert,
        servername: 'mtls.test',
        ...(who === null ? {} : { cert: who.cert, key: who.key }),
      },
    });
    try {
      const r = await c.request({ path: '/', method: 'GET', headers: { host: 'mtls.test', ...headers } });
      await r.body.text();
      return r.statusCode;
    } catch (err) {
      return String((err as Error).message);
    } finally {
      await c.destroy();
    }
  }

  before(async () => {
    up = await startUpstream('up');
    f = await startFulcrum(body(), { header: header('required') });
  });
  after(async () => {
    await f.stop();
    await up.close();
  });

  it('required: a verified client passes, and the target gets its identity', async () => {
    assert.equal(await get(client, { 'x-client-cert-cn': 'admin' }), 200);
    const h = up.seen.at(-1)!.headers;
    assert.equal(h['x-client-cert-verify'], 'SUCCESS');
    assert.equal(h['x-client-cert-cn'], 'client-1');
    assert.equal(h['x-client-cert-subject'], 'CN=client-1');
    assert.equal(h['x-client-cert-issuer'], 'CN=Client CA');
    assert.equal(h['x-client-cert-san'], 'URI:spiffe://test/client-1, DNS:client-1.test');
    const fp = new X509Certificate(client.cert).fingerprint256.replace(/:/g, '').toLowerCase();
    assert.equal(h['x-client-cert-fingerprint'], fp);
  });

  it('required: no certificate, or one from another CA, fails the connection', async () => {
    const before = up.seen.length;
    assert.equal(typeof (await get(null)), 'string');
    assert.equal(typeof (await get(rogue)), 'string');
    assert.equal(up.seen.length, before);
  });

  it('optional: every client passes, with the verdict; a client cannot forge the headers', async () => {
    // startFulcrum's write() keeps the original node header: rewrite the whole file.
    writeFileSync(f.file, header('optional') + body());
    assert.equal((await f.node.reload()).ok, true);

    assert.equal(await get(null, { 'x-client-cert-verify': 'SUCCESS', 'x-client-cert-cn': 'admin' }), 200);
    let h = up.seen.at(-1)!.headers;
    assert.equal(h['x-client-cert-verify'], 'NONE');
    assert.equal(h['x-client-cert-cn'], undefined);

    assert.equal(await get(rogue), 200);
    h = up.seen.at(-1)!.headers;
    assert.match(String(h['x-client-cert-verify']), /^FAILED:/);
    assert.equal(h['x-client-cert-cn'], 'rogue');

    assert.equal(await get(client), 200);
    assert.equal(up.seen.at(-1)!.headers['x-client-cert-verify'], 'SUCCESS');
  });
});
