import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import type { CertificateSpec, ListenerTlsSpec } from '../../../src/config/tls.ts';
import { TlsTermination } from '../../../src/listeners/tls-termination.ts';
import { TestPki } from '../../helpers/certs.ts';

describe('TlsTermination: certificate lookup by server name', () => {
  const pki = new TestPki();
  const ca = pki.ca('Lookup CA');
  const cert = (id: string, snis: string[]): CertificateSpec => {
    const p = pki.issue(ca, id);
    return {
      id,
      cert: p.cert,
      key: p.key,
      certAlt: '',
      keyAlt: '',
      snis,
      subject: `CN=${id}`,
      notAfter: '',
      fingerprint256: new X509Certificate(p.cert).fingerprint256,
    };
  };
  const a = cert('a', ['api.example.*', 'a.only']);
  const b = cert('b', ['api.*', 'b.only']);
  const c = cert('c', ['*.example.com', 'c.only']);
  const d = cert('d', ['x.example.com']);
  const spec = (certificates: CertificateSpec[]): ListenerTlsSpec => ({
    defaultCertificate: d,
    certificates,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: '',
    sessionTickets: true,
    sessionTimeoutS: 300,
    clientCa: '',
    verifyClient: 'off',
    forwardClientCert: false,
  });

  it('exact, then one-label leading wildcard, then the longest trailing wildcard; else the default', () => {
    const t = new TlsTermination(spec([a, b, c, d]), 1000);
    const A = t.lookup('a.only');
    const B = t.lookup('b.only');
    const C = t.lookup('c.only');
    const D = t.lookup('x.example.com');
    assert.ok(A && B && C && D);
    assert.equal(new Set([A, B, C, D]).size, 4);
    assert.equal(t.lookup('api.example.org'), A);
    assert.equal(t.lookup('API.Example.ORG'), A);
    assert.equal(t.lookup('api.foo'), B);
    assert.equal(t.lookup('y.example.com'), C);
    assert.equal(t.lookup('a.b.example.com'), undefined);
    assert.equal(t.lookup('example.com'), undefined);
    assert.equal(t.lookup('nothing.test'), undefined);
  });

  it('update swaps the names at once and reuses the contexts of unchanged certificates', () => {
    const t = new TlsTermination(spec([a, b, c]), 1000);
    const C = t.lookup('c.only');
    t.update(spec([b, c]));
    assert.equal(t.lookup('api.example.org'), t.lookup('b.only'));
    assert.equal(t.lookup('a.only'), undefined);
    assert.equal(t.lookup('c.only'), C);
    t.update({ ...spec([b, c]), minVersion: 'TLSv1.3' });
    assert.notEqual(t.lookup('c.only'), C, 'other settings make new contexts');
  });
});
