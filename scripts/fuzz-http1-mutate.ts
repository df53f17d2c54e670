/**
 * Mutations of HTTP/1.1 messages for the parser fuzzer (fuzz-http1.ts): byte flips, the bytes
 * that delimit HTTP (CR, LF, NUL, SP, HTAB, comma, colon, semicolon) put in or swapped in, lines
 * duplicated, swapped or dropped, numbers replaced by edge values, truncations, and splices of
 * two messages. Each input is a pure function of (seed, index), so that any input can be made again
 * from the figures a run prints.
 */
import { type Rng, seededRng } from '../src/core/random.ts';

/** One generator per input: splitmix32 of the run's seed and the input's index. */
export function inputRng(seed: number, index: number): Rng {
  let z = (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return seededRng((z ^ (z >>> 16)) >>> 0);
}

function int(rng: Rng, n: number): number {
  return Math.floor(rng.next() * n);
}

function pick<T>(rng: Rng, list: readonly T[]): T {
  return list[int(rng, list.length)]!;
}

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Single bytes that mean something to an HTTP/1.1 reader. */
const BYTES = [
  0x0d, 0x0a, 0x00, 0x20, 0x09, 0x2c, 0x3a, 0x3b, 0x3d, 0x22, 0x7f, 0xff, 0x80, 0x0b, 0x0c, 0x30,
];
/** Short runs worth putting anywhere. */
const RUNS = [
  '\r\n',
  '\n',
  '\r',
  '\r\n\r\n',
  ' \r\n',
  '\r\n ',
  '\r\n\t',
  ', ',
  ': ',
  ';',
  '0\r\n\r\n',
  'chunked',
  ', chunked',
  'Transfer-Encoding: chunked\r\n',
  'Content-Length: 5\r\n',
  'Content-Length: 0\r\n',
  'Host: x\r\n',
  'Connection: close\r\n',
  'Connection: upgrade\r\nUpgrade: websocket\r\n',
  'Expect: 100-continue\r\n',
  'HTTP/1.1 100 Continue\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
  '5\r\nhello\r\n',
  ';ext=1',
  'X: y\r\n',
];
/** Numbers at the edges of what a size or a status may be. */
const NUMBERS = [
  '0',
  '00',
  '1',
  '5',
  '99',
  '100',
  '101',
  '199',
  '204',
  '304',
  '999',
  '1000',
  '-1',
  '+1',
  'f',
  'FFFFFFFF',
  'ffffffffffffffff',
  '10000000000000000',
  '1fffffffffffff',
  '20000000000000',
  '9007199254740991',
  '9007199254740993',
  '999999999999999',
  '18446744073709551616',
  ' 5',
  '5 ',
  '0x5',
];

/** Line starts (offsets after each LF, and 0) of `b`. */
function lineStarts(b: Buffer): number[] {
  const out = [0];
  for (let i = b.indexOf(0x0a); i >= 0 && i + 1 < b.length; i = b.indexOf(0x0a, i + 1)) out.push(i + 1);
  return out;
}

/** The line at a random start: [start, end) with its LF. */
function someLine(rng: Rng, b: Buffer): [number, number] {
  const starts = lineStarts(b);
  const k = int(rng, starts.length);
  const s = starts[k]!;
  const e = k + 1 < starts.length ? starts[k + 1]! : b.length;
  return [s, e];
}

type Mutation = (rng: Rng, b: Buffer, other: Buffer) => Buffer;

const MUTATIONS: readonly Mutation[] = [
  // A bit flipped.
  (rng, b) => {
    if (b.length === 0) return b;
    const c = Buffer.from(b);
    c[int(rng, c.length)]! ^= 1 << int(rng, 8);
    return c;
  },
  // A byte replaced by one that delimits.
  (rng, b) => {
    if (b.length === 0) return b;
    const c = Buffer.from(b);
    c[int(rng, c.length)] = pick(rng, BYTES);
    return c;
  },
  // A delimiting byte inserted.
  (rng, b) => {
    const at = int(rng, b.length + 1);
    return Buffer.concat([b.subarray(0, at), Buffer.of(pick(rng, BYTES)), b.subarray(at)]);
  },
  // A run inserted.
  (rng, b) => {
    const at = int(rng, b.length + 1);
    return Buffer.concat([b.subarray(0, at), latin1(pick(rng, RUNS)), b.subarray(at)]);
  },
  // A few bytes removed.
  (rng, b) => {
    const at = int(rng, b.length + 1);
    return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + int(rng, 8)))]);
  },
  // A line duplicated in place or elsewhere.
  (rng, b) => {
    const [s, e] = someLine(rng, b);
    const at = rng.next() < 0.5 ? e : int(rng, b.length + 1);
    return Buffer.concat([b.subarray(0, at), b.subarray(s, e), b.subarray(at)]);
  },
  // A line dropped.
  (rng, b) => {
    const [s, e] = someLine(rng, b);
    return Buffer.concat([b.subarray(0, s), b.subarray(e)]);
  },
  // Two lines swapped.
  (rng, b) => {
    let [s1, e1] = someLine(rng, b);
    let [s2, e2] = someLine(rng, b);
    if (s1 === s2) return b;
    if (s2 < s1) [s1, e1, s2, e2] = [s2, e2, s1, e1];
    return Buffer.concat([
      b.subarray(0, s1),
      b.subarray(s2, e2),
      b.subarray(e1, s2),
      b.subarray(s1, e1),
      b.subarray(e2),
    ]);
  },
  // A run of digits (or hex digits) replaced by an edge value.
  (rng, b) => {
    const s = b.toString('latin1');
    const runs = [...s.matchAll(/[0-9a-fA-F]+/g)];
    if (runs.length === 0) return b;
    const m = pick(rng, runs);
    const at = m.index ?? 0;
    return latin1(s.slice(0, at) + pick(rng, NUMBERS) + s.slice(at + m[0].length));
  },
  // A letter's case flipped.
  (rng, b) => {
    if (b.length === 0) return b;
    const c = Buffer.from(b);
    const i = int(rng, c.length);
    if (/[A-Za-z]/.test(String.fromCharCode(c[i]!))) c[i]! ^= 0x20;
    return c;
  },
  // Cut short.
  (rng, b) => b.subarray(0, int(rng, b.length + 1)),
  // A splice: this message's start, another's end.
  (rng, b, other) =>
    Buffer.concat([b.subarray(0, int(rng, b.length + 1)), other.subarray(int(rng, other.length + 1))]),
  // A range repeated (lines, values and chunk extensions grown towards the limits).
  (rng, b) => {
    const at = int(rng, b.length + 1);
    const piece = b.subarray(at, at + 1 + int(rng, 16));
    const times = 1 + int(rng, rng.next() < 0.1 ? 2000 : 8);
    return Buffer.concat([b.subarray(0, at), ...Array.from({ length: times }, () => piece), b.subarray(at)]);
  },
];

/** `base` with 1 to 8 mutations (fewer more often), `other` the material for a splice. */
export function mutate(rng: Rng, base: Buffer, other: Buffer): Buffer {
  let b = base;
  let n = 1;
  while (n < 8 && rng.next() < 0.45) n++;
  for (let i = 0; i < n; i++) b = pick(rng, MUTATIONS)(rng, b, other);
  return b;
}

/** Cut points for a split: 1 to 6 random ones, or every byte (short inputs, sometimes). */
export function cutPoints(rng: Rng, length: number): number[] {
  if (length <= 512 && rng.next() < 0.1) return Array.from({ length }, (_, i) => i);
  const cuts = Array.from({ length: 1 + int(rng, 6) }, () => int(rng, length + 1));
  return cuts.sort((a, b) => a - b);
}

export { int, pick };
