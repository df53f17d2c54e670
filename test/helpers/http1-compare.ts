/**
 * Fulcrum's reading of some bytes against llhttp's (http1-readers.ts, llhttp-oracle.ts), by the
 * rules of the differential test: whatever llhttp refuses Fulcrum refuses; whatever both accept
 * they read the same (method, target, version, every header name and value, body and trailers);
 * and the framing alike, which shows as the same body and the same next message (request cases are
 * followed by a sentinel request). Fulcrum refusing what llhttp accepts is not a mismatch but its
 * own verdict, 'fulcrum-stricter', which the test requires to be expected and explained.
 */
import type { Reading, ReadMessage } from './http1-readers.ts';

export type Verdict = 'same' | 'fulcrum-stricter' | 'mismatch';

export interface Comparison {
  verdict: Verdict;
  /** What differed, or where Fulcrum stopped ('' when the same). */
  detail: string;
}

function headDiff(f: ReadMessage, n: ReadMessage): string {
  const fields = ['method', 'target', 'status', 'reason', 'version'] as const;
  for (const k of fields)
    if (f[k] !== n[k]) return `${k}: ${JSON.stringify(f[k])} vs ${JSON.stringify(n[k])}`;
  if (f.headers.length !== n.headers.length || f.headers.some((h, i) => h !== n.headers[i]))
    return `headers: ${JSON.stringify(f.headers)} vs ${JSON.stringify(n.headers)}`;
  return '';
}

function bodyDiff(f: ReadMessage, n: ReadMessage): string {
  if (f.body !== n.body) return `body: ${JSON.stringify(f.body)} vs ${JSON.stringify(n.body)}`;
  if (f.trailers.length !== n.trailers.length || f.trailers.some((h, i) => h !== n.trailers[i]))
    return `trailers: ${JSON.stringify(f.trailers)} vs ${JSON.stringify(n.trailers)}`;
  return '';
}

const same: Comparison = { verdict: 'same', detail: '' };
const mismatch = (detail: string): Comparison => ({ verdict: 'mismatch', detail });
const stricter = (detail: string): Comparison => ({ verdict: 'fulcrum-stricter', detail });

/** Fulcrum's reading `f` against llhttp's `n` of the same bytes. */
export function compareReadings(f: Reading, n: Reading): Comparison {
  const fm = f.messages;
  let nm = n.messages;
  let nRefused = n.refused;
  // Fulcrum stops reading after a message that ends its connection; what llhttp makes of the
  // bytes after it (usually HPE_CLOSED_CONNECTION) is not compared.
  if (f.closed && nm.length >= fm.length && fm.length > 0) {
    nm = nm.slice(0, fm.length);
    if (nm[nm.length - 1]!.complete) nRefused = null;
  }
  const k = Math.min(fm.length, nm.length);
  for (let i = 0; i < k; i++) {
    const a = fm[i]!;
    const b = nm[i]!;
    const d = headDiff(a, b);
    if (d !== '') return mismatch(`message ${i}: ${d}`);
    if (a.complete && b.complete) {
      const bd = bodyDiff(a, b);
      if (bd !== '') return mismatch(`message ${i}: ${bd}`);
    } else if (a.complete) {
      return mismatch(
        nRefused !== null && i === nm.length - 1
          ? `message ${i}: llhttp refused its body (${nRefused}), Fulcrum read it`
          : `message ${i}: Fulcrum read its body whole, llhttp did not (framing)`,
      );
    } else if (b.complete) {
      if (f.refused !== null && i === fm.length - 1) return stricter(`message ${i}: body (${f.refused})`);
      return mismatch(`message ${i}: llhttp read its body whole, Fulcrum did not (framing)`);
    }
  }
  if (fm.length > nm.length)
    return mismatch(
      `message ${nm.length}: Fulcrum read its head, llhttp ${nRefused !== null ? `refused it (${nRefused})` : 'did not'}`,
    );
  if (nm.length > fm.length) {
    if (f.refused !== null) return stricter(`message ${fm.length}: ${f.refused}`);
    return mismatch(`message ${fm.length}: llhttp read its head, Fulcrum did not`);
  }
  if (f.refused !== null && nRefused === null) return stricter(`after message ${fm.length}: ${f.refused}`);
  // Both refused, or neither: llhttp refusing bytes that Fulcrum still waits on (a line without
  // its end) is agreement, since neither accepted them.
  return same;
}

/** Whether two of Fulcrum's readings are the same (a reading must not depend on the splits). */
export function sameReading(a: Reading, b: Reading): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
