/**
 * A big configuration is applied in small steps (src/core/pace.ts, Generation.build): the number
 * of turns a build gives back to the event loop grows linearly with the configuration, and no turn
 * does more than the step budget. Counted with an injected scheduler on a manual clock; no timing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { BulkJoin, splitBulk } from '../../../src/core/bulk.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { finish, PACE_MAX_STEPS, pace, type Scheduler } from '../../../src/core/pace.ts';
import { seededRng } from '../../../src/core/random.ts';
import { createLogs } from '../../../src/observability/access-log.ts';
import { Generation } from '../../../src/runtime/generation.ts';
import { Runtime } from '../../../src/runtime/runtime.ts';
import { manyServices } from '../../helpers/hostile-inputs.ts';

/** A scheduler that counts turns and lets the test see how much work ran between them. */
function counting(): Scheduler & { turns: number } {
  const s = {
    turns: 0,
    turn: () => {
      s.turns++;
      return Promise.resolve();
    },
  };
  return s;
}

const config = (n: number) => `_format_version: "3.0"\n${manyServices(n, '127.0.0.1:9')}`;

function runtime(clock: ManualClock): Runtime {
  return new Runtime(loadSnapshotText('_format_version: "3.0"\n', 'f.yaml'), {
    clock,
    rng: seededRng(1),
    logs: createLogs('silent', 'off', clock),
  });
}

/** The units of work (yields) of building a snapshot of `n` services with a route each. */
function units(n: number, text = config(n)): number {
  const clock = new ManualClock();
  const rt = runtime(clock);
  const steps = Generation.build(1, loadSnapshotText(text, 'f.yaml'), rt.live);
  let count = 0;
  while (!steps.next().done) count++;
  rt.close();
  return count;
}

describe('paced generation builds', () => {
  it('counts one unit per upstream, service and route: linear in the configuration', () => {
    const small = units(500);
    const big = units(2000);
    // 1 implicit upstream, n services, n routes, plugins, router: 2n + 3.
    assert.equal(small, 2 * 500 + 3);
    assert.equal(big, 2 * 2000 + 3);
  });

  it('counts one more unit per plugin instance built', () => {
    const withPlugins = (n: number) =>
      config(n).replace(/(\n {8}paths: \["\/s\d+"\]\n)/g, '$1        plugins: [{ name: key-auth }]\n');
    // ... + the plugin set itself and one unit per instance.
    assert.equal(units(300, withPlugins(300)), 3 * 300 + 4);
    assert.equal(units(1200, withPlugins(1200)), 3 * 1200 + 4);
  });

  it('gives the event loop a turn every PACE_MAX_STEPS units when the clock stands still', async () => {
    for (const n of [1000, 4000]) {
      const clock = new ManualClock();
      const rt = runtime(clock);
      const s = counting();
      const gen = await rt.applyPaced(loadSnapshotText(config(n), 'f.yaml'), s);
      assert.equal(gen.routes.length, n);
      assert.equal(rt.current, gen, 'in service once built');
      assert.equal(s.turns, Math.floor((2 * n + 3) / PACE_MAX_STEPS), `turns for ${n} services`);
      rt.close();
    }
  });

  it('ends a turn when its time budget is spent, whatever the step count', async () => {
    const clock = new ManualClock();
    const rt = runtime(clock);
    const snapshot = loadSnapshotText(config(100), 'f.yaml');
    const s = counting();
    // Each step takes 1 ms of this clock: a 4 ms budget ends a turn every 4 steps.
    function* slow() {
      const inner = Generation.build(2, snapshot, rt.live);
      for (;;) {
        const r = inner.next();
        if (r.done) return r.value;
        clock.advance(1);
        yield;
      }
    }
    await pace(slow(), s, { clock, maxMs: 4, maxSteps: PACE_MAX_STEPS });
    assert.equal(s.turns, Math.floor(203 / 4));
    rt.close();
  });

  it('builds the same generation paced as at once', async () => {
    const snapshot = loadSnapshotText(config(300), 'f.yaml');
    const a = runtime(new ManualClock());
    const b = runtime(new ManualClock());
    const now = finish(Generation.build(2, snapshot, a.live));
    const paced = await b.applyPaced(snapshot, counting());
    assert.deepEqual(
      paced.router.order().map((r) => r.label),
      now.router.order().map((r) => r.label),
    );
    assert.deepEqual([...paced.poolKeys].sort(), [...now.poolKeys].sort());
    a.close();
    b.close();
  });
});

describe('bulk transfer of large values', () => {
  it('cuts long lists out of objects near the top and puts them back in order', () => {
    const value = {
      ok: true,
      snapshot: {
        source: 'f',
        services: Array.from({ length: 300 }, (_, i) => ({ i })),
        node: { a: [1, 2] },
      },
      short: [1, 2, 3],
    };
    const { head, parts } = splitBulk(value, 128);
    assert.deepEqual(head.holes, [['snapshot', 'services']]);
    assert.equal(parts.length, 3);
    const seen: string[] = [];
    const join = new BulkJoin(structuredClone(head), (item, path) => {
      seen.push(path.join('.'));
      return item;
    });
    for (const p of parts) join.add(structuredClone(p));
    assert.deepEqual(join.value, value);
    assert.equal(seen.length, 300);
    assert.equal(seen[0], 'snapshot.services');
  });
});
