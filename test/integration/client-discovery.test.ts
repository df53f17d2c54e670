/**
 * The client library's discovery (docs/client.md#discovery) against real sources: a real dnsmasq
 * serving A and SRV records that the test changes, and a file_sd directory the test edits. Requests
 * go through undici's `request` with the dispatcher; they spread over the records and files, then
 * follow them: new targets ramp under slow start, departed ones drain (a request in flight there
 * finishes), targets that stay keep their state, and `close()` stops the providers' timers. The DNS
 * example of docs/client.md runs here against the same dnsmasq.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { request } from 'undici';
import { type UpstreamDispatcher, upstreamDispatcher } from '../../src/client/index.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { type Dnsmasq, hasDnsmasq, startDnsmasq } from '../helpers/dnsmasq.ts';
import { matches, runDocExample } from '../helpers/doc-examples.ts';
import { answers, until } from '../helpers/follow.ts';
import { type Handler, nameHandler, startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const open: { d: UpstreamDispatcher[]; ups: TestUpstream[] } = { d: [], ups: [] };

afterEach(async () => {
  for (const d of open.d.splice(0)) await d.close();
  for (const u of open.ups.splice(0)) await u.close();
});

function client(options: Parameters<typeof upstreamDispatcher>[0]): UpstreamDispatcher {
  const d = upstreamDispatcher(options);
  open.d.push(d);
  return d;
}

/** An upstream answering its name, on `address` (and `port`: several addresses share one). */
async function upstream(name: string, opts: { address?: string; port?: number } = {}, handler?: Handler) {
  const u = await startUpstream(name, handler ?? nameHandler(name), opts);
  open.ups.push(u);
  return u;
}

const hosts = (d: UpstreamDispatcher) =>
  d
    .targets()
    .map((t) => t.target)
    .sort();

/**
 * dnsmasq lines for the SRV records of `_http._tcp.SERVICE.test`, one per [host, port, priority,
 * weight], each host `HOST.SERVICE.test` at 127.0.0.1.
 */
function srvRecords(service: string, records: [string, number, number, number][]): string {
  const zone = `${service}.test`;
  return records
    .flatMap(([host, port, priority, weight]) => [
      `srv-host=_http._tcp.${zone},${host}.${zone},${port},${priority},${weight}`,
      `host-record=${host}.${zone},127.0.0.1`,
    ])
    .join('\n');
}

/** The hosts file at start: two A records for api.test, one for one.test. */
const API_HOSTS = '127.0.0.2 api.test\n127.0.0.3 api.test\n127.0.0.1 one.test\n';

describe('client discovery: DNS against dnsmasq', {
  skip: hasDnsmasq ? false : 'dnsmasq is not installed',
}, () => {
  let dns: Dnsmasq;
  const dnsOptions = () => ({
    dns_resolver: [dns.address],
    dns_order: ['SRV' as const, 'A' as const],
    dns_error_ttl: 0.2,
  });

  before(async () => {
    dns = await startDnsmasq({ hosts: API_HOSTS });
  });
  after(async () => {
    await dns?.stop();
  });

  it('spreads over the A records from the first request, then follows them: the departed drains, the newcomer ramps, the rest keeps its state', async () => {
    // `/hold` is answered when the test says so: a request in flight while its target leaves.
    const held: ServerResponse[] = [];
    const holding =
      (name: string): Handler =>
      (req, res) => {
        if (req.url === '/hold') held.push(res);
        else nameHandler(name)(req, res, Buffer.alloc(0));
      };
    const a = await upstream('127.0.0.2', { address: '127.0.0.2' }, holding('127.0.0.2'));
    await upstream('127.0.0.3', { address: '127.0.0.3', port: a.port }, holding('127.0.0.3'));
    await upstream('127.0.0.4', { address: '127.0.0.4', port: a.port }, holding('127.0.0.4'));
    const d = client({
      upstream: { name: 'api', slow_start: 60, targets: [{ target: `api.test:${a.port}`, resolve: true }] },
      dns: dnsOptions(),
    });
    // No ready(): requests sent before the first answer wait for it.
    const first = await answers('http://api/', 20, d);
    assert.deepEqual(Object.fromEntries(first), { '127.0.0.2': 10, '127.0.0.3': 10 });
    assert.deepEqual(hosts(d), [`127.0.0.2:${a.port}`, `127.0.0.3:${a.port}`]);
    for (const t of d.targets()) assert.equal(t.effectiveWeight, t.weight, 'the first answer does not ramp');

    const inFlight = [0, 1].map(async () => {
      const r = await request('http://api/hold', { dispatcher: d });
      return `${r.statusCode} ${await r.body.text()}`;
    });
    await until(async () => held.length === 2);
    const stays = d.targets().find((t) => t.host === '127.0.0.2')!;
    const applied = d.counts.targetUpdates.applied;

    dns.setHosts('127.0.0.2 api.test\n127.0.0.4 api.test\n127.0.0.1 one.test\n');
    await until(async () => hosts(d).includes(`127.0.0.4:${a.port}`));
    assert.deepEqual(hosts(d), [`127.0.0.2:${a.port}`, `127.0.0.4:${a.port}`]);
    assert.equal(d.counts.targetUpdates.applied, applied + 1);
    assert.equal(
      d.targets().find((t) => t.host === '127.0.0.2'),
      stays,
      'the target that stays keeps its state',
    );
    const joined = d.targets().find((t) => t.host === '127.0.0.4')!;
    assert.ok(joined.effectiveWeight < joined.weight, `the newcomer ramps: ${joined.effectiveWeight}`);

    // The departed target's request in flight finishes there; nothing new reaches it.
    for (const res of held) res.end(String(res.req.socket.localAddress));
    assert.deepEqual((await Promise.all(inFlight)).sort(), ['200 127.0.0.2', '200 127.0.0.3']);
    const later = await answers('http://api/', 20, d);
    assert.equal(later.get('127.0.0.3'), undefined, JSON.stringify([...later]));
    assert.ok((later.get('127.0.0.2') ?? 0) > 0);
  });

  it('SRV records give ports, weights and priority levels, and changes to them are followed', async () => {
    const [x, y, z] = [await upstream('x'), await upstream('y'), await upstream('z')];
    await dns.setConfig(
      srvRecords('svc', [
        ['x', x!.port, 0, 10],
        ['y', y!.port, 0, 30],
        ['z', z!.port, 1, 100],
      ]),
    );
    const d = client({
      upstream: { name: 'svc', targets: [{ target: '_http._tcp.svc.test', resolve: true }] },
      dns: dnsOptions(),
    });
    await d.ready();
    assert.deepEqual(hosts(d), [x!.target, y!.target, z!.target].sort());
    // Level 1 takes nothing while level 0 is healthy; level 0 splits 10:30.
    assert.deepEqual(Object.fromEntries(await answers('http://svc/', 40, d)), { x: 10, y: 30 });

    await dns.setConfig(
      srvRecords('svc', [
        ['y', y!.port, 0, 30],
        ['z', z!.port, 0, 10],
      ]),
    );
    await until(async () => d.targets().length === 2);
    assert.deepEqual(hosts(d), [y!.target, z!.target].sort());
    // The rotation state of y carries over: the split is 30:10 within one pick.
    const split = await answers('http://svc/', 40, d);
    assert.equal(split.get('x'), undefined);
    assert.ok(Math.abs((split.get('y') ?? 0) - 30) <= 1, JSON.stringify([...split]));
  });

  it('close() stops the resolver and file_sd timers', async () => {
    const a = await upstream('a');
    const b = await upstream('b');
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-client-sd-'));
    writeFileSync(join(dir, 'b.json'), JSON.stringify([{ targets: [b.target] }]));
    const clock = new ManualClock(1_000_000);
    const d = upstreamDispatcher({
      upstream: {
        name: 'both',
        targets: [{ target: `one.test:${a.port}`, resolve: true }],
        file_sd: { directory: dir },
      },
      dns: dnsOptions(),
      clock,
    });
    await d.ready();
    assert.deepEqual(hosts(d), [a.target, b.target].sort());
    assert.ok(clock.pending >= 2, `the TTL refresh and the directory re-read are armed: ${clock.pending}`);
    await d.close();
    assert.equal(clock.pending, 0, 'no discovery timer left');
  });

  it("docs/client.md's DNS example runs against dnsmasq and prints what the doc says", async () => {
    const [a, b] = [await upstream('a'), await upstream('b')];
    await dns.setConfig(
      srvRecords('users', [
        ['a', a!.port, 0, 10],
        ['b', b!.port, 0, 30],
      ]),
    );
    const { stdout, prints } = await runDocExample('docs/client.md', 'runnable with dnsmasq', {
      DNS_SERVER: dns.address,
    });
    assert.ok(matches(prints, stdout), `printed:\n${stdout}\nexpected:\n${prints}`);
  });
});

