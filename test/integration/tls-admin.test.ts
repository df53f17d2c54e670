import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { admin, type ManagedNode, startManaged } from '../helpers/admin.ts';
import { TestPki } from '../helpers/certs.ts';

function handshake(port: number, ca: string, servername: string, verify = true): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername, rejectUnauthorized: verify }, () =>
      resolve(s),
    );
    s.once('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('handshake timed out')));
  });
}

async function served(port: number, ca: string, servername: string): Promise<string> {
  const s = await handshake(port, ca, servername, false);
  const fp = s.getPeerX509Certificate()!.fingerprint256;
  s.destroy();
  return fp;
}

describe('admin API: certificates, snis and ca_certificates, applied live', () => {
  const pki = new TestPki();
  const ca = pki.ca('Admin CA');
  const dflt = pki.issue(ca, 'default.test');
  const api = pki.issue(ca, 'api', { sans: ['DNS:api.test', 'DNS:*.api.test'] });
  const rotated = pki.issue(ca, 'api', { sans: ['DNS:api.test', 'DNS:*.api.test'] });
  const other = pki.issue(ca, 'other.test');
  const fp = (cert: string) => new X509Certificate(cert).fingerprint256;
  let m: ManagedNode;
  let port: number;
  let id: string;

  before(async () => {
    m = await startManaged({
      header: `_format_version: "3.0"
listeners:
  - name: tls
    protocol: https
    address: 127.0.0.1
    port: 0
    tls:
      certificate: ${dflt.certPath}
      key: ${dflt.keyPath}
admin:
  address: 127.0.0.1
  port: 0
`,
    });
    port = m.node.proxyAddresses()[0]!.port;
  });
  after(() => m.stop());

  it('POST /certificates with snis serves the certificate to new handshakes at once', async () => {
    assert.equal(await served(port, ca.cert, 'api.test'), fp(dflt.cert));
    const r = await admin(m.adminUrl, 'POST', '/certificates', {
      cert: api.cert,
      key: api.key,
      snis: ['api.test'],
      tags: ['t1'],
    });
    assert.equal(r.status, 201, r.text);
    id = r.body.id;
    assert.deepEqual(r.body.snis, ['api.test']);
    assert.equal(await served(port, ca.cert, 'api.test'), fp(api.cert));
    // Addressed by id or by one of its server names, as Kong does.
    assert.equal((await admin(m.adminUrl, 'GET', '/certificates/api.test')).body.id, id);
    const snis = await admin(m.adminUrl, 'GET', '/snis');
    assert.equal(snis.body.data.length, 1);
    assert.deepEqual(snis.body.data[0].certificate, { id });
  });

  it('POST /certificates/{c}/snis adds a wildcard name', async () => {
    const r = await admin(m.adminUrl, 'POST', `/certificates/${id}/snis`, { name: '*.api.test' });
    assert.equal(r.status, 201, r.text);
    assert.equal(await served(port, ca.cert, 'v1.api.test'), fp(api.cert));
    const list = await admin(m.adminUrl, 'GET', `/certificates/${id}/snis`);
    assert.deepEqual(list.body.data.map((n: { name: string }) => n.name).sort(), ['*.api.test', 'api.test']);
    assert.deepEqual((await admin(m.adminUrl, 'GET', `/certificates/${id}`)).body.snis.sort(), [
      '*.api.test',
      'api.test',
    ]);
  });

  it('PATCH /certificates/{c} rotates the certificate; open connections stay up', async () => {
    const open = await handshake(port, ca.cert, 'api.test');
    const r = await admin(m.adminUrl, 'PATCH', `/certificates/${id}`, {
      cert: rotated.cert,
      key: rotated.key,
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(await served(port, ca.cert, 'api.test'), fp(rotated.cert));
    assert.equal(open.destroyed, false);
    assert.equal(open.getPeerX509Certificate()!.fingerprint256, fp(api.cert));
    open.destroy();
  });

  it('refuses a key that does not match (400, naming the field) and a name another certificate has (409)', async () => {
    const bad = await admin(m.adminUrl, 'POST', '/certificates', { cert: other.cert, key: api.key });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.text, /does not match/);
    const dup = await admin(m.adminUrl, 'POST', '/certificates', {
      cert: other.cert,
      key: other.key,
      snis: ['API.test'],
    });
    assert.equal(dup.status, 409, dup.text);
    assert.equal((await admin(m.adminUrl, 'GET', '/certificates')).body.data.length, 1);
  });

  it('persists certificates and snis to the state file', () => {
    const state = JSON.parse(readFileSync(m.stateFile, 'utf8'));
    assert.equal(state.certificates.length, 1);
    assert.equal(state.certificates[0].cert, rotated.cert);
    assert.equal(state.snis.length, 2);
  });

  it('ca_certificates: accepts a CA, refuses a leaf', async () => {
    const r = await admin(m.adminUrl, 'POST', '/ca_certificates', { cert: ca.cert });
    assert.equal(r.status, 201, r.text);
    const leaf = await admin(m.adminUrl, 'POST', '/ca_certificates', { cert: other.cert });
    assert.equal(leaf.status, 400, leaf.text);
    assert.match(leaf.text, /not a CA certificate/);
  });

  it('DELETE /certificates/{c} removes its snis too; the default certificate answers again', async () => {
    const r = await admin(m.adminUrl, 'DELETE', `/certificates/${id}`);
    assert.equal(r.status, 204);
    assert.equal((await admin(m.adminUrl, 'GET', '/snis')).body.data.length, 0);
    assert.equal(await served(port, ca.cert, 'api.test'), fp(dflt.cert));
  });
});
