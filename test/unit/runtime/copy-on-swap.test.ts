/**
 * Copy-on-swap (issue 15, "The pipeline"): building a generation changes no object the generation
 * in service uses. What a build wants changed on kept live objects (a target's weight, priority and
 * zone, a guard's limits, the balancer stack, an affinity table's limits, the plugins' state) waits
 * in the prepared generation and is made at the swap, in one step; new objects (target states,
 * guards, tables) join the runtime's maps only then. `abandon` drops a prepared generation without
 * building anything. An identical snapshot (same content, new objects) rebuilds nothing.
 * On virtual time (ManualClock), with the runtime's own prepare / install / abandon.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { Snapshot } from '../../../src/config/types.ts';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import type { Scheduler } from '../../../src/core/pace.ts';
import { seededRng } from '../../../src/core/random.ts';
import { createLogs } from '../../../src/observability/access-log.ts';
import { JwksCache } from '../../../src/plugins/jwks.ts';
import type { StickyRequest } from '../../../src/proxy/sticky.ts';
import type { Generation } from '../../../src/runtime/generation.ts';
import { Runtime } from '../../../src/runtime/runtime.ts';
import type { AffinitySharing } from '../../../src/upstreams/affinity-table.ts';

interface Knobs {
  /** Weights of targets a and b. */
  readonly wa?: number;
  readonly wb?: number;
  /** Priority of b, zone of a. */
  readonly pb?: number;
  readonly za?: string;
  readonly maxRequests?: number;
  /** Source-ip table size, or 0 for no sticky sessions, and where the table is kept. */
  readonly table?: number;
  readonly store?: 'local' | 'cluster';
  /** A third target, c, and its weight. */
  readonly c?: boolean;
  readonly wc?: number;
  /** A second service on the upstream, with its own connect timeout (pools of its own). */
  readonly s2?: boolean;
  /** The rate-limiting plugin's per-minute limit, or 0 for no plugin. */
  readonly minute?: number;
  readonly slowStart?: number;
}

function text(k: Knobs = {}): string {
  const table = k.table ?? 0;
  const minute = k.minute ?? 0;
  return `_format_version: "3.0"
upstreams:
  - name: u
    slow_start: ${k.slowStart ?? 0}
    circuit_breaker: { max_requests: ${k.maxRequests ?? 10} }
${table > 0 ? `    sticky: { mode: source-ip, source_ip: { table_size: ${table}, idle_timeout: 600, store: ${k.store ?? 'local'} } }\n` : ''}    targets:
      - { target: "10.0.0.1:80", weight: ${k.wa ?? 100}, zone: ${k.za ?? 'east'} }
      - { target: "10.0.0.2:80", weight: ${k.wb ?? 100}, priority: ${k.pb ?? 0} }
${k.c === true ? `      - { target: "10.0.0.3:80", weight: ${k.wc ?? 100} }\n` : ''}services:
  - name: s
    host: u
    routes: [{ name: r, paths: ["/"] }]
${k.s2 === true ? '  - name: s2\n    host: u\n    connect_timeout: 1234\n    routes: [{ name: r2, paths: ["/2"] }]\n' : ''}${minute > 0 ? `plugins:\n  - name: rate-limiting\n    config: { minute: ${minute} }\n` : ''}`;
}

const snap = (k: Knobs = {}): Snapshot => loadSnapshotText(text(k), 'f.yaml');

function runtime(k: Knobs = {}, clock = new ManualClock(1_000_000)): Runtime {
  return new Runtime(snap(k), { clock, rng: seededRng(1), logs: createLogs('silent', 'off', clock) });
}

/** A scheduler whose turns cost nothing: the build still yields between its steps. */
const turns: Scheduler = { turn: () => Promise.resolve() };

const u = (g: Generation) => g.upstreams.get('u')!;
const target = (g: Generation, i: number) => u(g).targets[i]!;
const req = (clientIp = '192.0.2.1'): StickyRequest => ({ clientIp, hashKey: null, stickyCookie: null });
/** `n` picks from the upstream's picker in service: the targets' last octet. */
function picks(rt: Runtime, n: number): string {
  let out = '';
  for (let i = 0; i < n; i++) out += u(rt.current).picker.pick(req(), null)!.host.slice(-1);
  return out;
}

