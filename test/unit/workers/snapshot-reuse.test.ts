/**
 * A worker's new snapshot takes the objects of the snapshot in service where they are equal
 * (src/workers/snapshot-reuse.ts): sameValue's comparison, the reuse per item (by id, by position
 * without ids), the lists and `node` kept whole, and, through the slices a worker receives
 * (src/core/bulk.ts) and a real Runtime, a build that keeps what did not change.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Snapshot } from '../../../src/config/types.ts';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { BulkJoin, deepFreeze, splitBulk } from '../../../src/core/bulk.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { seededRng } from '../../../src/core/random.ts';
import { createLogs } from '../../../src/observability/access-log.ts';
import { Runtime } from '../../../src/runtime/runtime.ts';
import { SnapshotReuse, sameValue } from '../../../src/workers/snapshot-reuse.ts';

describe('sameValue', () => {
  it('compares primitives, arrays and plain objects deeply, key order aside', () => {
    assert.ok(sameValue(1, 1));
    assert.ok(sameValue('a', 'a'));
    assert.ok(sameValue(null, null));
    assert.ok(sameValue(Number.NaN, Number.NaN));
    assert.ok(!sameValue(0, '0'));
    assert.ok(!sameValue(null, undefined));
    assert.ok(!sameValue(null, {}));
    assert.ok(sameValue({ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 }));
    assert.ok(!sameValue({ a: 1, b: [1, { c: 'x' }] }, { a: 1, b: [1, { c: 'y' }] }));
    assert.ok(!sameValue([1, 2], [1, 2, 3]));
    assert.ok(!sameValue([1, 2], { 0: 1, 1: 2 }));
    assert.ok(!sameValue({ a: 1 }, { a: 1, b: 2 }));
    assert.ok(!sameValue({ a: 1, b: 2 }, { a: 1 }));
    assert.ok(!sameValue({ a: undefined }, { b: undefined }), 'a key missing is not a key undefined');
    assert.ok(sameValue(Object.freeze({ a: Object.freeze([1]) }), { a: [1] }));
  });

  it('compares Sets of keys and Maps; other objects only by identity', () => {
    assert.ok(sameValue(new Set([500, 502]), new Set([502, 500])));
    assert.ok(!sameValue(new Set([500]), new Set([500, 502])));
    assert.ok(!sameValue(new Set([500]), [500]));
    assert.ok(sameValue(new Map([['a', { x: 1 }]]), new Map([['a', { x: 1 }]])));
    assert.ok(!sameValue(new Map([['a', { x: 1 }]]), new Map([['a', { x: 2 }]])));
    assert.ok(!sameValue(new Uint8Array([1]), new Uint8Array([1])));
    assert.ok(!sameValue(/a/, /a/));
    const d = new Date(0);
    assert.ok(sameValue(d, d));
  });
});

const items = (ids: string[], changed = '') =>
  ids.map((id) => ({ id, name: id, targets: [{ target: `${id}:80`, weight: id === changed ? 5 : 1 }] }));

/** A snapshot-shaped value (deep-frozen like one in service, or fresh like one arriving). */
function value(over: Record<string, unknown> = {}): Snapshot {
  return {
    source: 'f',
    hash: 'h',
    node: { zone: '', trustedIps: ['10.0.0.0/8'], listeners: [{ name: 'l', port: 1 }] },
    upstreams: items(['a', 'b', 'c']),
    services: [],
    routes: [],
    consumers: [],
    plugins: items(['p1', 'p2']),
    problems: [{ path: 'routes[0]', message: 'x' }],
    warnings: [],
    ...over,
  } as unknown as Snapshot;
}

