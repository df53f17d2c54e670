// Turns the samples written by bench/macro/run-protocols.sh into markdown tables of medians, one per
// mode (h2, tcp), each figure also as a ratio to nginx and to HAProxy at the same load.
// Usage: node bench/macro/report-protocols.mjs SAMPLES.tsv INFO.md > REPORT.md
import { readFileSync } from 'node:fs';
import { median, readSamples } from './samples.mjs';

const [samplesFile, infoFile] = process.argv.slice(2);
const rows = readSamples(samplesFile, ['mode', 'proxy', 'load']);

const CLEAN_MAX = Number(process.env.CLEAN_MAX ?? 0.15);
const order = ['nginx', 'haproxy', 'fulcrum', 'fulcrum-nodeh2', 'bare-h2', 'bare-net'];
const rank = (p) => order.indexOf(p) + 1 || 99;
// "4x16" (h2load clients x streams) or "64" (wrk connections): in-flight requests, for sorting
const inFlight = (load) => load.split('x').reduce((a, b) => a * Number(b), 1);
const TITLES = {
  h2: 'HTTP/2 (h2c, prior knowledge) to HTTP/1.1 upstreams; load = h2load clients x streams per client',
  tcp: 'TCP (L4 pipe), wrk HTTP/1.1 keep-alive through it; load = wrk connections',
};

const f = (x, d = 0) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const ratio = (x, base) =>
  Number.isFinite(x) && Number.isFinite(base) && base > 0 ? (x / base).toFixed(2) : 'n/a';

const sections = [];
for (const mode of [...new Set(rows.map((r) => r.mode))]) {
  const mrows = rows.filter((r) => r.mode === mode);
  const proxies = [...new Set(mrows.map((r) => r.proxy))].sort((a, b) => rank(a) - rank(b));
  const loads = [...new Set(mrows.map((r) => r.load))].sort((a, b) => inFlight(a) - inFlight(b));
  const stats = new Map();
  for (const p of proxies)
    for (const l of loads) {
      const all = mrows.filter((r) => r.proxy === p && r.load === l);
      if (all.length === 0) continue;
      // Rounds disturbed by other processes on the machine are left out when clean ones exist.
      const clean = all.filter((r) => (r.other_cores ?? 0) <= CLEAN_MAX);
      const rs = clean.length > 0 ? clean : all;
      const rps = rs.map((r) => r.rps);
      stats.set(`${p}/${l}`, {
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
  const out = [`### ${TITLES[mode] ?? mode}`, ''];
  out.push(
    '| proxy | load | req/s | x nginx | x haproxy | req/s min-max | p50 ms | p99 ms | peak RSS MiB | proxy cores busy | req per proxy CPU-s | x nginx | x haproxy | errors | other load | rounds used |',
  );
  out.push('|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|');
  const verdict = [];
  for (const l of loads) {
    const ng = stats.get(`nginx/${l}`) ?? {};
    const ha = stats.get(`haproxy/${l}`) ?? {};
    for (const p of proxies) {
      const s = stats.get(`${p}/${l}`);
      if (!s) continue;
      out.push(
        `| ${p} | ${l} | ${f(s.rps)} | ${ratio(s.rps, ng.rps)} | ${ratio(s.rps, ha.rps)} | ${f(s.rpsMin)}-${f(s.rpsMax)} | ${f(s.p50, 2)} | ${f(s.p99, 2)} | ${f(s.rssMiB, 1)} | ${f(s.cpuPerSec, 2)} | ${f(s.perCpu)} | ${ratio(s.perCpu, ng.perCpu)} | ${ratio(s.perCpu, ha.perCpu)} | ${s.errors} | ${f(s.other, 2)} (max ${f(s.otherMax, 2)}) | ${s.n}/${s.nAll}${s.clean ? '' : ' disturbed'} |`,
      );
    }
    const fu = stats.get(`fulcrum/${l}`);
    const bare = stats.get(`bare-h2/${l}`) ?? stats.get(`bare-net/${l}`);
    if (fu) {
      let line = `- ${mode} load ${l}: Fulcrum per proxy CPU-second ${ratio(fu.perCpu, ng.perCpu)}x nginx, ${ratio(fu.perCpu, ha.perCpu)}x HAProxy`;
      if (bare)
        line += `; the bare Node proxy ${ratio(bare.perCpu, ng.perCpu)}x nginx, ${ratio(bare.perCpu, ha.perCpu)}x HAProxy; Fulcrum/bare ${ratio(fu.perCpu, bare.perCpu)}x`;
      verdict.push(line);
    }
  }
  out.push('', ...verdict);
  sections.push(out.join('\n'));
}

const info = infoFile ? readFileSync(infoFile, 'utf8').trim() : '';
process.stdout.write(
  `${info}\n\nMedians per cell over the rounds whose "other load" was at most ${CLEAN_MAX} cores (all rounds, marked disturbed, when none was). Ratios are to nginx and to HAProxy at the same load in the same run. "errors": failed/errored/timed-out requests and non-2xx responses (h2load), socket errors and non-2xx (wrk), summed over rounds.\n"proxy cores busy": proxy CPU seconds per wall second during the measured run (1.00 = the pinned core is saturated).\n"other load": CPU used during the run by processes outside the benchmark, in cores, median (max) over rounds.\n\n${sections.join('\n\n')}\n`,
);
