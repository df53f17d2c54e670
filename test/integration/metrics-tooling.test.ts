/**
 * /metrics as stock tooling reads it: `promtool check metrics` (Debian's `prometheus` package)
 * accepts the output of a node that carried HTTP, HTTPS and TCP traffic and refused requests in
 * its plugins; the families added for operations are there with the right values: build info,
 * plugin outcomes, TLS certificate expiry, bytes, the process and Node.js collectors under their
 * conventional names.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { VERSION } from '../../src/core/version.ts';
import { TestPki } from '../helpers/certs.ts';
import { httpsListener, startFulcrum, type TestNode, testHeader } from '../helpers/fulcrum.ts';
import { readLine, startEchoServer, type TcpServer, tcpConnect } from '../helpers/l4.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const promtool = spawnSync('promtool', ['--version']).status === 0;

/** The value of one sample: `name{k="v",...}` with at least these labels. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const ok = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (ok) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('metrics that fit stock tooling', () => {
  const pki = new TestPki();
  const ca = pki.ca('Fulcrum Test CA');
  const leaf = pki.issue(ca, 'metrics.test', { days: 30 });
  let up: TestUpstream;
  let echo: TcpServer;
  let f: TestNode;
  let tlsPort: number;
  let tcpPort: number;
  let text = '';

  before(async () => {
    up = await startUpstream('up');
    echo = await startEchoServer('echo');
    f = await startFulcrum(
      `
services:
  - name: api
    url: http://${up.target}
    plugins:
      - name: key-auth
      - name: rate-limiting
        config: { minute: 3, limit_by: consumer }
    routes:
      - name: api
        paths: ["/api"]
  - name: plain
    url: http://${up.target}
    routes:
      - name: plain
        paths: ["/plain"]
  - name: echo
    protocol: tcp
    host: 127.0.0.1
    port: ${echo.port}
    routes:
      - name: echo
        protocols: [tcp]
        destinations: [{ ip: 127.0.0.1 }]
consumers:
  - username: alice
    keyauth_credentials: [{ key: alice-key }]
`,
      {
        header: testHeader({
          listeners: `${httpsListener('tls', leaf)}  - name: tcp
    protocol: tcp
    address: 127.0.0.1
    port: 0
`,
        }),
      },
    );
    const addrs = f.node.proxyAddresses();
    tlsPort = addrs[1]!.port;
    tcpPort = addrs[2]!.port;
  });

  after(async () => {
    await f?.stop();
    await up?.close();
    await echo?.close();
  });

  it('carries the traffic the metrics count', async () => {
    const statuses: number[] = [];
    const get = async (path: string, key?: string) => {
      const r = await request(`${f.url}${path}`, { headers: key ? { apikey: key } : {} });
      await r.body.text();
      statuses.push(r.statusCode);
    };
    await get('/api');
    await get('/api');
    await get('/api', 'wrong');
    for (let i = 0; i < 4; i++) await get('/api', 'alice-key');
    await get('/plain');
    assert.deepEqual(statuses, [401, 401, 401, 200, 200, 200, 429, 200]);
    const tls = new Agent({ connect: { ca: ca.cert, servername: 'metrics.test' } });
    const r = await request(`https://127.0.0.1:${tlsPort}/plain`, { dispatcher: tls });
    assert.equal(r.statusCode, 200);
    await r.body.text();
    await tls.close();
    const s = await tcpConnect(tcpPort);
    assert.equal(await readLine(s), 'echo');
    s.write('ping\n');
    assert.equal(await readLine(s), 'ping');
    s.end();
    await new Promise((res) => s.once('close', res));
    const m = await request(`${f.adminUrl}/metrics`);
    text = await m.body.text();
  });

  it('passes promtool check metrics', {
    skip: !promtool && 'promtool is not installed (apt-get install prometheus)',
  }, () => {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool said:\n${r.stdout}${r.stderr}`);
    assert.equal(r.stdout + r.stderr, '');
  });

  it('counts what plugins decided, per plugin and outcome', () => {
    const o = (plugin: string, outcome: string) =>
      sample(text, 'fulcrum_plugin_outcomes_total', { plugin, outcome });
    assert.equal(o('key-auth', 'no-credentials'), 2);
    assert.equal(o('key-auth', 'invalid-credentials'), 1);
    assert.equal(o('key-auth', 'authenticated'), 4);
    assert.equal(o('rate-limiting', 'rate-limited'), 1);
  });

  it('exports TLS certificate expiry, build info and the conventional process collectors', () => {
    const notAfter = Math.floor(Date.parse(new X509Certificate(leaf.cert).validTo) / 1000);
    assert.equal(
      sample(text, 'fulcrum_tls_certificate_expiry_timestamp_seconds', {
        listener: 'tls',
        subject: 'CN=metrics.test',
      }),
      notAfter,
    );
    assert.equal(sample(text, 'fulcrum_build_info', { version: VERSION, nodejs: process.versions.node }), 1);
    assert.ok((sample(text, 'process_resident_memory_bytes') ?? 0) > 1e6);
    assert.ok(sample(text, 'nodejs_heap_size_used_bytes') !== undefined);
    assert.equal(sample(text, 'fulcrum_process_resident_memory_bytes'), undefined, 'no prefixed copy');
    // Bound per route from the start; the data plane adds the bytes as requests end.
    assert.ok(
      sample(text, 'fulcrum_http_request_bytes_total', { route: 'api', service: 'api' }) !== undefined,
    );
    assert.ok(
      sample(text, 'fulcrum_http_response_bytes_total', { route: 'plain', service: 'plain' }) !== undefined,
    );
  });

  it('counts L4 connections and bytes', () => {
    assert.equal(sample(text, 'fulcrum_l4_connections_total', { listener: 'tcp', result: 'proxied' }), 1);
    assert.ok((sample(text, 'fulcrum_l4_bytes_total', { listener: 'tcp', direction: 'in' }) ?? 0) >= 5);
    assert.ok((sample(text, 'fulcrum_l4_bytes_total', { listener: 'tcp', direction: 'out' }) ?? 0) >= 10);
  });
});
