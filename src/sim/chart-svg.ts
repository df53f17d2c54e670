/**
 * The simulator's chart as a self-contained SVG, written by hand (no dependency): one row per
 * algorithm, latency percentiles over time on the left (log scale, shared by every row) and each
 * target's time-averaged in-flight on the right (linear, scaled per row), with the scenario's events marked.
 */
import type { AlgorithmResult } from './engine.ts';

const PALETTE = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];

const PANEL_W = 470;
const PANEL_H = 130;
const LEFT = 70;
const GAP = 80;
const ROW_H = PANEL_H + 50;
const TOP = 70;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A "nice" step (1, 2 or 5 × 10^k) giving at most `max` intervals over `span`. */
function niceStep(span: number, max: number): number {
  const raw = span / max;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function num(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
}

/** A path through the finite points; NaN values break the line. */
function linePath(values: readonly number[], x: (i: number) => number, y: (v: number) => number): string {
  let d = '';
  let pen = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    pen = true;
  }
  return d;
}

export function chartSvg(results: readonly AlgorithmResult[], title: string, durationMs: number): string {
  const width = LEFT + PANEL_W + GAP + PANEL_W + 30;
  const height = TOP + results.length * ROW_H + 20;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(title)}: latency and in-flight per target over time, per algorithm</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${LEFT}" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  );

  // Shared scales.
  let latMin = Number.POSITIVE_INFINITY;
  let latMax = 0;
  for (const r of results) {
    for (const v of [...r.series.p50, ...r.series.p99])
      if (Number.isFinite(v) && v > 0) {
        latMin = Math.min(latMin, v);
        latMax = Math.max(latMax, v);
      }
  }
  if (!(latMax > 0)) {
    latMin = 1;
    latMax = 10;
  }
  const lo = 10 ** Math.floor(Math.log10(latMin));
  const hi = 10 ** Math.ceil(Math.log10(latMax));
  const seconds = durationMs / 1000;
  const xStep = niceStep(seconds, 8);

  // Legend: latency lines, then one colour per target.
  const names = results[0]?.targets.map((t) => t.name) ?? [];
  let lx = LEFT;
  const ly = 42;
  out.push(
    `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 20}" y2="${ly - 4}" stroke="#333" stroke-width="2"/>`,
    `<text x="${lx + 24}" y="${ly}">p50</text>`,
    `<line x1="${lx + 55}" y1="${ly - 4}" x2="${lx + 75}" y2="${ly - 4}" stroke="#d62728" stroke-width="1.5" stroke-dasharray="4 2"/>`,
    `<text x="${lx + 79}" y="${ly}">p99 latency (ms, log scale)</text>`,
  );
  lx = LEFT + PANEL_W + GAP;
  out.push(`<text x="${lx}" y="${ly}">in-flight per target:</text>`);
  lx += 115;
  names.forEach((n, i) => {
    const c = PALETTE[i % PALETTE.length]!;
    out.push(
      `<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${c}"/>`,
      `<text x="${lx + 13}" y="${ly}">${escapeXml(n)}</text>`,
    );
    lx += 20 + n.length * 6.5;
  });

  results.forEach((r, row) => {
    const y0 = TOP + row * ROW_H + 16;
    const n = r.series.p50.length;
    const panel = (px: number, yTicks: { v: number; y: number }[], label: string) => {
      out.push(
        `<text x="${px}" y="${y0 - 4}" font-weight="bold">${escapeXml(label)}</text>`,
        `<rect x="${px}" y="${y0}" width="${PANEL_W}" height="${PANEL_H}" fill="none" stroke="#999"/>`,
      );
      for (const t of yTicks)
        out.push(
          `<line x1="${px}" y1="${t.y.toFixed(1)}" x2="${px + PANEL_W}" y2="${t.y.toFixed(1)}" stroke="#eee"/>`,
          `<text x="${px - 4}" y="${(t.y + 4).toFixed(1)}" text-anchor="end">${num(t.v)}</text>`,
        );
      for (let s = 0; s <= seconds + 1e-9; s += xStep) {
        const x = px + (s / seconds) * PANEL_W;
        out.push(
          `<text x="${x.toFixed(1)}" y="${y0 + PANEL_H + 13}" text-anchor="middle">${num(s)}${s === 0 ? ' s' : ''}</text>`,
        );
      }
      // Labels of marks close in time are stacked instead of drawn over each other.
      let lastX = Number.NEGATIVE_INFINITY;
      let stack = 0;
      for (const m of r.marks) {
        const xv = px + (m.atMs / durationMs) * PANEL_W;
        stack = xv - lastX < 70 ? stack + 1 : 0;
        lastX = xv;
        const x = xv.toFixed(1);
        out.push(
          `<line x1="${x}" y1="${y0}" x2="${x}" y2="${y0 + PANEL_H}" stroke="#888" stroke-dasharray="3 3"/>`,
          `<text x="${x}" y="${y0 + 10 + stack * 10}" font-size="9" fill="#555" dx="2">${escapeXml(m.label)}</text>`,
        );
      }
    };
    const x = (px: number) => (i: number) => px + ((i + 0.5) / n) * PANEL_W;

    // Latency, log scale.
    const latY = (v: number) =>
      y0 +
      PANEL_H -
      ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * PANEL_H;
    const latTicks: { v: number; y: number }[] = [];
    for (let v = lo; v <= hi * 1.0001; v *= 10) latTicks.push({ v, y: latY(v) });
    panel(LEFT, latTicks, `${r.algorithm}: latency`);
    out.push(
      `<path d="${linePath(r.series.p50, x(LEFT), latY)}" fill="none" stroke="#333" stroke-width="2"/>`,
      `<path d="${linePath(r.series.p99, x(LEFT), latY)}" fill="none" stroke="#d62728" stroke-width="1.5" stroke-dasharray="4 2"/>`,
    );

    // Load, linear, scaled per row: algorithms differ by orders of magnitude here (read the ticks).
    let loadMax = 1;
    for (const l of r.series.load) for (const v of l) if (Number.isFinite(v)) loadMax = Math.max(loadMax, v);
    const loadStep = niceStep(loadMax, 4);
    const loadTop = Math.ceil(loadMax / loadStep) * loadStep;
    const px = LEFT + PANEL_W + GAP;
    const loadY = (v: number) => y0 + PANEL_H - (v / loadTop) * PANEL_H;
    const loadTicks: { v: number; y: number }[] = [];
    for (let v = 0; v <= loadTop + 1e-9; v += loadStep) loadTicks.push({ v, y: loadY(v) });
    panel(px, loadTicks, `${r.algorithm}: in-flight per target`);
    r.series.load.forEach((l, i) => {
      out.push(
        `<path d="${linePath(l, x(px), loadY)}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="1.3"/>`,
      );
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
