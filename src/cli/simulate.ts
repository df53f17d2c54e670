/**
 * `fulcrum simulate [SCENARIO]`: run a scenario (docs/simulate.md) through the balancing algorithms
 * on virtual time, print the comparison tables and write the chart.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { ConfigError, formatIssue, type ParsedSource, parseSource } from '../config/load.ts';
import { chartSvg } from '../sim/chart-svg.ts';
import { fullReport } from '../sim/report.ts';
import { simulateAll } from '../sim/run.ts';
import { DEFAULT_SCENARIO_TEXT, type Scenario, scenarioFrom } from '../sim/scenario.ts';

export const SIMULATE_HELP = `Usage: fulcrum simulate [SCENARIO] [options]

Runs a synthetic workload through the balancing algorithms on virtual time and compares them.
SCENARIO is a YAML or JSON file (docs/simulate.md); without one, 4 targets of which one turns
10x slower. Options override the file's fields:

  --algorithms LIST   comma-separated ids (default: the file's list, else all)
  --seed N            the random seed (same seed, same numbers)
  --duration S        seconds of virtual time
  --rate R            requests per second (Poisson arrivals)
  --svg FILE          where to write the chart (default: simulate.svg; "-" for none)
  --json FILE         also write every number as JSON ("-" for stdout, instead of the tables)
`;

/** Reads the scenario and applies the flags (checked by the same rules as the file's fields). */
function load(file: string | undefined, values: Record<string, unknown>): Scenario {
  const src: ParsedSource = file
    ? parseSource(readFileSync(file, 'utf8'), file)
    : parseSource(DEFAULT_SCENARIO_TEXT, '(default scenario)');
  const raw = { ...((src.value ?? {}) as Record<string, unknown>) };
  const numeric = (name: string) => {
    const v = values[name];
    if (typeof v !== 'string') return;
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n))
      throw new UsageError(`--${name}: expected a number, got ${v}`);
    raw[name] = n;
  };
  numeric('seed');
  numeric('duration');
  numeric('rate');
  if (typeof values.algorithms === 'string')
    raw.algorithms = values.algorithms
      .split(',')
      .map((a) => a.trim())
      .filter((a) => a !== '');
  return scenarioFrom({ ...src, value: raw });
}

class UsageError extends Error {}

export function simulateCommand(argv: string[]): number {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        algorithms: { type: 'string' },
        seed: { type: 'string' },
        duration: { type: 'string' },
        rate: { type: 'string' },
        svg: { type: 'string' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    process.stderr.write(`fulcrum simulate: ${(err as Error).message}\n\n${SIMULATE_HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(SIMULATE_HELP);
    return 0;
  }
  if (positionals.length > 1) {
    process.stderr.write(`fulcrum simulate: one SCENARIO file at most\n\n${SIMULATE_HELP}`);
    return 2;
  }
  const file = positionals[0] as string | undefined;
  let scenario: Scenario;
  try {
    scenario = load(file, values);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`fulcrum simulate: ${err.message}\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      for (const i of err.issues) process.stderr.write(`${formatIssue(i)}\n`);
      return 1;
    }
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'EISDIR' || e.code === 'EACCES') {
      process.stderr.write(`fulcrum simulate: cannot read ${file}: ${e.message}\n`);
      return 1;
    }
    throw err;
  }
  const run = simulateAll(scenario);
  const json = values.json as string | undefined;
  if (json !== undefined) {
    const text = `${JSON.stringify({ scenario, results: run.results }, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
    if (json === '-') process.stdout.write(text);
    else writeFileSync(json, text);
  }
  if (json !== '-') process.stdout.write(fullReport(scenario, run.results));
  const svg = (values.svg as string | undefined) ?? 'simulate.svg';
  if (svg !== '-') {
    const title = `fulcrum simulate: ${file ? basename(file) : 'default scenario'} (seed ${scenario.seed})`;
    writeFileSync(svg, chartSvg(run.results, title, scenario.durationMs));
  }
  const where = svg === '-' ? '' : `; chart: ${svg}`;
  process.stderr.write(
    `simulated ${run.requests} requests (${scenario.algorithms.length} algorithms) in ${(run.wallMs / 1000).toFixed(2)} s${where}\n`,
  );
  return 0;
}