describe('copy-on-swap: a prepared generation changes nothing in service', () => {
  it('keeps the old weight, priority, zone, guard limits and picks until install, then the new ones with the same objects', async () => {
    const rt = runtime();
    const before = rt.current;
    const a = target(before, 0);
    const b = target(before, 1);
    const guard = u(before).guard;
    const picker = u(before).picker;
    a.start(); // a request in flight on a across the swap
    a.observeLatency(40, rt.clock.monoMs());
    const p = await rt.prepare(snap({ wa: 300, pb: 1, za: 'west', maxRequests: 1 }), turns);
    assert.equal(rt.current, before);
    assert.ok(p.gen.pendingChanges > 0, 'the changes wait in the prepared generation');
    assert.deepEqual([a.weight, a.effectiveWeight, a.zone, b.priority], [100, 100, 'east', 0]);
    assert.equal(guard.limits.maxRequests, 10);
    assert.equal(u(before).picker, picker);
    assert.equal(picks(rt, 4), '1212', 'equal weights, one level: alternating');
    // The prepared generation holds the same target states and guard.
    assert.equal(target(p.gen, 0), a);
    assert.equal(u(p.gen).guard, guard);

    rt.install(p);
    assert.equal(p.gen.pendingChanges, 0);
    assert.deepEqual([a.weight, a.effectiveWeight, a.zone, b.priority], [300, 300, 'west', 1]);
    assert.equal(guard.limits.maxRequests, 1);
    assert.equal(picks(rt, 4), '1111', 'b is in the lower level now');
    assert.equal(a.inflight, 1, 'the request in flight is still counted');
    assert.equal(a.latencyCostMs, 40, 'the latency statistics carried over');
    rt.close();
  });

  it('puts new target states, the slow-start ramp and a removed plugin in force only at install', () => {
    const rt = runtime({ minute: 5, slowStart: 10 });
    const before = rt.current;
    assert.equal(rt.live.pluginState.size, 1);
    const counters = [...rt.live.pluginState.values()][0];
    const p = rt.prepareNow(snap({ c: true, slowStart: 10 }));
    assert.equal(rt.live.targets.has('u/10.0.0.3:80'), false, 'the new target is not live yet');
    assert.equal(rt.live.slowStart.size, 0, 'nor ramping');
    assert.equal(rt.live.pluginState.size, 1, "the plugin's counters stay while it serves");
    assert.equal([...rt.live.pluginState.values()][0], counters);
    assert.equal(u(p.gen).targets.length, 3);

    rt.install(p);
    assert.notEqual(rt.current, before);
    const c = rt.live.targets.get('u/10.0.0.3:80')!;
    assert.equal(c, target(rt.current, 2));
    assert.equal(rt.live.slowStart.size, 1, 'the new target ramps from the swap');
    assert.equal(c.effectiveWeight, 10);
    assert.equal(rt.live.pluginState.size, 0, 'state of the removed plugin goes with the swap');
    rt.close();
  });

  it('carries a ramp and the health verdict across the swap; a new weight joins the ramp at install', () => {
    const clock = new ManualClock(1_000_000);
    const rt = runtime({ slowStart: 10 }, clock);
    rt.apply(snap({ slowStart: 10, c: true }));
    const c = target(rt.current, 2);
    const started = c.rampStartMs;
    clock.advance(5_000);
    rt.live.slowStart.tick();
    assert.equal(c.effectiveWeight, 50);
    const b = target(rt.current, 1);
    b.healthy = false;
    const p = rt.prepareNow(snap({ slowStart: 10, c: true, wc: 200 }));
    assert.deepEqual([c.weight, c.effectiveWeight], [100, 50], 'not before install');
    rt.install(p);
    assert.equal(target(rt.current, 2), c);
    assert.deepEqual(
      [c.weight, c.effectiveWeight, c.rampStartMs],
      [200, 100, started],
      'same ramp, new weight',
    );
    assert.equal(b.healthy, false, 'the verdict carried over');
    assert.equal(picks(rt, 6).includes('2'), false, 'and the new picker honours it');
    rt.close();
  });

  it('changes the affinity table only at install; a removed sticky layer keeps its table until then', () => {
    const rt = runtime({ table: 4 });
    const table = rt.live.affinity.get('u')!;
    const sticky = () => u(rt.current).sticky!;
    const pin = (ip: string) => sticky().pick(u(rt.current).picker, req(ip), undefined, null);
    const p = rt.prepareNow(snap({ table: 1 }));
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4']) pin(ip);
    assert.equal(table.size, 4, 'the table in service keeps its size of 4');
    rt.install(p);
    assert.equal(rt.live.affinity.get('u'), table, 'the same table, entries kept');
    pin('192.0.2.5');
    assert.equal(table.size, 1, 'the new size is in force');

    const off = rt.prepareNow(snap());
    assert.equal(
      rt.live.affinity.get('u'),
      table,
      'still registered while the generation in service uses it',
    );
    rt.install(off);
    assert.equal(rt.live.affinity.has('u'), false);
    rt.close();
  });

  it('starts and stops sharing a source-ip table with the cluster only at install', () => {
    const calls: string[] = [];
    const share: AffinitySharing = {
      attach: (name, _table, size) => void calls.push(`attach ${name} ${size}`),
      detach: (name) => void calls.push(`detach ${name}`),
    };
    const clock = new ManualClock(1_000_000);
    const logs = createLogs('silent', 'off', clock);
    const rt = new Runtime(snap({ table: 4 }), { clock, rng: seededRng(1), logs, affinityShare: share });
    calls.length = 0;
    const p = rt.prepareNow(snap({ table: 4, store: 'cluster' }));
    assert.deepEqual(calls, [], 'nothing is shared while the change is only prepared');
    rt.install(p);
    assert.deepEqual(calls, ['attach u 4']);
    rt.abandon(rt.prepareNow(snap({ table: 4 })));
    assert.deepEqual(calls, ['attach u 4'], 'an abandoned change back to local stops nothing');
    rt.install(rt.prepareNow(snap({ table: 4 })));
    assert.deepEqual(calls, ['attach u 4', 'detach u']);
    rt.close();
  });

  it('keeps the rotation going across the swap: the new picker continues where the one in service stopped', () => {
    const rt = runtime({ wa: 2, wb: 1 });
    // Smooth WRR 2:1: a, b, a, then again.
    assert.equal(picks(rt, 1), '1');
    const p = rt.prepareNow(snap({ wa: 2, wb: 1, maxRequests: 3 }));
    assert.equal(picks(rt, 1), '2', 'the generation in service goes on');
    rt.install(p);
    assert.equal(picks(rt, 4), '1121', 'the new picker continues where the old one was');
    rt.close();
  });
});

