// Turns the samples of bench/macro/run.sh's paired mode (PAIRED="A B") into a markdown table: per
// connection count, each proxy's requests per proxy CPU-second over its windows, and the ratio
// B/A taken pair by pair (two adjacent windows share the machine's speed of the moment; the
// ratio of two medians would not cancel its drift).
// Usage: node bench/macro/report-paired.mjs SAMPLES.tsv > REPORT.md
import { readFileSync } from 'node:fs';

const [samplesFile] = process.argv.slice(2);
const lines = readFileSync(samplesFile, 'utf8').trim().split('\n');
const cols = lines[0].split('\t');
const rows = lines.slice(1).map((l) => {
  const v = l.split('\t');
  const o = {};
  cols.forEach((c, i) => {
    o[c] = c === 'label' ? v[i] : Number(v[i]);
  });
  return o;
});

/** The q-quantile of xs (linear between the nearest ranks). */
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (at - lo);
};
const perCpu = (r) => (r.cpu_s > 0 ? r.requests / r.cpu_s : Number.NaN);
const fmt = (x) => Math.round(x).toLocaleString('en-US');
const range = (xs) => `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}`;

console.log(
  '| conns | A req per CPU-s, median (min-max) | B req per CPU-s, median (min-max) | B/A, median | B/A, quartiles | B/A, min-max | pairs |',
);
console.log('|--:|--:|--:|--:|--:|--:|--:|');
for (const c of [...new Set(rows.map((r) => r.conns))].sort((a, b) => a - b)) {
  const a = [];
  const b = [];
  const ratios = [];
  for (const pair of new Set(rows.filter((r) => r.conns === c).map((r) => r.pair))) {
    const ra = rows.find((r) => r.conns === c && r.pair === pair && r.label === 'A');
    const rb = rows.find((r) => r.conns === c && r.pair === pair && r.label === 'B');
    if (ra === undefined || rb === undefined) continue;
    a.push(perCpu(ra));
    b.push(perCpu(rb));
    ratios.push(perCpu(rb) / perCpu(ra));
  }
  const f2 = (x) => x.toFixed(3);
  console.log(
    `| ${c} | ${fmt(quantile(a, 0.5))} (${range(a)}) | ${fmt(quantile(b, 0.5))} (${range(b)}) | **${f2(quantile(ratios, 0.5))}** | ${f2(quantile(ratios, 0.25))}-${f2(quantile(ratios, 0.75))} | ${f2(Math.min(...ratios))}-${f2(Math.max(...ratios))} | ${ratios.length} |`,
  );
}
