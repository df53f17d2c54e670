import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUILTIN_BALANCERS } from '../../../src/balancers/index.ts';
import {
  loadedWeight,
  parseLoad,
  resource,
  resourceFactory,
  resourceOptions,
} from '../../../src/balancers/resource.ts';
import { ConfigError } from '../../../src/config/load.ts';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { StringFields } from '../../../src/http1/fields.ts';
import { reportLoad } from '../../../src/proxy/load-report.ts';
import { counts, ctx, make, mk, sequence, within } from './support.ts';

const PICKS = 100_000;
const share = (c: Record<string, number>, n: string) => (c[n] ?? 0) / PICKS;

describe('resource (reported load)', () => {
  it('is registered, and draws by weight when nothing is reported (exact sequence, seeded)', () => {
    assert.equal(BUILTIN_BALANCERS.get('resource'), resource);
    const picker = make(resource, 1).update([mk('a'), mk('b'), mk('c')]);
    assert.equal(sequence(picker, 12), 'babccabcbcbb');
    const plain = make(BUILTIN_BALANCERS.get('random')!, 1).update([mk('a'), mk('b'), mk('c')]);
    assert.equal(sequence(plain, 12), 'babccabcbcbb', 'the same draws as weighted random');
  });

  it('shares follow weight × (1 − load), with a floor (distribution, 100,000 picks, ±1 point)', () => {
    const clock = new ManualClock(1000);
    const ts = [mk('a'), mk('b'), mk('c'), mk('d', 2)];
    ts[1]!.observeLoad(0.5, 1000);
    ts[2]!.observeLoad(1, 1000); // floor 0.05
    ts[3]!.observeLoad(0.75, 1000); // 2 × 0.25 = 0.5
    const c = counts(make(resource, 3, clock).update(ts), PICKS);
    const total = 1 + 0.5 + 0.05 + 0.5;
    assert.ok(...within('a', share(c, 'a'), 1 / total, 0.01));
    assert.ok(...within('b', share(c, 'b'), 0.5 / total, 0.01));
    assert.ok(...within('c', share(c, 'c'), 0.05 / total, 0.01));
    assert.ok(...within('d', share(c, 'd'), 0.5 / total, 0.01));
  });

  it('a report fades linearly over load_decay, back to the full weight when reports stop', () => {
    const o = resourceOptions({ decayMs: 10_000, floor: 0.05 });
    const t = mk('a', 100);
    assert.equal(loadedWeight(t, 0, o), 100, 'no report: full weight');
    t.observeLoad(0.8, 0);
    assert.ok(Math.abs(loadedWeight(t, 0, o) - 20) < 1e-9);
    assert.ok(Math.abs(loadedWeight(t, 5000, o) - 60) < 1e-9, 'half-way: load 0.4');
    assert.equal(loadedWeight(t, 10_000, o), 100);
    t.observeLoad(2, 20_000);
    assert.equal(t.reportedLoad, 1, 'clamped');
    assert.ok(Math.abs(loadedWeight(t, 20_000, o) - 5) < 1e-9, 'the floor');
    t.observeLoad(Number.NaN, 20_001);
    assert.equal(t.loadStampMs, 20_000, 'a bad value is ignored');
    // Through a picker, on the injected clock: c reported full, then the clock moves past the decay.
    const clock = new ManualClock(0);
    const ts = [mk('a'), mk('b'), mk('c')];
    ts[2]!.observeLoad(1, 0);
    const picker = make(resourceFactory({ decayMs: 1000 }), 5, clock).update(ts);
    assert.ok(share(counts(picker, PICKS), 'c') < 0.03);
    clock.advance(1000);
    assert.ok(...within('c after decay', share(counts(picker, PICKS), 'c'), 1 / 3, 0.01));
  });

  it('churn: unhealthy, zero weight, excluded, added and removed targets', () => {
    const a = mk('a');
    const b = mk('b');
    const c = mk('c');
    const bal = make(resource, 2);
    let picker = bal.update([a, b, c]);
    b.healthy = false;
    assert.ok(!sequence(picker, 200).includes('b'));
    b.healthy = true;
    c.weight = 0;
    assert.ok(!sequence(picker, 200).includes('c'));
    for (let i = 0; i < 50; i++) assert.equal(picker.pick(ctx, [a, c]), b);
    assert.ok(picker.pick(ctx, [a, b]) !== null, 'all allowed ones tried: any usable one');
    const d = mk('d');
    d.observeLoad(0.5, 0);
    picker = bal.update([a, b, d]);
    const s = sequence(picker, 3000);
    assert.ok(!s.includes('c'));
    assert.ok(s.split('d').length - 1 > 300, 'd joins, at half weight');
    a.healthy = false;
    b.healthy = false;
    d.healthy = false;
    assert.equal(picker.pick(ctx, null), null);
  });

  it('parses reports as a fraction or a percentage; reads them from raw response headers', () => {
    assert.equal(parseLoad('0.73'), 0.73);
    assert.equal(parseLoad(' 73% '), 0.73);
    assert.equal(parseLoad('.5'), 0.5);
    assert.equal(parseLoad('1.5'), 1);
    for (const bad of ['', '-0.1', 'abc', '0.5x', '1e3', '%', 'NaN'])
      assert.ok(Number.isNaN(parseLoad(bad)), bad);
    const t = mk('a');
    reportLoad(new StringFields(['Content-Type', 'text/plain', 'X-Load', '0.4']), 'x-load', t, 42);
    assert.equal(t.reportedLoad, 0.4);
    assert.equal(t.loadStampMs, 42);
    reportLoad(new StringFields(['x-load', 'lots']), 'x-load', t, 50);
    assert.equal(t.loadStampMs, 42, 'an unparsable report is ignored');
  });
});

describe('config: resource', () => {
  const load = (u: string) =>
    loadSnapshotText(`_format_version: "3.0"\nupstreams:\n  - name: u\n${u}`, 'f.yaml').upstreams[0]!;
  const issues = (u: string): string[] => {
    try {
      load(u);
    } catch (err) {
      if (err instanceof ConfigError) return err.issues.map((i) => `${i.path}: ${i.message}`);
      throw err;
    }
    return [];
  };

  it('defaults: x-load, floor 0.05, decay 10 s', () => {
    const u = load('    algorithm: resource\n');
    assert.equal(u.algorithm, 'resource');
    assert.equal(u.balancer.loadHeader, 'x-load');
    assert.equal(u.balancer.loadFloor, 0.05);
    assert.equal(u.balancer.loadDecayMs, 10_000);
  });

  it('reads every option; refuses bad ranges and options on other algorithms', () => {
    const u = load(
      '    algorithm: resource\n    load_header: X-Backend-Load\n    load_floor: 0.2\n    load_decay: 500\n',
    );
    assert.equal(u.balancer.loadHeader, 'x-backend-load');
    assert.equal(u.balancer.loadFloor, 0.2);
    assert.equal(u.balancer.loadDecayMs, 500);
    assert.match(issues('    algorithm: resource\n    load_floor: 0\n')[0]!, /load_floor/);
    assert.match(issues('    algorithm: resource\n    load_decay: 10\n')[0]!, /load_decay/);
    assert.match(issues('    algorithm: resource\n    load_header: "a b"\n')[0]!, /load_header/);
    assert.deepEqual(issues('    load_floor: 0.5\n'), [
      'upstreams[0].load_floor: read only by the resource algorithm, not by "round-robin"',
    ]);
  });
});
