/**
 * `dns_hostsfile` (Kong's, docs/discovery.md#the-hosts-file): a name marked `resolve` that the
 * hosts file lists is answered from the file before the DNS server (a real dnsmasq) is asked, and
 * follows the file when it is edited; `dns_hostsfile: ""` turns it off. The targets are HTTP
 * servers on 127.0.0.2-4 (loopback addresses on Linux) on one port.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Dnsmasq, hasDnsmasq, startDnsmasq } from '../helpers/dnsmasq.ts';
import { answers, until } from '../helpers/follow.ts';
import { startFulcrum, type TestNode, testHeader } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

/** An HTTP server on `address` answering its address. */
const serve = (address: string, port = 0) => startUpstream(address, undefined, { address, port });

describe('the hosts file before DNS', { skip: hasDnsmasq ? false : 'dnsmasq is not installed' }, () => {
  let dns: Dnsmasq;
  let servers: TestUpstream[];
  let port: number;
  let hosts: string;
  const nodes: TestNode[] = [];

  before(async () => {
    const first = await serve('127.0.0.2');
    port = first.port;
    servers = [first, await serve('127.0.0.3', port), await serve('127.0.0.4', port)];
    dns = await startDnsmasq({ hosts: '127.0.0.2 api.test\n' });
    hosts = join(mkdtempSync(join(tmpdir(), 'fulcrum-hosts-')), 'hosts');
    writeFileSync(hosts, '# a comment\n127.0.0.3   api.test   api   # an alias\n::1 other.test\n');
  });

  after(async () => {
    for (const n of nodes) await n.stop();
    await dns?.stop();
    for (const s of servers ?? []) await s.close();
  });

  const start = async (hostsfile: string) => {
    const node = await startFulcrum(
      `dns_resolver: ["${dns.address}"]
dns_order: [SRV, A]
dns_valid_ttl: 1
dns_hostsfile: "${hostsfile}"
upstreams:
  - name: api
    targets:
      - { target: "api.test:${port}", resolve: true }
services:
  - name: s
    host: api
    routes: [{ paths: [/] }]
`,
      { header: testHeader() },
    );
    nodes.push(node);
    return node;
  };

  it('answers a name the file lists from the file, and follows an edit', async () => {
    const node = await start(hosts);
    assert.deepEqual([...(await answers(node.url, 5)).keys()], ['127.0.0.3']);
    writeFileSync(hosts, '127.0.0.4 api.test\n127.0.0.3 API.test\n');
    // Asked again after dns_valid_ttl (1 s here; the file's answers say 10 s).
    await until(async () => (await answers(node.url, 10)).size === 2);
    assert.deepEqual([...(await answers(node.url, 10)).keys()].sort(), ['127.0.0.3', '127.0.0.4']);
  });

  it('asks DNS with dns_hostsfile: ""', async () => {
    const node = await start('');
    assert.deepEqual([...(await answers(node.url, 5)).keys()], ['127.0.0.2']);
  });
});