describe('SnapshotReuse', () => {
  it('gives back every list, and node, of an equal snapshot', () => {
    const old = deepFreeze(value());
    const fresh = new SnapshotReuse(old).finish(value());
    for (const k of ['node', 'upstreams', 'plugins', 'problems', 'warnings'] as const)
      assert.equal(fresh[k], old[k], k);
  });

  it('replaces a changed item and keeps the others; the list is new, node and other lists kept', () => {
    const old = deepFreeze(value());
    const reuse = new SnapshotReuse(old);
    const fresh = reuse.finish(value({ upstreams: items(['a', 'b', 'c'], 'b') }));
    assert.notEqual(fresh.upstreams, old.upstreams);
    assert.equal(fresh.upstreams[0], old.upstreams[0]);
    assert.notEqual(fresh.upstreams[1], old.upstreams[1]);
    assert.equal(fresh.upstreams[1]!.targets[0]!.weight, 5);
    assert.equal(fresh.upstreams[2], old.upstreams[2]);
    assert.equal(fresh.plugins, old.plugins);
    assert.equal(fresh.node, old.node);
    assert.deepEqual([reuse.reused, reuse.compared], [2 + 2 + 1, 3 + 2 + 1]);
  });

  it('finds items by id when they move, added and removed ones aside; the moved list is new', () => {
    const old = deepFreeze(value());
    const fresh = new SnapshotReuse(old).finish(value({ upstreams: items(['c', 'd', 'a']) }));
    assert.equal(fresh.upstreams[0], old.upstreams[2]);
    assert.equal(fresh.upstreams[1]!.name, 'd');
    assert.equal(fresh.upstreams[2], old.upstreams[0]);
    assert.notEqual(fresh.upstreams, old.upstreams, 'the order changed');
  });

  it('matches items without ids by position (problems)', () => {
    const old = deepFreeze(
      value({
        problems: [
          { path: 'a', message: 'x' },
          { path: 'b', message: 'y' },
        ],
      }),
    );
    const fresh = new SnapshotReuse(old).finish(
      value({
        problems: [
          { path: 'b', message: 'y' },
          { path: 'a', message: 'x' },
        ],
      }),
    );
    assert.notEqual(fresh.problems[0], old.problems[0]);
    assert.deepEqual(fresh.problems, [
      { path: 'b', message: 'y' },
      { path: 'a', message: 'x' },
    ]);
  });

  it('keeps the equal fields of a changed node (trusted addresses, listeners)', () => {
    const old = deepFreeze(value());
    const node = { zone: 'west', trustedIps: ['10.0.0.0/8'], listeners: [{ name: 'l', port: 1 }] };
    const fresh = new SnapshotReuse(old).finish(value({ node }));
    assert.notEqual(fresh.node, old.node);
    assert.equal(fresh.node.zone, 'west');
    assert.equal(fresh.node.trustedIps, old.node.trustedIps);
    assert.equal(fresh.node.listeners, old.node.listeners);
  });

  it('reuses items of lists that arrive in slices as each slice arrives, and the list at the end', () => {
    const many = items(Array.from({ length: 300 }, (_, i) => `u${i}`));
    const old = deepFreeze(value({ upstreams: many }));
    const next = value({
      upstreams: items(
        Array.from({ length: 300 }, (_, i) => `u${i}`),
        'u200',
      ),
    });
    const { head, parts } = splitBulk(structuredClone(next), 128);
    assert.deepEqual(head.holes, [['upstreams']]);
    const reuse = new SnapshotReuse(old);
    const join = new BulkJoin(head, (item, path) => deepFreeze(reuse.item(item, path)));
    join.add(parts[0]!);
    assert.equal(reuse.reused, 128, 'the first slice is compared as it arrives');
    for (const p of parts.slice(1)) join.add(p);
    const fresh = deepFreeze(reuse.finish(join.value as Snapshot));
    assert.equal(fresh.upstreams.length, 300);
    assert.equal(fresh.upstreams.filter((u, i) => u === old.upstreams[i]).length, 299);
    assert.notEqual(fresh.upstreams[200], old.upstreams[200]);
    assert.ok(Object.isFrozen(fresh.upstreams[200]));
    assert.equal(fresh.plugins, old.plugins);
  });
});

describe('a worker build on a reused snapshot', () => {
  const text = (weight: number) => `_format_version: "3.0"
upstreams:
${['a', 'b']
  .map(
    (u) => `  - name: ${u}
    algorithm: ring-hash
    targets: [{ target: "10.0.0.${u === 'a' ? 1 : 2}:80", weight: ${u === 'a' ? weight : 100} }]`,
  )
  .join('\n')}
services:
  - { name: a, host: a, routes: [{ name: ra, paths: ["/a"] }] }
  - { name: b, host: b, routes: [{ name: rb, paths: ["/b"] }] }
plugins:
  - name: rate-limiting
    config: { minute: 10 }
`;
  /** The snapshot as a worker gets it: a structured clone, in slices, through the reuse. */
  function received(s: Snapshot, current: Snapshot): Snapshot {
    const { head, parts } = splitBulk(structuredClone(s), 1);
    const reuse = new SnapshotReuse(current);
    const join = new BulkJoin(head, (item, path) => deepFreeze(reuse.item(item, path)));
    for (const p of parts) join.add(p);
    return deepFreeze(reuse.finish(join.value as Snapshot));
  }

  it('keeps upstream b, its service and route, the plugin set and the routers when a changes', () => {
    const clock = new ManualClock(1_000_000);
    const rt = new Runtime(deepFreeze(structuredClone(loadSnapshotText(text(100), 'f.yaml'))), {
      clock,
      rng: seededRng(1),
      logs: createLogs('silent', 'off', clock),
    });
    const before = rt.current;
    const next = rt.apply(received(loadSnapshotText(text(300), 'f.yaml'), before.snapshot));
    assert.notEqual(next.upstreams.get('a'), before.upstreams.get('a'));
    assert.equal(next.upstreams.get('b'), before.upstreams.get('b'), 'b (its ring) is not rebuilt');
    assert.equal(next.services.get('b'), before.services.get('b'));
    assert.equal(next.plugins, before.plugins);
    assert.deepEqual(next.objects, {
      upstream: { built: 1, kept: 1 },
      service: { built: 1, kept: 1 },
      route: { built: 1, kept: 1 },
      plugins: { built: 0, kept: 1 },
      router: { built: 0, kept: 1 },
    });
    // Without the reuse, a fresh copy rebuilds everything.
    const fresh = rt.apply(structuredClone(loadSnapshotText(text(200), 'f.yaml')));
    assert.equal(fresh.objects.upstream.built, 2);
    assert.equal(fresh.objects.plugins.built, 1);
    rt.close();
  });
});
