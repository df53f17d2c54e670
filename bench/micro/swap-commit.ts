/**
 * Micro benchmark: the synchronous step of a configuration change (copy-on-swap, issue 15). A
 * paced build changes nothing in service and makes the new pickers; `Runtime.install` then commits
 * what it planned (kept targets' settings, guards, stacks, tables joining the runtime's maps) and
 * swaps, in one step that holds the event loop. Measured per shape of change: milliseconds of the
 * install alone (the build before it is paced and not counted), the fastest of a few runs.
 */
import { loadSnapshotText } from '../../src/config/validate.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { seededRng } from '../../src/core/random.ts';
import { createLogs } from '../../src/observability/access-log.ts';
import { Runtime } from '../../src/runtime/runtime.ts';

interface Shape {
  readonly name: string;
  readonly upstreams: number;
  readonly targets: number;
  readonly algorithm: string;
}

const SHAPES: readonly Shape[] = [
  { name: '1 upstream × 100 targets, maglev (table 65537)', upstreams: 1, targets: 100, algorithm: 'maglev' },
  {
    name: '1 upstream × 10,000 targets, round-robin',
    upstreams: 1,
    targets: 10_000,
    algorithm: 'round-robin',
  },
  {
    name: '1,000 upstreams × 10 targets, round-robin',
    upstreams: 1000,
    targets: 10,
    algorithm: 'round-robin',
  },
  { name: '200 upstreams × 10 targets, ring-hash', upstreams: 200, targets: 10, algorithm: 'ring-hash' },
];

/** Every target of every upstream gets weight `w`: the change rebuilds all of them. */
function config(s: Shape, w: number): string {
  let out = '_format_version: "3.0"\nupstreams:\n';
  for (let u = 0; u < s.upstreams; u++) {
    out += `  - name: u${u}\n    algorithm: ${s.algorithm}\n    targets:\n`;
    for (let t = 0; t < s.targets; t++)
      out += `      - { target: "10.${u & 255}.${t >> 8}.${t & 255}:80", weight: ${w + (t % 3)} }\n`;
  }
  return out;
}

function installMs(s: Shape, runs = 5): { installMs: number; changes: number } {
  const clock = new ManualClock();
  const rt = new Runtime(loadSnapshotText(config(s, 10), 'f.yaml'), {
    clock,
    rng: seededRng(1),
    logs: createLogs('silent', 'off', clock),
  });
  let best = Number.POSITIVE_INFINITY;
  let changes = 0;
  for (let r = 0; r < runs; r++) {
    const p = rt.prepareNow(loadSnapshotText(config(s, 20 + r), 'f.yaml'));
    changes = p.gen.pendingChanges;
    const t0 = process.hrtime.bigint();
    rt.install(p);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  rt.close();
  return { installMs: best, changes };
}

export function runSwapCommit(): string {
  const rows = ['| change | planned steps | install (ms) |', '|---|---:|---:|'];
  for (const s of SHAPES) {
    const r = installMs(s);
    rows.push(`| ${s.name}, every weight changed | ${r.changes} | ${r.installMs.toFixed(2)} |`);
  }
  return rows.join('\n');
}
