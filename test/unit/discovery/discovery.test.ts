/**
 * Discovery on virtual time with a scripted DNS (the real server is in
 * test/integration/discovery-dns.test.ts): TTLs, dns_valid_ttl, stale-if-error up to dns_stale_ttl,
 * NXDOMAIN removing targets, dns_order and LAST, SRV priority ranks; and the pipeline: a discovery
 * change rebuilds the changed upstream, its services and their routes' objects, and nothing else.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { seededRng } from '../../../src/core/random.ts';
import { Discovery } from '../../../src/discovery/discovery.ts';
import type { DnsRecord, QueryResult, QueryType } from '../../../src/discovery/dns-client.ts';
import { createLogs } from '../../../src/observability/access-log.ts';
import { Runtime } from '../../../src/runtime/runtime.ts';

/** A scripted DNS: answers by `name type`; a missing entry is NXDOMAIN, `'fail'` a timeout. */
class Zone {
  readonly answers = new Map<string, DnsRecord[] | 'fail'>();
  readonly asked: string[] = [];
  a(name: string, ips: string[], ttlS = 30): void {
    this.answers.set(
      `${name} A`,
      ips.map((ip) => rec('A', name, ip, ttlS)),
    );
  }
  query = async (name: string, type: QueryType): Promise<QueryResult> => {
    this.asked.push(`${name} ${type}`);
    const r = this.answers.get(`${name} ${type}`);
    if (r === 'fail') return { kind: 'error', why: 'timeout' };
    if (r === undefined) return { kind: 'empty', rcode: 'NXDOMAIN' };
    return { kind: 'ok', records: r };
  };
}

function rec(
  type: string,
  name: string,
  data: string,
  ttlS: number,
  srv = { port: 0, weight: 0, priority: 0 },
): DnsRecord {
  return { type, name, ttlS, data, ...srv };
}

const log = createLogs('silent', 'off', new ManualClock()).app;

/** Let the scripted answers' promises settle. */
const settle = () => new Promise((r) => setImmediate(r));

function setup(text: string, zone: Zone) {
  const clock = new ManualClock(1_000_000);
  let changes = 0;
  const d = new Discovery({
    clock,
    ioClock: clock,
    rng: seededRng(1),
    log,
    query: zone.query,
    onChange: () => changes++,
  });
  const base = loadSnapshotText(text, 'f.yaml');
  d.setBase(base);
  return { clock, d, base, changes: () => changes };
}

const targetsOf = (d: Discovery, u = 'u') =>
  d
    .merged()
    .upstreams.find((x) => x.name === u)!
    .targets.map((t) => `${t.target} w${t.weight} p${t.priority}`)
    .sort();

const HEADER = '_format_version: "3.0"\n';

