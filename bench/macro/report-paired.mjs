// Turns the samples of bench/macro/run.sh's paired mode (PAIRED="A B") into a markdown table: per
// connection count, each proxy's requests per proxy CPU-second over its windows, and the ratio
// B/A taken pair by pair (two adjacent windows share the machine's speed of the moment; the
// ratio of two medians would not cancel its drift).
// Usage: node bench/macro/report-paired.mjs SAMPLES.tsv > REPORT.md
import { median, quantile, readSamples } from './samples.mjs';

const [samplesFile] = process.argv.slice(2);
const rows = readSamples(samplesFile, ['label']);

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
    `| ${c} | ${fmt(median(a))} (${range(a)}) | ${fmt(median(b))} (${range(b)}) | **${f2(median(ratios))}** | ${f2(quantile(ratios, 0.25))}-${f2(quantile(ratios, 0.75))} | ${f2(Math.min(...ratios))}-${f2(Math.max(...ratios))} | ${ratios.length} |`,
  );
}
