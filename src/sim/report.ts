/**
 * The simulator's text output: one row per algorithm (latency, load, failures, keys moved), the
 * share of tries each target took, and the fleet changes with the keys they moved.
 */
import type { AlgorithmResult } from './engine.ts';
import type { Scenario } from './scenario.ts';

function fixed(v: number, digits = 1): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '-';
}

function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

/** Lays out rows as columns: the first left-aligned, the others right-aligned. */
export function columns(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) for (let i = 0; i < r.length; i++) widths[i] = Math.max(widths[i] ?? 0, r[i]!.length);
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** One line describing the scenario. */
export function describeScenario(s: Scenario): string {
  const keys =
    s.keys.distribution === 'zipf'
      ? `zipf(s=${s.keys.exponent}) over ${s.keys.count} keys`
      : `uniform over ${s.keys.count} keys`;
  return `${s.targets.length} targets, ${s.rate} req/s for ${s.durationMs / 1000} s (seed ${s.seed}), keys ${keys}, ${s.events.length} event(s)`;
}

/** The main table. */
export function summaryTable(results: readonly AlgorithmResult[]): string {
  const rows: string[][] = [
    [
      'algorithm',
      'p50 ms',
      'p99 ms',
      'p99.9 ms',
      'load max',
      'load mean',
      'peak',
      'failed',
      'retried',
      'keys moved',
    ],
  ];
  for (const r of results)
    rows.push([
      r.algorithm,
      fixed(r.p50),
      fixed(r.p99),
      fixed(r.p999),
      fixed(r.loadMax),
      fixed(r.loadMean),
      String(r.peak),
      String(r.failed),
      String(r.retried),
      r.hashing ? (r.changes.length === 0 ? 'none' : r.changes.map((c) => pct(c.keysMoved)).join(' ')) : '-',
    ]);
  return columns(rows);
}

/** Share of tries per target, one row per algorithm. */
export function shareTable(results: readonly AlgorithmResult[]): string {
  if (results.length === 0) return '';
  const names = results[0]!.targets.map((t) => t.name);
  const rows: string[][] = [['tries per target', ...names]];
  for (const r of results) rows.push([r.algorithm, ...r.targets.map((t) => pct(t.share))]);
  return columns(rows);
}

/** The fleet changes the hashing algorithms saw, with keys and traffic moved against the ideal. */
export function changesTable(results: readonly AlgorithmResult[]): string {
  const rows: string[][] = [['fleet change', 'algorithm', 'keys moved', 'traffic moved', 'ideal']];
  for (const r of results)
    for (const c of r.changes)
      rows.push([
        `${fixed(c.atMs / 1000)} s ${c.what}`,
        r.algorithm,
        pct(c.keysMoved),
        pct(c.trafficMoved),
        pct(c.ideal),
      ]);
  return rows.length === 1 ? '' : columns(rows);
}

/** Everything printed after a run. */
export function fullReport(s: Scenario, results: readonly AlgorithmResult[]): string {
  const parts = [describeScenario(s), '', summaryTable(results), '', shareTable(results)];
  const changes = changesTable(results);
  if (changes !== '') parts.push('', changes);
  return `${parts.join('\n')}\n`;
}
