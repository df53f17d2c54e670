// Turns the samples written by bench/macro/run.sh into a markdown table of medians, each figure
// also as a ratio to nginx at the same connection count.
// Usage: node bench/macro/report.mjs SAMPLES.tsv INFO.md > REPORT.md
import { readFileSync } from 'node:fs';
import { median, readSamples } from './samples.mjs';

const [samplesFile, infoFile] = process.argv.slice(2);
const rows = readSamples(samplesFile, ['proxy']);

const CLEAN_MAX = Number(process.env.CLEAN_MAX ?? 0.15);
const order = [
  'nginx',
  'haproxy',
  'fulcrum',
  'fulcrum-nolog',
  'fulcrum-lean',
  'fulcrum-plugins',
  'fulcrum-trace1',
  'fulcrum-trace100',
  'bare-undici',
];
const proxies = [...new Set(rows.map((r) => r.proxy))].sort(
  (a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99),
);
const conns = [...new Set(rows.map((r) => r.conns))].sort((a, b) => a - b);

const stats = new Map();
for (const p of proxies)
  for (const c of conns) {
    const all = rows.filter((r) => r.proxy === p && r.conns === c);
    if (all.length === 0) continue;
    // Rounds disturbed by other processes on the machine are left out when clean ones exist.
    const clean = all.filter((r) => (r.other_cores ?? 0) <= CLEAN_MAX);
    const rs = clean.length > 0 ? clean : all;
    const rps = rs.map((r) => r.rps);
    stats.set(`${p}/${c}`, {
      n: rs.length,
      nAll: all.length,
      clean: clean.length > 0,
      rps: median(rps),
      rpsMin: Math.min(...rps),
      rpsMax: Math.max(...rps),
      p50: median(rs.map((r) => r.p50_ms)),
      p99: median(rs.map((r) => r.p99_ms)),
      rssMiB: median(rs.map((r) => r.hwm_kb / 1024)),
      cpuPerSec: median(rs.map((r) => r.cpu_s / r.secs)),
      perCpu: median(rs.map((r) => r.requests / r.cpu_s)),
      errors: rs.reduce((a, r) => a + r.errors, 0),
      other: median(rs.map((r) => r.other_cores ?? 0)),
      otherMax: Math.max(...rs.map((r) => r.other_cores ?? 0)),
    });
  }

const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const ratio = (x, base) =>
  Number.isFinite(x) && Number.isFinite(base) && base > 0 ? ` (${(x / base).toFixed(2)}x)` : '';
const out = [];
out.push(
  '| proxy | conns | req/s (x nginx) | req/s min-max | p50 ms (x nginx) | p99 ms (x nginx) | peak RSS MiB (x nginx) | proxy cores busy | req per proxy CPU-s (x nginx) | errors | other load | rounds used |',
);
out.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
for (const c of conns)
  for (const p of proxies) {
    const s = stats.get(`${p}/${c}`);
    if (!s) continue;
    const b = stats.get(`nginx/${c}`) ?? {};
    out.push(
      `| ${p} | ${c} | ${f(s.rps)}${ratio(s.rps, b.rps)} | ${f(s.rpsMin)}-${f(s.rpsMax)} | ${f(s.p50, 2)}${ratio(s.p50, b.p50)} | ${f(s.p99, 2)}${ratio(s.p99, b.p99)} | ${f(s.rssMiB, 1)}${ratio(s.rssMiB, b.rssMiB)} | ${f(s.cpuPerSec, 2)} | ${f(s.perCpu)}${ratio(s.perCpu, b.perCpu)} | ${s.errors} | ${f(s.other, 2)} (max ${f(s.otherMax, 2)}) | ${s.n}/${s.nAll}${s.clean ? '' : ' disturbed'} |`,
    );
  }
// the target from the issue: Fulcrum at least 0.6x nginx
const verdict = [];
for (const c of conns) {
  const fu = stats.get(`fulcrum/${c}`);
  const ng = stats.get(`nginx/${c}`);
  const bu = stats.get(`bare-undici/${c}`);
  if (!fu || !ng) continue;
  let line = `- c=${c}: Fulcrum/nginx req/s ${(fu.rps / ng.rps).toFixed(2)}x, per proxy CPU-second ${(fu.perCpu / ng.perCpu).toFixed(2)}x (target >= 0.6x: ${fu.perCpu / ng.perCpu >= 0.6 ? 'met' : 'NOT met'})`;
  if (bu) line += `; Fulcrum/bare-undici per CPU-second ${(fu.perCpu / bu.perCpu).toFixed(2)}x`;
  verdict.push(line);
}
const info = infoFile ? readFileSync(infoFile, 'utf8').trim() : '';
process.stdout.write(
  `${info}\n\nMedians per cell over the rounds whose "other load" was at most ${CLEAN_MAX} cores (all rounds, marked disturbed, when none was). "errors": wrk socket errors plus non-2xx responses, summed over rounds.\n"proxy cores busy": proxy CPU seconds per wall second during the measured run (1.00 = the pinned core is saturated).\n"other load": CPU used during the run by processes outside the benchmark, in cores, median (max) over rounds; above ~0.1 the cell is disturbed.\n\n${out.join('\n')}\n\n${verdict.join('\n')}\n`,
);
