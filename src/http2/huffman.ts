/**
 * The Huffman code of HPACK (RFC 7541 §5.2 and Appendix B): decoding of Huffman-coded string
 * literals (every browser and h2load send them) and encoding (used by the tests; the encoder of
 * hpack.ts writes plain literals and relies on indexing instead).
 *
 * Hand-written because it is on the hot path of the codec of src/http2/ and no well-kept pure-JS
 * library does it on Buffers. The code is canonical (codes are assigned in order of length, then
 * of symbol), so the table below holds only the code lengths of Appendix B; the codes are derived
 * from them at load (test/unit/hpack.test.ts checks a few against Appendix B and the whole code's
 * Kraft sum).
 */
import type { Buffer } from 'node:buffer';

/** Code length in bits of each symbol 0..255 and EOS (256), RFC 7541 Appendix B. */
// biome-ignore format: a table
const LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;
const MAX_BITS = 30;

/** Each symbol's code (right-aligned), from the lengths. */
export const CODES = new Uint32Array(257);
/** Per length: the first code of that length, how many codes have it, where its symbols start in SORTED. */
const FIRST = new Int32Array(MAX_BITS + 1);
const COUNT = new Int32Array(MAX_BITS + 1);
const OFFSET = new Int32Array(MAX_BITS + 1);
/** Symbols in code order. */
const SORTED = new Uint16Array(257);
/** For every 8-bit prefix: symbol << 4 | length, when a code of 8 bits or fewer starts it; else 0. */
const PEEK8 = new Uint16Array(256);

{
  const order = Array.from({ length: 257 }, (_, i) => i).sort((a, b) => LENGTHS[a]! - LENGTHS[b]! || a - b);
  let code = 0;
  let len = LENGTHS[order[0]!]!;
  for (let k = 0; k < order.length; k++) {
    const sym = order[k]!;
    const l = LENGTHS[sym]!;
    if (l > len) {
      code <<= l - len;
      len = l;
    }
    if (COUNT[l] === 0) {
      FIRST[l] = code;
      OFFSET[l] = k;
    }
    COUNT[l]!++;
    SORTED[k] = sym;
    CODES[sym] = code;
    code++;
  }
  for (let sym = 0; sym < 256; sym++) {
    const l = LENGTHS[sym]!;
    if (l > 8) continue;
    const base = CODES[sym]! << (8 - l);
    for (let j = 0; j < 1 << (8 - l); j++) PEEK8[base + j] = (sym << 4) | l;
  }
}

export function codeLength(sym: number): number {
  return LENGTHS[sym]!;
}

/**
 * Decode `buf[start, end)` into a latin1 string, or null when it is not a valid encoding: EOS
 * inside, padding longer than 7 bits, or padding that is not the most significant bits of EOS
 * (RFC 7541 §5.2). `scratch` receives the bytes (it must be long enough: 8/5 × the input).
 */
export function huffmanDecode(buf: Buffer, start: number, end: number, scratch: Buffer): string | null {
  let bits = 0;
  let n = 0;
  let i = start;
  let o = 0;
  for (;;) {
    while (n <= 16 && i < end) {
      bits = (bits << 8) | buf[i++]!;
      n += 8;
    }
    if (n === 0) break;
    if (n >= 8) {
      const e = PEEK8[(bits >>> (n - 8)) & 0xff]!;
      if (e !== 0) {
        scratch[o++] = e >> 4;
        n -= e & 15;
        bits &= (1 << n) - 1;
        continue;
      }
      // A code longer than 8 bits: walk the canonical code a bit at a time.
      let code = (bits >>> (n - 8)) & 0xff;
      let len = 8;
      n -= 8;
      for (;;) {
        if (n === 0) {
          if (i >= end) return null;
          bits = (bits << 8) | buf[i++]!;
          n = 8;
        }
        n--;
        code = (code << 1) | ((bits >>> n) & 1);
        len++;
        const d = code - FIRST[len]!;
        if (COUNT[len]! > 0 && d >= 0 && d < COUNT[len]!) {
          const sym = SORTED[OFFSET[len]! + d]!;
          if (sym === EOS) return null;
          scratch[o++] = sym;
          break;
        }
        if (len >= MAX_BITS) return null;
      }
      bits &= (1 << n) - 1;
      continue;
    }
    // Fewer than 8 bits left and no more input: a short code, or the padding.
    const pad = (1 << n) - 1;
    const e = PEEK8[((bits << (8 - n)) | ((1 << (8 - n)) - 1)) & 0xff]!;
    if (e !== 0 && (e & 15) <= n) {
      scratch[o++] = e >> 4;
      n -= e & 15;
      bits &= (1 << n) - 1;
      continue;
    }
    if ((bits & pad) !== pad) return null;
    break;
  }
  return scratch.toString('latin1', 0, o);
}

/** The Huffman encoding of a latin1 string's bytes. */
export function huffmanEncode(s: string, out: number[]): void {
  let bits = 0;
  let n = 0;
  for (let k = 0; k < s.length; k++) {
    const sym = s.charCodeAt(k) & 0xff;
    const l = LENGTHS[sym]!;
    const c = CODES[sym]!;
    // Feed at most 8 bits at a time so that the accumulator stays within 32 bits.
    let left = l;
    while (left > 0) {
      const take = Math.min(left, 8);
      left -= take;
      bits = (bits << take) | ((c >>> left) & ((1 << take) - 1));
      n += take;
      while (n >= 8) {
        n -= 8;
        out.push((bits >>> n) & 0xff);
      }
      bits &= (1 << n) - 1;
    }
  }
  if (n > 0) out.push(((bits << (8 - n)) | ((1 << (8 - n)) - 1)) & 0xff);
}

/** The length in bytes of a string's Huffman encoding. */
export function huffmanLength(s: string): number {
  let b = 0;
  for (let k = 0; k < s.length; k++) b += LENGTHS[s.charCodeAt(k) & 0xff]!;
  return (b + 7) >> 3;
}
