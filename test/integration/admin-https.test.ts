/** The admin API over HTTPS (`admin.tls`), with a token: the issue's "TLS for the admin listener". */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { TestPki } from '../helpers/certs.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';

describe('admin API over HTTPS', () => {
  const pki = new TestPki();
  const ca = pki.ca('Admin CA');
  const leaf = pki.issue(ca, 'admin', { sans: ['DNS:admin.test', 'IP:127.0.0.1'] });
  let f: TestNode;
  let agent: Agent;

  before(async () => {
    f = await startFulcrum('services: []\n', {
      header: `_format_version: "3.0"
listeners: [{ name: proxy, address: 127.0.0.1, port: 0 }]
admin:
  address: 127.0.0.1
  port: 0
  token: s3cret
  tls: { certificate: ${leaf.certPath}, key: ${leaf.keyPath} }
`,
    });
    agent = new Agent({ connect: { ca: ca.cert, servername: 'admin.test' } });
  });
  after(async () => {
    await agent.close();
    await f.stop();
  });

  it('serves the API over TLS with the configured certificate, the token still required', async () => {
    const base = `https://127.0.0.1:${f.adminPort}`;
    const ok = await request(`${base}/status`, {
      dispatcher: agent,
      headers: { authorization: 'Bearer s3cret' },
    });
    assert.equal(ok.statusCode, 200);
    assert.equal(((await ok.body.json()) as { version: string }).version.length > 0, true);
    const denied = await request(`${base}/status`, { dispatcher: agent });
    assert.equal(denied.statusCode, 401);
    await denied.body.text();
  });

  it('does not answer plain HTTP on the admin port', async () => {
    await assert.rejects(
      (async () => {
        const r = await request(`http://127.0.0.1:${f.adminPort}/status`, {
          headers: { authorization: 'Bearer s3cret' },
          headersTimeout: 2000,
        });
        await r.body.text();
        if (r.statusCode === 200) throw new Error('served over plain HTTP');
        throw new Error(`status ${r.statusCode}`);
      })(),
    );
  });

  it('refuses a client that does not trust the certificate', async () => {
    const strict = new Agent({ connect: { servername: 'admin.test' } });
    await assert.rejects(request(`https://127.0.0.1:${f.adminPort}/status`, { dispatcher: strict }));
    await strict.close();
  });
});
