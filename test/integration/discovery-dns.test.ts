/**
 * DNS discovery against a real dnsmasq on loopback (docs/discovery.md): a target marked `resolve`
 * becomes one target per A record, follows the records as the test changes them (under keep-alive
 * load with retries on: no request fails), keeps its last answer when the server stops, and SRV
 * records give ports, weights and priority levels. The targets are HTTP servers on 127.0.0.2-7,
 * all loopback addresses on Linux.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { admin } from '../helpers/admin.ts';
import { type Dnsmasq, hasDnsmasq, startDnsmasq } from '../helpers/dnsmasq.ts';
import { answers, keepAliveLoad, until } from '../helpers/follow.ts';
import { startFulcrum, type TestNode, testHeader } from '../helpers/fulcrum.ts';

interface Named {
  readonly server: Server;
  readonly address: string;
  readonly port: number;
}

/** An HTTP server on `address` answering its address (port 0: any). */
async function serve(address: string, port = 0): Promise<Named> {
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-host': req.headers.host ?? '' });
    res.end(address);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(port, address, r));
  return { server, address, port: (server.address() as AddressInfo).port };
}

function close(s: Named): Promise<void> {
  return new Promise((r) => {
    s.server.close(() => r());
    s.server.closeAllConnections();
  });
}

