/**
 * HTTP/2 over TLS on an https listener (`http2` block): h2 chosen by ALPN, certificates by SNI as
 * for HTTP/1.1, every stream balanced on its own; HTTP/1.1 clients still served on the same port.
 */
import assert from 'node:assert/strict';
import { connect as h2connect } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { Agent, request } from 'undici';
import { TestPki, yamlPem } from '../helpers/certs.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

describe('https listener with HTTP/2 (ALPN h2)', () => {
  const pki = new TestPki();
  const ca = pki.ca('H2 CA');
  const dflt = pki.issue(ca, 'default', { sans: ['DNS:default.test'] });
  const named = pki.issue(ca, 'example', { sans: ['DNS:example.test'] });
  let a: TestUpstream;
  let b: TestUpstream;
  let f: TestNode;

  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    f = await startFulcrum(
      `
services:
  - name: s
    host: u
    routes: [{ paths: ["/"] }]
upstreams:
  - name: u
    targets: [{ target: "${a.target}" }, { target: "${b.target}" }]
certificates:
  - cert: ${yamlPem(named.cert, 6)}
    key: ${yamlPem(named.key, 6)}
    snis: [example.test]
`,
      {
        header: `_format_version: "3.0"
listeners:
  - name: tls
    protocol: https
    address: 127.0.0.1
    port: 0
    http2: {}
    tls: { certificate: ${dflt.certPath}, key: ${dflt.keyPath} }
admin: { address: 127.0.0.1, port: 0 }
`,
      },
    );
  });
  after(async () => {
    await f.stop();
    await a.close();
    await b.close();
  });

  it('negotiates h2, picks the certificate by SNI, and balances every stream of one connection', async () => {
    const session = h2connect(`https://127.0.0.1:${f.port}`, { ca: ca.cert, servername: 'example.test' });
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => resolve());
      session.once('error', reject);
    });
    const sock = session.socket as unknown as {
      alpnProtocol: string;
      getPeerCertificate(): { subject: { CN: string } };
    };
    assert.equal(sock.alpnProtocol, 'h2');
    assert.equal(sock.getPeerCertificate().subject.CN, 'example');
    const bodies = await Promise.all(
      Array.from(
        { length: 10 },
        () =>
          new Promise<string>((resolve, reject) => {
            const s = session.request({ ':path': '/x' });
            let text = '';
            s.setEncoding('utf8');
            s.on('data', (c: string) => {
              text += c;
            });
            s.on('end', () => resolve(text));
            s.on('error', reject);
          }),
      ),
    );
    session.close();
    const counts: Record<string, number> = {};
    for (const t of bodies) counts[t] = (counts[t] ?? 0) + 1;
    assert.deepEqual(counts, { a: 5, b: 5 }, 'streams of one connection spread over both targets');
    const seen = [...a.seen, ...b.seen].at(-1)!;
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
  });

  it('serves HTTP/1.1 clients (ALPN http/1.1) on the same port, with the default certificate', async () => {
    const agent = new Agent({ connect: { ca: ca.cert, servername: 'default.test' } });
    const r = await request(`https://127.0.0.1:${f.port}/y`, { dispatcher: agent });
    assert.equal(r.statusCode, 200);
    assert.match(await r.body.text(), /^[ab]$/);
    await agent.close();
    const cn = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect(
        {
          port: f.port,
          host: '127.0.0.1',
          ca: ca.cert,
          servername: 'default.test',
          ALPNProtocols: ['http/1.1'],
        },
        () => {
          resolve(`${s.alpnProtocol}:${(s.getPeerCertificate() as { subject: { CN: string } }).subject.CN}`);
          s.end();
        },
      );
      s.on('error', reject);
    });
    assert.equal(cn, 'http/1.1:default');
  });
});