describe('DNS discovery on virtual time', () => {
  const cfg = (extra = '') => `${HEADER}${extra}upstreams:
  - name: u
    targets:
      - { target: "api.test:8080", resolve: true, weight: 7 }
      - { target: "10.9.9.9:80" }
`;

  it('expands A records with the target weight, refreshes on the TTL, and an NXDOMAIN removes them', async () => {
    const zone = new Zone();
    zone.a('api.test', ['10.0.0.1', '10.0.0.2'], 30);
    const { clock, d, changes } = setup(cfg('dns_order: [A]\n'), zone);
    await settle();
    assert.deepEqual(targetsOf(d), ['10.0.0.1:8080 w7 p0', '10.0.0.2:8080 w7 p0', '10.9.9.9:80 w100 p0']);
    assert.equal(changes(), 1);
    zone.a('api.test', ['10.0.0.2', '10.0.0.3'], 30);
    clock.advance(29_999);
    await settle();
    assert.equal(changes(), 1, 'not asked again before the TTL');
    clock.advance(1);
    await settle();
    assert.deepEqual(targetsOf(d), ['10.0.0.2:8080 w7 p0', '10.0.0.3:8080 w7 p0', '10.9.9.9:80 w100 p0']);
    assert.equal(changes(), 2);
    zone.answers.delete('api.test A');
    clock.advance(30_000);
    await settle();
    assert.deepEqual(targetsOf(d), ['10.9.9.9:80 w100 p0']);
  });

  it('keeps the last answer through failures until dns_stale_ttl past its TTL, asking every dns_error_ttl', async () => {
    const zone = new Zone();
    zone.a('api.test', ['10.0.0.1'], 10);
    const { clock, d } = setup(cfg('dns_order: [A]\ndns_stale_ttl: 60\ndns_error_ttl: 5\n'), zone);
    await settle();
    zone.answers.set('api.test A', 'fail');
    const asked = () => zone.asked.length;
    clock.advance(10_000);
    await settle();
    assert.deepEqual(targetsOf(d), ['10.0.0.1:8080 w7 p0', '10.9.9.9:80 w100 p0'], 'stale answer kept');
    const before = asked();
    clock.advance(5_000);
    await settle();
    assert.equal(asked(), before + 1, 'asked again after dns_error_ttl');
    for (let t = 15_000; t < 70_000; t += 5_000) {
      clock.advance(5_000);
      await settle();
    }
    assert.deepEqual(targetsOf(d), ['10.9.9.9:80 w100 p0'], 'dropped 60 s past the TTL');
    zone.a('api.test', ['10.0.0.5'], 10);
    clock.advance(5_000);
    await settle();
    assert.deepEqual(targetsOf(d), ['10.0.0.5:8080 w7 p0', '10.9.9.9:80 w100 p0']);
  });

  it('dns_valid_ttl replaces the records TTL', async () => {
    const zone = new Zone();
    zone.a('api.test', ['10.0.0.1'], 3600);
    const { clock, d } = setup(cfg('dns_order: [A]\ndns_valid_ttl: 2\n'), zone);
    await settle();
    zone.a('api.test', ['10.0.0.2'], 3600);
    clock.advance(2_000);
    await settle();
    assert.deepEqual(targetsOf(d), ['10.0.0.2:8080 w7 p0', '10.9.9.9:80 w100 p0']);
  });

  it('walks dns_order, asks the type that answered first next time (LAST), and a failing type stops the walk', async () => {
    const zone = new Zone();
    zone.a('api.test', ['10.0.0.1'], 5);
    const { clock, d } = setup(cfg(), zone);
    await settle();
    assert.deepEqual(zone.asked, ['api.test SRV', 'api.test A']);
    zone.asked.length = 0;
    clock.advance(5_000);
    await settle();
    assert.deepEqual(zone.asked, ['api.test A'], 'LAST first, and it answered');
    zone.answers.set('api.test A', 'fail');
    zone.answers.set('api.test SRV', [
      rec('SRV', 'api.test', 'x.test', 5, { port: 1, weight: 1, priority: 0 }),
    ]);
    zone.asked.length = 0;
    clock.advance(5_000);
    await settle();
    assert.deepEqual(zone.asked, ['api.test A'], 'a failure does not fall through to other types');
    assert.deepEqual(targetsOf(d), ['10.0.0.1:8080 w7 p0', '10.9.9.9:80 w100 p0']);
  });

  it('SRV: port, weight (0 counts as 1) and priority ranked into levels', async () => {
    const zone = new Zone();
    zone.answers.set('_h._tcp.api.test SRV', [
      rec('SRV', '_h._tcp.api.test', 'a.test', 30, { port: 9001, weight: 10, priority: 5 }),
      rec('SRV', '_h._tcp.api.test', 'b.test', 30, { port: 9002, weight: 0, priority: 5 }),
      rec('SRV', '_h._tcp.api.test', 'c.test', 30, { port: 9003, weight: 20, priority: 20 }),
    ]);
    zone.a('a.test', ['10.0.1.1']);
    zone.a('b.test', ['10.0.1.2']);
    zone.a('c.test', ['10.0.1.3']);
    const { d } = setup(
      `${HEADER}upstreams:
  - name: u
    targets:
      - { target: "_h._tcp.api.test", resolve: true, priority: 1 }
`,
      zone,
    );
    await settle();
    await settle();
    assert.deepEqual(targetsOf(d), ['10.0.1.1:9001 w10 p1', '10.0.1.2:9002 w1 p1', '10.0.1.3:9003 w20 p2']);
  });
});

describe('the pipeline: a discovery change rebuilds only what changed', () => {
  const text = `${HEADER}dns_order: [A]
upstreams:
  - name: u
    targets:
      - { target: "api.test:8080", resolve: true }
  - name: other
    targets:
      - { target: "10.1.1.1:80" }
services:
  - name: s
    host: u
    routes: [{ name: r, paths: [/u] }]
  - name: t
    host: other
    routes: [{ name: q, paths: [/o] }]
plugins:
  - name: cors
`;

  it('keeps the other upstream, its service, its route, the plugins; the routers only carry the new route', async () => {
    const zone = new Zone();
    zone.a('api.test', ['10.0.0.1'], 5);
    const { clock, d, base } = setup(text, zone);
    await settle();
    const rt = new Runtime(base, { clock, rng: seededRng(1), logs: createLogs('silent', 'off', clock) });
    const g1 = rt.apply(d.merged());
    assert.equal(g1.upstreams.get('u')!.targets.length, 1);
    // The same merged snapshot again keeps everything.
    const same = rt.apply(d.merged());
    assert.equal(same.upstreams.get('u'), g1.upstreams.get('u'));
    assert.equal(same.router, g1.router);
    zone.a('api.test', ['10.0.0.1', '10.0.0.2'], 5);
    clock.advance(5_000);
    await settle();
    const g2 = rt.apply(d.merged());
    assert.deepEqual(
      g2.upstreams.get('u')!.targets.map((t) => t.target),
      ['10.0.0.1:8080', '10.0.0.2:8080'],
    );
    assert.notEqual(g2.upstreams.get('u'), same.upstreams.get('u'));
    assert.equal(g2.upstreams.get('other'), same.upstreams.get('other'));
    assert.equal(g2.services.get('t'), same.services.get('t'));
    assert.notEqual(g2.services.get('s'), same.services.get('s'));
    assert.equal(g2.plugins, same.plugins);
    const route = (g: typeof g2, name: string) => g.routes.find((r) => r.spec.name === name)!;
    assert.equal(route(g2, 'q'), route(same, 'q'));
    assert.notEqual(route(g2, 'r'), route(same, 'r'));
    // The target that stayed keeps its state (statistics, pool); the router routes to the new objects.
    assert.equal(g2.upstreams.get('u')!.targets[0], same.upstreams.get('u')!.targets[0]);
    const facts = { method: 'GET', host: 'x', path: '/u', headers: { get: () => undefined } };
    assert.equal(g2.router.match(facts)!.route, route(g2, 'r'));
    assert.equal(same.router.match(facts)!.route, route(same, 'r'));
    rt.close();
    d.close();
  });
});
