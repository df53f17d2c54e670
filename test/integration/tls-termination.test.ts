import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ConnectionOptions, connect, type TLSSocket } from 'node:tls';
import { Client } from 'undici';
import WebSocket, { WebSocketServer } from 'ws';
import { ConfigError } from '../../src/config/load.ts';
import { loadSnapshotText } from '../../src/config/validate.ts';
import { type Pem, TestPki, yamlPem } from '../helpers/certs.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

/** Complete a handshake and hand back the socket (the caller ends it). */
function handshake(port: number, opts: ConnectionOptions): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ...opts }, () => resolve(s));
    s.once('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('handshake timed out')));
  });
}

/** The CN of the certificate the listener serves for `servername` (undefined: no SNI). */
async function servedCn(port: number, ca: string, servername?: string): Promise<string> {
  const s = await handshake(port, {
    ca,
    ...(servername === undefined ? {} : { servername }),
    rejectUnauthorized: false,
  });
  const cn = s.getPeerCertificate().subject.CN;
  s.destroy();
  return (Array.isArray(cn) ? cn[0] : cn) ?? '';
}

/** One HTTP/1.1 request on an open TLS socket; resolves with the whole response text. */
function rawRequest(s: TLSSocket, host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (b: Buffer) => {
      text += b.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
      if (text.length >= end + 4 + len) {
        s.off('data', onData);
        resolve(text);
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(`GET /raw HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
  });
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 10000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('https listeners: termination, SNI, versions, resumption, live rotation', () => {
  const pki = new TestPki();
  const ca = pki.ca('Fulcrum Test CA');
  const dflt = pki.issue(ca, 'default.test');
  const example = pki.issue(ca, 'example.test');
  const wild = pki.issue(ca, 'wild', { sans: ['DNS:*.wild.test'] });
  const exact = pki.issue(ca, 'exact.wild.test');
  const rotated = pki.issue(ca, 'example.test');
  let up: TestUpstream;
  let wsTarget: WebSocketServer;
  let f: TestNode;

  const header = (extra = '') => `_format_version: "3.0"
listeners:
  - name: tls
    protocol: https
    address: 127.0.0.1
    port: 0
    tls:
      certificate: ${dflt.certPath}
      key: ${dflt.keyPath}${extra}
admin:
  address: 127.0.0.1
  port: 0
`;
  const body = (exampleCert: Pem) => `
services:
  - name: s
    url: http://${up.target}
    routes:
      - paths: ["/"]
  - name: ws
    url: http://127.0.0.1:${(wsTarget.address() as { port: number }).port}
    routes:
      - paths: ["/ws"]
certificates:
  - id: 0b3c5e6a-0000-4000-8000-000000000001
    cert: ${yamlPem(exampleCert.cert, 6)}
    key: ${yamlPem(exampleCert.key, 6)}
    snis: [example.test]
  - id: 0b3c5e6a-0000-4000-8000-000000000002
    cert: ${yamlPem(wild.cert, 6)}
    key: ${yamlPem(wild.key, 6)}
  - cert: ${yamlPem(exact.cert, 6)}
    key: ${yamlPem(exact.key, 6)}
    snis:
      - name: exact.wild.test
snis:
  - name: "*.wild.test"
    certificate: 0b3c5e6a-0000-4000-8000-000000000002
`;

  before(async () => {
    up = await startUpstream('up');
    wsTarget = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => wsTarget.once('listening', r));
    wsTarget.on('connection', (ws, req) => {
      ws.on('message', (data) => ws.send(`echo ${String(data)} proto=${req.headers['x-forwarded-proto']}`));
    });
    f = await startFulcrum(body(example), { header: header() });
  });
  after(async () => {
    await f.stop();
    await up.close();
    for (const c of wsTarget.clients) c.terminate();
    await new Promise((r) => wsTarget.close(r));
  });

  it('chooses the certificate by SNI: exact, wildcard (one label), exact over wildcard, default otherwise', async () => {
    assert.equal(await servedCn(f.port, ca.cert, 'example.test'), 'example.test');
    assert.equal(await servedCn(f.port, ca.cert, 'EXAMPLE.test'), 'example.test');
    assert.equal(await servedCn(f.port, ca.cert, 'a.wild.test'), 'wild');
    assert.equal(await servedCn(f.port, ca.cert, 'exact.wild.test'), 'exact.wild.test');
    assert.equal(await servedCn(f.port, ca.cert, 'b.c.wild.test'), 'default.test');
    assert.equal(await servedCn(f.port, ca.cert, 'unknown.test'), 'default.test');
    assert.equal(await servedCn(f.port, ca.cert), 'default.test');
  });

  it('proxies over TLS with ALPN http/1.1 and tells the target X-Forwarded-Proto: https', async () => {
    const s = await handshake(f.port, {
      ca: ca.cert,
      servername: 'example.test',
      ALPNProtocols: ['http/1.1'],
    });
    assert.equal(s.alpnProtocol, 'http/1.1');
    assert.equal(s.authorized, true);
    s.destroy();
    const c = new Client(`https://127.0.0.1:${f.port}`, {
      connect: { ca: ca.cert, servername: 'example.test' },
    });
    try {
      const r = await c.request({ path: '/hello', method: 'GET', headers: { host: 'example.test' } });
      assert.equal(r.statusCode, 200);
      assert.equal(await r.body.text(), 'up');
    } finally {
      await c.close();
    }
    const seen = up.seen.at(-1)!;
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-port'], String(f.port));
  });

  it('carries WebSocket over TLS (wss)', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${f.port}/ws`, {
      ca: ca.cert,
      servername: 'example.test',
    } as WebSocket.ClientOptions);
    try {
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      const reply = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
      ws.send('hi');
      assert.equal(await reply, 'echo hi proto=https');
    } finally {
      ws.terminate();
    }
  });

  it('accepts TLS 1.2 and 1.3 and refuses TLS 1.1 by default', async () => {
    for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
      const s = await handshake(f.port, {
        ca: ca.cert,
        servername: 'example.test',
        minVersion: v,
        maxVersion: v,
      });
      assert.equal(s.getProtocol(), v);
      s.destroy();
    }
    await assert.rejects(
      handshake(f.port, {
        ca: ca.cert,
        servername: 'example.test',
        minVersion: 'TLSv1',
        maxVersion: 'TLSv1.1',
        ciphers: 'DEFAULT:@SECLEVEL=0',
      }),
    );
  });

  it('resumes sessions with tickets, across a reload too', async () => {
    const first = await handshake(f.port, {
      ca: ca.cert,
      servername: 'example.test',
      maxVersion: 'TLSv1.2',
    });
    const session = first.getSession();
    first.destroy();
    assert.ok(session);
    const again = await handshake(f.port, {
      ca: ca.cert,
      servername: 'example.test',
      maxVersion: 'TLSv1.2',
      session,
    });
    assert.equal(again.isSessionReused(), true);
    again.destroy();
    f.write(`${body(example)}\n# touched\n`);
    const r = await f.node.reload();
    assert.equal(r.ok, true);
    const third = await handshake(f.port, {
      ca: ca.cert,
      servername: 'example.test',
      maxVersion: 'TLSv1.2',
      session,
    });
    assert.equal(third.isSessionReused(), true);
    third.destroy();
  });

  it('replaces a certificate on reload without a restart and without dropping open connections', async () => {
    const fp = (p: Pem) => new X509Certificate(p.cert).fingerprint256;
    const old = await handshake(f.port, { ca: ca.cert, servername: 'example.test' });
    assert.equal(old.getPeerX509Certificate()?.fingerprint256, fp(example));
    assert.match(await rawRequest(old, 'example.test'), /^HTTP\/1.1 200/);
    f.write(body(rotated));
    const r = await f.node.reload();
    assert.equal(r.ok, true);
    const fresh = await handshake(f.port, { ca: ca.cert, servername: 'example.test' });
    assert.equal(fresh.getPeerX509Certificate()?.fingerprint256, fp(rotated));
    fresh.destroy();
    // The connection opened before the swap still serves requests, with the certificate it had.
    assert.match(await rawRequest(old, 'example.test'), /^HTTP\/1.1 200/);
    old.destroy();
    f.write(body(example));
    assert.equal((await f.node.reload()).ok, true);
  });

  it('serves curl, which verifies the chain and the name', async (t) => {
    const which = await run('sh', ['-c', 'command -v curl']);
    if (which.code !== 0) return t.skip('curl is not installed');
    const r = await run('curl', [
      '-sS',
      '--cacert',
      ca.certPath,
      '--resolve',
      `example.test:${f.port}:127.0.0.1`,
      '-w',
      '\\n%{http_code} %{ssl_verify_result}',
      `https://example.test:${f.port}/curl`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'up\n200 0');
  });

  it('re-reads the listener certificate files on reload (rotation in place)', async () => {
    const certPath = join(pki.dir, 'rotating.pem');
    const keyPath = join(pki.dir, 'rotating.key');
    const next = pki.issue(ca, 'default.test');
    copyFileSync(dflt.certPath, certPath);
    copyFileSync(dflt.keyPath, keyPath);
    const g = await startFulcrum(body(example), {
      header: header().replace(dflt.certPath, certPath).replace(dflt.keyPath, keyPath),
    });
    try {
      const fp = async () => {
        const s = await handshake(g.port, { ca: ca.cert, rejectUnauthorized: false });
        const v = s.getPeerX509Certificate()?.fingerprint256;
        s.destroy();
        return v;
      };
      assert.equal(await fp(), new X509Certificate(dflt.cert).fingerprint256);
      copyFileSync(next.certPath, certPath);
      copyFileSync(next.keyPath, keyPath);
      assert.equal((await g.node.reload()).ok, true);
      assert.equal(await fp(), new X509Certificate(next.cert).fingerprint256);
      // A key that no longer matches refuses the reload; the previous certificate keeps serving.
      copyFileSync(example.keyPath, keyPath);
      assert.equal((await g.node.reload()).ok, false);
      assert.equal(await fp(), new X509Certificate(next.cert).fingerprint256);
    } finally {
      await g.stop();
    }
  });

  it('default certificate with cert_alt: each client gets the key type it supports', async () => {
    const rsa = pki.issue(ca, 'dual.test', { keyType: 'rsa' });
    const ec = pki.issue(ca, 'dual.test');
    const dual = `  - cert: ${yamlPem(ec.cert, 6)}
    key: ${yamlPem(ec.key, 6)}
    cert_alt: ${yamlPem(rsa.cert, 6)}
    key_alt: ${yamlPem(rsa.key, 6)}
    id: 0b3c5e6a-0000-4000-8000-0000000000d0
`;
    // Appended to `certificates`, which the top-level `snis` follow; the listener's default.
    const g = await startFulcrum(body(example).replace('\nsnis:\n', `\n${dual}snis:\n`), {
      header: header().replace(
        /certificate: .*\n\s*key: .*\n/,
        'default_certificate: 0b3c5e6a-0000-4000-8000-0000000000d0\n',
      ),
    });
    try {
      const served = async (ciphers: string) => {
        const s = await handshake(g.port, {
          ca: ca.cert,
          servername: 'no-such-name.test',
          rejectUnauthorized: false,
          maxVersion: 'TLSv1.2',
          ciphers,
        });
        const fp = s.getPeerX509Certificate()?.fingerprint256;
        s.destroy();
        return fp;
      };
      assert.equal(
        await served('ECDHE-ECDSA-AES128-GCM-SHA256'),
        new X509Certificate(ec.cert).fingerprint256,
      );
      assert.equal(await served('ECDHE-RSA-AES128-GCM-SHA256'), new X509Certificate(rsa.cert).fingerprint256);
    } finally {
      await g.stop();
    }
  });

  it('session_tickets: false resumes nothing', async () => {
    const g = await startFulcrum(body(example), { header: header('\n      session_tickets: false') });
    try {
      for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
        const first = await handshake(g.port, { ca: ca.cert, servername: 'example.test', maxVersion: v });
        // TLS 1.3 tickets arrive after the handshake: wait for the session (or its absence) to settle.
        await new Promise((r) => setImmediate(r));
        const session = first.getSession();
        first.destroy();
        const again = await handshake(g.port, {
          ca: ca.cert,
          servername: 'example.test',
          maxVersion: v,
          ...(session ? { session } : {}),
        });
        assert.equal(again.isSessionReused(), false, v);
        again.destroy();
      }
    } finally {
      await g.stop();
    }
  });

  it('answers openssl s_client: SNI choice, verified chain, TLS 1.3; TLS 1.1 refused', async (t) => {
    if ((await run('sh', ['-c', 'command -v openssl'])).code !== 0) return t.skip('openssl is not installed');
    const base = [
      's_client',
      '-connect',
      `127.0.0.1:${f.port}`,
      '-CAfile',
      ca.certPath,
      '-verify_return_error',
    ];
    const ok = await run('sh', [
      '-c',
      `openssl ${[...base, '-servername', 'a.wild.test'].join(' ')} </dev/null`,
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /subject=CN ?= ?wild/);
    assert.match(ok.stdout, /Verify return code: 0 \(ok\)/);
    assert.match(ok.stdout, /TLSv1\.3/);
    const old = await run('sh', [
      '-c',
      `openssl ${[...base, '-servername', 'example.test', '-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'].join(' ')} </dev/null`,
    ]);
    assert.notEqual(old.code, 0);
  });

  it('refuses TLS 1.2 clients when min_version is TLSv1.3', async () => {
    const g = await startFulcrum(body(example), {
      header: header('\n      min_version: TLSv1.3\n      ciphers: TLS_AES_256_GCM_SHA384'),
    });
    try {
      await assert.rejects(
        handshake(g.port, { ca: ca.cert, servername: 'example.test', maxVersion: 'TLSv1.2' }),
      );
      const s = await handshake(g.port, { ca: ca.cert, servername: 'example.test' });
      assert.equal(s.getProtocol(), 'TLSv1.3');
      assert.equal(s.getCipher().standardName, 'TLS_AES_256_GCM_SHA384');
      s.destroy();
    } finally {
      await g.stop();
    }
  });
});