describe('copy-on-swap: what making a picker writes on a target', () => {
  it("gives kept targets the latency balancer's new decay window at install, not while it builds", () => {
    const latency = (ms: number) => `_format_version: "3.0"
upstreams:
  - name: u
    algorithm: latency
    decay_window: ${ms}
    targets: [{ target: "10.0.0.1:80" }, { target: "10.0.0.2:80" }]
`;
    const clock = new ManualClock(1_000_000);
    const rt = new Runtime(loadSnapshotText(latency(10_000), 'f.yaml'), {
      clock,
      rng: seededRng(1),
      logs: createLogs('silent', 'off', clock),
    });
    const a = target(rt.current, 0);
    assert.equal(a.latencyDecayMs, 10_000);
    const p = rt.prepareNow(loadSnapshotText(latency(2_000), 'f.yaml'));
    assert.equal(a.latencyDecayMs, 10_000, 'the generation in service keeps its decay');
    rt.install(p);
    assert.equal(a.latencyDecayMs, 2_000);
    rt.close();
  });
});

describe('copy-on-swap: abandon', () => {
  it('registers the pools a build made only at install; an abandoned build registered none', () => {
    const rt = runtime();
    assert.equal(rt.live.pools.size, 2, 'one per target of s');
    rt.abandon(rt.prepareNow(snap({ s2: true })));
    assert.equal(rt.live.pools.size, 2);
    const p = rt.prepareNow(snap({ s2: true }));
    assert.equal(rt.live.pools.size, 2, 'not before install');
    const pool = p.gen.services.get('s2')!.pools.get(target(p.gen, 0))!;
    rt.install(p);
    assert.equal(rt.live.pools.size, 4);
    assert.equal(rt.current.services.get('s2')!.pools.get(target(rt.current, 0)), pool);
    rt.close();
  });

  it('drops a prepared generation: everything in service as before, nothing rebuilt', async () => {
    const rt = runtime({ wa: 2, wb: 1, table: 4, minute: 5 });
    const before = rt.current;
    const a = target(before, 0);
    const stack = rt.live.balancers.get('u');
    const table = rt.live.affinity.get('u')!;
    const guard = u(before).guard;
    const state = [...rt.live.pluginState.entries()];
    const picker = u(before).picker;
    assert.equal(picks(rt, 1), '1');
    const p = await rt.prepare(snap({ wa: 5, wb: 1, c: true, maxRequests: 1, minute: 7 }), turns);
    rt.abandon(p);
    assert.equal(rt.current, before);
    assert.equal(u(before).picker, picker, 'the picker in service was not rebuilt');
    assert.equal(rt.live.balancers.get('u'), stack);
    assert.equal(rt.live.affinity.get('u'), table);
    assert.equal(guard.limits.maxRequests, 10);
    assert.equal(a.weight, 2);
    assert.equal(rt.live.targets.has('u/10.0.0.3:80'), false);
    assert.deepEqual([...rt.live.pluginState.entries()], state);
    assert.equal(picks(rt, 1), '2');
    // Nothing built for the abandoned generation took the rotation's place: a later change of
    // the upstream continues from the picker in service (a, b, then a, a, b, a).
    rt.apply(snap({ wa: 2, wb: 1, table: 4, minute: 5, maxRequests: 3 }));
    assert.equal(picks(rt, 4), '1121');
    assert.equal(rt.live.affinity.get('u'), table);
    rt.close();
  });

  it('keeps a sticky table through an abandoned change that removed it', () => {
    const rt = runtime({ table: 4 });
    const table = rt.live.affinity.get('u')!;
    const sticky = u(rt.current).sticky!;
    for (const ip of ['192.0.2.1', '192.0.2.2']) sticky.pick(u(rt.current).picker, req(ip), undefined, null);
    rt.abandon(rt.prepareNow(snap()));
    rt.apply(snap({ table: 4, wa: 50 }));
    assert.equal(rt.live.affinity.get('u'), table, 'the same table');
    assert.equal(table.size, 2, 'with its entries');
    rt.close();
  });
});

