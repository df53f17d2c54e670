/**
 * tls_passthrough end to end: node:tls servers as targets (each with its own certificate, generated
 * here with openssl), node:tls clients with a servername; the proxy never holds a key.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Server, connect as tlsConnect, createServer as tlsServer } from 'node:tls';
import { request } from 'undici';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { closedWithin, tcpConnect } from '../helpers/l4.ts';

/** A self-signed certificate for these DNS names. */
function cert(dir: string, name: string, dns: string[]): { key: Buffer; cert: Buffer } {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      crt,
      '-days',
      '1',
      '-subj',
      `/CN=${dns[0]}`,
      '-addext',
      `subjectAltName=${dns.map((d) => `DNS:${d}`).join(',')}`,
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(key), cert: readFileSync(crt) };
}

/** A TLS server answering every connection with its name, then closing. */
async function namedTlsServer(
  name: string,
  creds: { key: Buffer; cert: Buffer },
): Promise<{ server: Server; port: number }> {
  const server = tlsServer(creds, (s) => {
    s.end(`${name} ${s.servername ?? '-'}\n`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

async function fetchVia(port: number, servername: string | undefined, ca: Buffer): Promise<string> {
  const s = tlsConnect({ host: '127.0.0.1', port, servername, ca });
  await once(s, 'secureConnect');
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString().trim();
}

describe('tls_passthrough listener', () => {
  let f: TestNode;
  let port: number;
  let alpha: { server: Server; port: number };
  let beta: { server: Server; port: number };
  let other: { server: Server; port: number };
  let alphaCert: { key: Buffer; cert: Buffer };
  let betaCert: { key: Buffer; cert: Buffer };
  let otherCert: { key: Buffer; cert: Buffer };
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-tls-'));
    alphaCert = cert(dir, 'alpha', ['alpha.example.com']);
    betaCert = cert(dir, 'beta', ['*.beta.example.com']);
    otherCert = cert(dir, 'other', ['anything.test']);
    alpha = await namedTlsServer('alpha', alphaCert);
    beta = await namedTlsServer('beta', betaCert);
    other = await namedTlsServer('other', otherCert);
    f = await startFulcrum(
      `services:
  - name: alpha
    url: tcp://127.0.0.1:${alpha.port}
    routes:
      - { protocols: [tls_passthrough], snis: [alpha.example.com] }
  - name: beta
    url: tcp://127.0.0.1:${beta.port}
    routes:
      - { protocols: [tls_passthrough], snis: ["*.beta.example.com"] }
  - name: fallback
    url: tcp://127.0.0.1:${other.port}
    routes:
      - { protocols: [tls_passthrough] }
`,
      {
        header: `_format_version: "3.0"
admin: { address: 127.0.0.1, port: 0 }
timeouts: { client_header_ms: 300 }
listeners:
  - { name: tls, protocol: tls_passthrough, address: 127.0.0.1, port: 0 }
`,
      },
    );
    port = f.node.proxyAddresses()[0]!.port;
  });
  after(async () => {
    await f?.stop();
    for (const s of [alpha, beta, other]) s?.server.close();
  });

  it('routes by exact SNI; the client verifies the target certificate end to end', async () => {
    assert.equal(await fetchVia(port, 'alpha.example.com', alphaCert.cert), 'alpha alpha.example.com');
  });

  it('routes by wildcard SNI', async () => {
    assert.equal(await fetchVia(port, 'x.beta.example.com', betaCert.cert), 'beta x.beta.example.com');
    assert.equal(await fetchVia(port, 'Y.beta.example.com', betaCert.cert), 'beta Y.beta.example.com');
  });

  it('sends an unknown name, and a hello without SNI, to the route without snis', async () => {
    const s = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: 'nobody.example',
      rejectUnauthorized: false,
    });
    await once(s, 'secureConnect');
    assert.equal(s.getPeerCertificate().subject.CN, 'anything.test');
    s.destroy();
    // node:tls sends no SNI when connecting to an IP address without a servername.
    const t = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false });
    await once(t, 'secureConnect');
    assert.equal(t.getPeerCertificate().subject.CN, 'anything.test');
    t.destroy();
  });

  it('refuses a connection that does not start with a ClientHello', async () => {
    const s = await tcpConnect(port);
    s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    assert.deepEqual(await closedWithin(s), { bytes: 0 });
  });

  it('refuses a client that sends no ClientHello within client_header_ms', async () => {
    const s = await tcpConnect(port);
    s.write(Buffer.from([22, 3, 1, 0, 200, 1])); // the start of a hello, never finished
    const t0 = Date.now();
    await closedWithin(s, 3000);
    assert.ok(Date.now() - t0 >= 250, `closed after ${Date.now() - t0} ms`);
    const text = await (await request(`${f.adminUrl}/metrics`)).body.text();
    assert.match(
      text,
      /fulcrum_l4_connections_total\{listener="tls",route="",service="",result="refused"\} 2/,
    );
  });
});