describe('certificate validation at load', () => {
  const pki = new TestPki();
  const ca = pki.ca('Validation CA');
  const good = pki.issue(ca, 'good.test');
  const other = pki.issue(ca, 'other.test');
  const expired = pki.issue(ca, 'expired.test', { days: -1 });
  const doc = (cert: string, key: string, extra = '') => `_format_version: "3.0"
listeners:
  - protocol: https
    port: 0${extra}
certificates:
  - cert: ${yamlPem(cert, 6)}
    key: ${yamlPem(key, 6)}
    snis: [good.test]
`;
  const issuesOf = (text: string) => {
    try {
      loadSnapshotText(text, 'f.yaml');
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.issues;
    }
    assert.fail('expected the configuration to be refused');
  };

  it('loads a good pair, the first certificate being the default', () => {
    const s = loadSnapshotText(doc(good.cert, good.key), 'f.yaml');
    const tls = s.node.listeners[0]!.tls!;
    assert.equal(tls.defaultCertificate.subject, 'CN=good.test');
    assert.deepEqual(tls.certificates[0]!.snis, ['good.test']);
    assert.equal(tls.minVersion, 'TLSv1.2');
    assert.deepEqual(s.problems, []);
  });

  it('refuses a key that does not match, with file, line and path', () => {
    const [i] = issuesOf(doc(good.cert, other.key));
    assert.equal(i!.path, 'certificates[0].key');
    assert.equal(i!.file, 'f.yaml');
    assert.equal(i!.line, 6 + good.cert.trimEnd().split('\n').length + 1);
    assert.match(i!.message, /does not match/);
  });

  it('refuses a certificate that is not PEM', () => {
    const [i] = issuesOf(doc('-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----', good.key));
    assert.equal(i!.path, 'certificates[0].cert');
    assert.match(i!.message, /not a PEM certificate/);
  });

  it('loads an expired certificate with a warning, not a refusal', () => {
    const s = loadSnapshotText(doc(expired.cert, expired.key), 'f.yaml');
    assert.equal(s.problems.length, 2);
    assert.equal(s.problems[0]!.path, 'certificates[0].cert');
    assert.match(s.problems[0]!.message, /expired on/);
    // good.test is not in the expired certificate's names.
    assert.match(s.problems[1]!.message, /does not cover sni "good.test"/);
  });

  it('refuses an https listener without a certificate, bad ciphers, and verify_client without client_ca', () => {
    const none = issuesOf('_format_version: "3.0"\nlisteners:\n  - protocol: https\n    port: 0\n');
    assert.match(none[0]!.message, /needs a certificate/);
    const bad = issuesOf(doc(good.cert, good.key, '\n    tls:\n      ciphers: NOT-A-CIPHER'));
    assert.equal(bad[0]!.path, 'listeners[0].tls.ciphers');
    const mtls = issuesOf(doc(good.cert, good.key, '\n    tls:\n      verify_client: required'));
    assert.equal(mtls[0]!.path, 'listeners[0].tls.verify_client');
    const missing = issuesOf(
      doc(
        good.cert,
        good.key,
        '\n    tls:\n      certificate: /nonexistent.pem\n      key: /nonexistent.key',
      ),
    );
    assert.equal(missing[0]!.path, 'listeners[0].tls.certificate');
  });

  it('refuses a duplicate sni and a top-level sni naming a missing certificate', () => {
    writeFileSync(`${pki.dir}/unused`, '');
    const dup = issuesOf(
      `${doc(good.cert, good.key)}  - cert: ${yamlPem(other.cert, 6)}\n    key: ${yamlPem(other.key, 6)}\n    snis: [GOOD.test]\n`,
    );
    assert.equal(dup[0]!.path, 'certificates[1].snis[0]');
    const dangling = issuesOf(`${doc(good.cert, good.key)}snis:\n  - name: x.test\n    certificate: nope\n`);
    assert.equal(dangling[0]!.path, 'snis[0].certificate');
  });
});