describe('an identical snapshot', () => {
  it('rebuilds nothing: the same content in new objects keeps every runtime object', () => {
    const rt = runtime({ table: 4, minute: 5 });
    const before = rt.current;
    const again = rt.apply(snap({ table: 4, minute: 5 }));
    assert.notEqual(again, before, 'a new generation number all the same');
    assert.equal(again.id, before.id + 1);
    assert.equal(u(again), u(before));
    assert.equal(again.services.get('s'), before.services.get('s'));
    assert.ok(
      again.routes.every((r, i) => r === before.routes[i]),
      'the same route objects',
    );
    assert.equal(again.router, before.router);
    assert.equal(again.plugins, before.plugins);
    assert.equal(rt.history.at(-1)!.changed, false);
    // A different one rebuilds.
    const other = rt.apply(snap({ table: 4, minute: 6 }));
    assert.notEqual(other.plugins, before.plugins);
    rt.close();
  });
});

describe('copy-on-swap: plugin state', () => {
  /** A jwt plugin whose consumer's keys come from `uri`, with this cache ttl (seconds). */
  const jwtSnap = (uri: string, ttl: number) =>
    loadSnapshotText(
      `_format_version: "3.0"
services:
  - name: s
    url: http://10.0.0.1:80
    routes: [{ name: r, paths: ["/"] }]
plugins:
  - name: jwt
    config: { jwks_cache_ttl: ${ttl}, jwks_refresh_interval: 1 }
consumers:
  - username: alice
    jwt_secrets:
      - { key: issuer-a, algorithm: RS256, jwks_uri: "${uri}" }
`,
      'f.yaml',
    );

  it('gives a kept JWKS cache its new settings and warms it at install; an abandoned build touches neither', async () => {
    // A JWKS URL that answers 503: the cache holds no keys, so every warm-up fetches (paced).
    let fetched = 0;
    const server = createServer((_req, res) => {
      fetched++;
      res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    const clock = new ManualClock(1_000_000);
    const rt = new Runtime(jwtSnap(uri, 60), {
      clock,
      rng: seededRng(1),
      logs: createLogs('silent', 'off', clock),
    });
    try {
      const caches = [...rt.live.pluginState.values()].filter((v) => v instanceof JwksCache);
      assert.equal(caches.length, 1);
      const jwks = caches[0]!;
      const settled = async () => {
        const w = jwks.lookup('k');
        if (w !== null && 'wait' in w) await w.wait;
      };
      await settled();
      assert.equal(jwks.fetches, 1, 'warmed when the first generation went into service');
      clock.advance(5_000); // past jwks_refresh_interval: a warm-up would fetch again

      rt.abandon(rt.prepareNow(jwtSnap(uri, 120)));
      assert.equal(jwks.settings.ttlMs, 60_000, 'an abandoned build leaves the live settings');
      assert.equal(jwks.fetches, 1, 'and starts no fetch');

      const p = rt.prepareNow(jwtSnap(uri, 120));
      assert.equal(jwks.settings.ttlMs, 60_000, 'not before install');
      assert.equal(jwks.fetches, 1);
      rt.install(p);
      assert.equal(
        [...rt.live.pluginState.values()].find((v) => v instanceof JwksCache),
        jwks,
        'kept',
      );
      assert.equal(jwks.settings.ttlMs, 120_000);
      assert.equal(jwks.fetches, 2, 'warmed at install');
      await settled();
      assert.equal(fetched, 2);
    } finally {
      rt.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
