/**
 * Micro benchmark: nanoseconds per pick for every balancing algorithm at 3, 100 and 10,000 targets,
 * and table build time at 1,000 targets for ring-hash and maglev (issue 3). Picks end at once
 * (in-flight counts stay 0) except where noted; hashing picks cycle through 4,096 distinct keys.
 * Prints markdown tables; `npm run bench:micro` runs it through run.ts.
 */
import { BUILTIN_ALGORITHMS, BUILTIN_BALANCERS } from '../../src/balancers/index.ts';
import { buildTable, maglevOptions } from '../../src/balancers/maglev.ts';
import { buildRing, ringHashOptions } from '../../src/balancers/ring-hash.ts';
import type { PickContext, Picker } from '../../src/balancers/types.ts';
import { systemClock } from '../../src/core/clock.ts';
import { seededRng } from '../../src/core/random.ts';
import { TargetState } from '../../src/upstreams/target.ts';

const ALGORITHMS = BUILTIN_ALGORITHMS.map((d) => d.id);
const SIZES = [3, 100, 10_000] as const;
const HASHING = new Set(BUILTIN_ALGORITHMS.filter((d) => d.hashing).map((d) => d.id));
const KEYS = 4096;

/** n targets with weights 1..4, latency samples and load reports, as a mixed fleet would have. */
function fleet(n: number): TargetState[] {
  return Array.from({ length: n }, (_, i) => {
    const t = new TargetState(
      'bench',
      `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8080`,
      '10.0.0.1',
      8080,
      1 + (i % 4),
    );
    t.observeLatency(5 + (i % 7), systemClock.monoMs());
    t.observeLoad((i % 10) / 10, systemClock.monoMs());
    return t;
  });
}

/**
 * The fastest of `runs` timings of `iterations` calls to fn, in ns per call: on a shared machine
 * the minimum is the steadiest estimate of the code's own cost (noise only ever adds time).
 */
export function nsPer(fn: () => void, iterations: number, runs = 7): number {
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    times.push(Number(process.hrtime.bigint() - t0) / iterations);
  }
  return Math.min(...times);
}

/** How many iterations fit in about `budgetMs`, estimated from a short probe. */
export function calibrate(fn: () => void, budgetMs = 40): number {
  let n = 100;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (ms > 5 || n >= 1e7) return Math.max(100, Math.floor((n * budgetMs) / Math.max(ms, 0.001)));
    n *= 4;
  }
}

export function benchPick(id: string, n: number): number {
  const factory = BUILTIN_BALANCERS.get(id)!;
  const picker: Picker = factory.create({ rng: seededRng(42), clock: systemClock }).update(fleet(n));
  const ctxs: PickContext[] = Array.from({ length: KEYS }, (_, k) => ({
    clientIp: '127.0.0.1',
    hashKey: HASHING.has(id) ? `session-${k}` : null,
  }));
  let k = 0;
  let sink = 0;
  const fn = () => {
    const t = picker.pick(ctxs[k++ & (KEYS - 1)]!, null);
    sink += t === null ? 0 : 1;
  };
  const ns = nsPer(fn, calibrate(fn));
  if (sink < 0) console.log(sink);
  return ns;
}

export function benchBuild(): { ringMs: number; ringPoints: number; maglevMs: number; maglevSlots: number } {
  const ts = fleet(1000);
  const ro = ringHashOptions();
  const mo = maglevOptions();
  let points = 0;
  let slots = 0;
  const ring = nsPer(() => {
    points = buildRing(ts, ro).points.length;
  }, 5);
  const table = nsPer(() => {
    slots = buildTable(ts, mo.tableSize).length;
  }, 5);
  return { ringMs: ring / 1e6, ringPoints: points, maglevMs: table / 1e6, maglevSlots: slots };
}

const fmt = (ns: number) => (ns >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`);

/** Runs everything and returns the markdown. */
export function runPicks(): string {
  const lines = ['| algorithm | 3 targets | 100 targets | 10,000 targets |', '|---|---:|---:|---:|'];
  for (const id of ALGORITHMS)
    lines.push(`| \`${id}\` | ${SIZES.map((n) => fmt(benchPick(id, n))).join(' | ')} |`);
  const b = benchBuild();
  lines.push(
    '',
    '| table build, 1,000 targets (weights 1..4) | time | size |',
    '|---|---:|---:|',
    `| \`ring-hash\` (min ring 1,024) | ${b.ringMs.toFixed(2)} ms | ${b.ringPoints} points |`,
    `| \`maglev\` (table 65,537) | ${b.maglevMs.toFixed(2)} ms | ${b.maglevSlots} slots |`,
  );
  return lines.join('\n');
}
