// What the bench reports share: reading a samples file (tab-separated, one header line) and the
// quantiles they take of its figures.
import { readFileSync } from 'node:fs';

/** The rows of a samples file, each an object by column; `text` columns stay strings, the rest are numbers. */
export function readSamples(file, text) {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const cols = lines[0].split('\t');
  return lines.slice(1).map((l) => {
    const v = l.split('\t');
    const o = {};
    cols.forEach((c, i) => {
      o[c] = text.includes(c) ? v[i] : Number(v[i]);
    });
    return o;
  });
}

/** The q-quantile of xs, linear between the nearest ranks (NaN for none). */
export function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (at - lo);
}

export const median = (xs) => quantile(xs, 0.5);