describe('DNS discovery against dnsmasq', { skip: hasDnsmasq ? false : 'dnsmasq is not installed' }, () => {
  let dns: Dnsmasq;
  let a: Named;
  let b: Named;
  let c: Named;
  let fulcrum: TestNode;
  const header = () => `${testHeader()}dns_resolver: ["${dns.address}"]
dns_order: [SRV, A]
dns_error_ttl: 0.2
`;

  before(async () => {
    a = await serve('127.0.0.2');
    b = await serve('127.0.0.3', a.port);
    c = await serve('127.0.0.4', a.port);
    dns = await startDnsmasq({ hosts: '127.0.0.2 api.test\n127.0.0.3 api.test\n' });
    fulcrum = await startFulcrum(
      `services:
  - name: s
    host: api
    routes: [{ paths: [/] }]
upstreams:
  - name: api
    targets:
      - { target: "api.test:${a.port}", resolve: true, weight: 50 }
`,
      { header: header() },
    );
  });

  after(async () => {
    await fulcrum?.stop();
    await dns?.stop();
    for (const s of [a, b, c]) if (s) await close(s);
  });

  it('expands a hostname into one target per A record, each with the target weight', async () => {
    const seen = await answers(fulcrum.url, 20);
    assert.deepEqual([...seen.keys()].sort(), ['127.0.0.2', '127.0.0.3']);
    const list = await admin(fulcrum.adminUrl, 'GET', '/upstreams/api/targets');
    assert.equal(list.status, 200);
    const rows = list.body.data as Record<string, unknown>[];
    const configured = rows.find((r) => r.source === 'config')!;
    assert.equal(configured.target, `api.test:${a.port}`);
    assert.equal(configured.resolve, true);
    const dnsRows = rows.filter((r) => r.source === 'dns');
    assert.deepEqual(dnsRows.map((r) => r.target).sort(), [`127.0.0.2:${a.port}`, `127.0.0.3:${a.port}`]);
    for (const r of dnsRows) {
      assert.equal(r.weight, 50);
      assert.equal(r.origin, 'api.test');
      assert.ok(Date.parse(String(r.last_seen)) > Date.now() - 60_000, String(r.last_seen));
    }
  });

  it('follows a record removed and another added, under keep-alive load with no failed request', async () => {
    const load = keepAliveLoad(fulcrum.url);
    const agent = load.agent;
    const t0 = Date.now();
    dns.setHosts('127.0.0.2 api.test\n127.0.0.4 api.test\n');
    await until(async () => {
      const seen = await answers(fulcrum.url, 6, agent);
      return seen.has('127.0.0.4') && !seen.has('127.0.0.3');
    });
    const followedMs = Date.now() - t0;
    // The departed target drained: nothing new goes to it.
    const after = await answers(fulcrum.url, 20, agent);
    const { done, failed } = await load.stop();
    assert.deepEqual([...after.keys()].sort(), ['127.0.0.2', '127.0.0.4']);
    assert.equal(failed, 0, `${failed} of ${done} requests failed`);
    console.log(
      `# traffic followed the DNS change in ${followedMs} ms (TTL 1 s), ${done} requests, 0 failed`,
    );
  });

  it('keeps the last answer serving while the DNS server is down (stale-if-error)', async () => {
    await dns.stop();
    // Wait until the resolver has seen the failure, then traffic must still reach the last targets.
    await until(async () => {
      const st = fulcrum.node.discovery.status() as { names: { name: string; error: string | null }[] };
      return st.names.some((n) => n.name === 'api.test' && n.error !== null && /timeout/.test(n.error));
    });
    const seen = await answers(fulcrum.url, 20);
    assert.deepEqual([...seen.keys()].sort(), ['127.0.0.2', '127.0.0.4']);
    await dns.start();
  });

  it('SRV records give ports, weights and priority levels', async () => {
    const d = await serve('127.0.0.5');
    const e = await serve('127.0.0.6');
    const f = await serve('127.0.0.7');
    try {
      await dns.setConfig(
        [
          `srv-host=_http._tcp.svc.test,d.svc.test,${d.port},0,10`,
          `srv-host=_http._tcp.svc.test,e.svc.test,${e.port},0,30`,
          `srv-host=_http._tcp.svc.test,f.svc.test,${f.port},1,100`,
          'host-record=d.svc.test,127.0.0.5',
          'host-record=e.svc.test,127.0.0.6',
          'host-record=f.svc.test,127.0.0.7',
        ].join('\n'),
      );
      fulcrum.write(`services:
  - name: s
    host: api
    routes: [{ paths: [/] }]
upstreams:
  - name: api
    targets:
      - { target: "_http._tcp.svc.test", resolve: true }
`);
      assert.equal((await fulcrum.node.reload()).ok, true);
      await until(async () => {
        const list = await admin(fulcrum.adminUrl, 'GET', '/upstreams/api/targets');
        return (list.body.data as unknown[]).length === 4;
      });
      const list = await admin(fulcrum.adminUrl, 'GET', '/upstreams/api/targets');
      const rows = (list.body.data as Record<string, unknown>[]).filter((r) => r.source === 'dns');
      const by = new Map(rows.map((r) => [r.target, r]));
      assert.deepEqual(
        [...by.keys()].sort(),
        [`127.0.0.5:${d.port}`, `127.0.0.6:${e.port}`, `127.0.0.7:${f.port}`].sort(),
      );
      assert.equal(by.get(`127.0.0.5:${d.port}`)!.weight, 10);
      assert.equal(by.get(`127.0.0.6:${e.port}`)!.weight, 30);
      assert.equal(by.get(`127.0.0.7:${f.port}`)!.priority, 1);
      assert.equal(by.get(`127.0.0.5:${d.port}`)!.origin, '_http._tcp.svc.test -> d.svc.test');
      // Level 1 takes nothing while level 0 is healthy; level 0 splits 10:30.
      const seen = await answers(fulcrum.url, 40);
      assert.equal(seen.get('127.0.0.7'), undefined);
      assert.equal(seen.get('127.0.0.5'), 10);
      assert.equal(seen.get('127.0.0.6'), 30);
    } finally {
      for (const s of [d, e, f]) await close(s);
    }
  });

  it("use_srv_name: a target found through SRV gets the record's name as its Host", async () => {
    const g = await serve('127.0.0.8');
    const config = (srvName: boolean) => `services:
  - name: s
    host: named
    routes: [{ paths: [/] }]
upstreams:
  - name: named
    use_srv_name: ${srvName}
    targets:
      - { target: "_http._tcp.named.test", resolve: true }
`;
    const hostSeen = async () => (await fetch(`${fulcrum.url}/`)).headers.get('x-host');
    try {
      await dns.setConfig(
        [
          `srv-host=_http._tcp.named.test,g.named.test,${g.port},0,10`,
          'host-record=g.named.test,127.0.0.8',
        ].join('\n'),
      );
      fulcrum.write(config(true));
      assert.equal((await fulcrum.node.reload()).ok, true);
      // The record's name, with its port (not the scheme's default), as Kong sends it.
      await until(async () => (await hostSeen()) === `g.named.test:${g.port}`);
      fulcrum.write(config(false));
      assert.equal((await fulcrum.node.reload()).ok, true);
      await until(async () => (await hostSeen()) === 'named');
    } finally {
      await close(g);
    }
  });

  it('a service host marked resolve is balanced across its records', async () => {
    fulcrum.write(`services:
  - name: s
    url: http://api.test:${a.port}
    resolve: true
    routes: [{ paths: [/] }]
`);
    dns.setHosts('127.0.0.2 api.test\n127.0.0.3 api.test\n');
    assert.equal((await fulcrum.node.reload()).ok, true);
    await until(async () => (await answers(fulcrum.url, 10)).size === 2);
    const seen = await answers(fulcrum.url, 20);
    assert.deepEqual([...seen.keys()].sort(), ['127.0.0.2', '127.0.0.3']);
  });
});