describe('client discovery: file_sd', () => {
  it('spreads over the files of a directory and follows edits; a broken file is refused alone', async () => {
    const [one, two, three] = [await upstream('one'), await upstream('two'), await upstream('three')];
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-client-sd-'));
    writeFileSync(
      join(dir, 'a.json'),
      JSON.stringify([{ targets: [one!.target], labels: { weight: '30' } }]),
    );
    writeFileSync(join(dir, 'b.yaml'), `- targets: ["${two!.target}"]\n  labels: { weight: "10" }\n`);
    const d = client({ upstream: { name: 'web', slow_start: 30, file_sd: { directory: dir } } });
    assert.deepEqual(Object.fromEntries(await answers('http://web/', 40, d)), { one: 30, two: 10 });
    const stays = d.targets().find((t) => t.target === one!.target)!;

    writeFileSync(join(dir, 'b.yaml'), `- targets: ["${three!.target}"]\n`);
    await until(async () => hosts(d).includes(three!.target));
    assert.deepEqual(hosts(d), [one!.target, three!.target].sort());
    assert.equal(
      d.targets().find((t) => t.target === one!.target),
      stays,
      'the target that stays keeps its state',
    );
    const joined = d.targets().find((t) => t.target === three!.target)!;
    assert.ok(joined.effectiveWeight < joined.weight, `the newcomer ramps: ${joined.effectiveWeight}`);
    assert.equal((await answers('http://web/', 20, d)).get('two'), undefined);

    // A broken file keeps its last targets; a new good file beside it is taken.
    writeFileSync(join(dir, 'b.yaml'), '- targets: [ "unterminated\n');
    writeFileSync(join(dir, 'c.json'), JSON.stringify([{ targets: [two!.target] }]));
    await until(async () => hosts(d).includes(two!.target));
    assert.deepEqual(hosts(d), [one!.target, two!.target, three!.target].sort());
  });

  it('refuses bad DNS settings with the path as written', () => {
    assert.throws(
      () => upstreamDispatcher({ upstream: { name: 'u' }, dns: { dns_order: ['MX' as 'A'] } }),
      /dns\.dns_order\[0\]/,
    );
    assert.throws(
      () => upstreamDispatcher({ upstream: { name: 'u' }, dns: { dns_resolver: ['not an address'] } }),
      /dns\.dns_resolver\[0\]: expected an IP address/,
    );
    assert.throws(
      () => upstreamDispatcher({ upstream: { name: 'u' }, dns: { resolver: [] } as never }),
      /dns\.resolver: unknown DNS setting/,
    );
  });
});
