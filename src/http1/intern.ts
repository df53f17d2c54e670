/**
 * Strings for short byte runs that repeat from request to request (Host values, reason phrases),
 * made once and found again by their bytes. Making a string from a Buffer is a call into Node:
 * about 900 instructions for a short one, measured under callgrind; finding it here is a hash of
 * four bytes and one comparison of all of them.
 *
 * Direct-mapped and fixed in size (SLOTS × MAX_BYTES bytes, plus the strings): a run that misses
 * takes its slot over, so varied input costs one failed comparison and one copy more than a plain
 * toString (about twice its cost, measured), and memory stays bounded whatever the traffic. Hence
 * not for request targets: they vary with ids and queries, and a 23-byte target found again saves
 * only a fifth of a toString (the comparison is a JS byte loop).
 */
import type { Buffer } from 'node:buffer';

const SLOTS = 512;
const MAX_BYTES = 64;
const table = new Uint8Array(SLOTS * MAX_BYTES);
const lengths = new Int32Array(SLOTS).fill(-1);
const strings: string[] = new Array<string>(SLOTS).fill('');

/** `buf.toString('latin1', s, e)`, the same string for the same bytes while it stays cached. */
export function latin1(buf: Buffer, s: number, e: number): string {
  const n = e - s;
  if (n <= 0) return '';
  if (n > MAX_BYTES) return buf.toString('latin1', s, e);
  const h =
    (n * 31 + buf[s]! * 3 + buf[s + (n >> 1)]! * 7 + buf[e - 1]! * 13 + buf[e - 2 + (n === 1 ? 1 : 0)]! * 5) &
    (SLOTS - 1);
  if (lengths[h] === n) {
    const t = table;
    const base = h * MAX_BYTES;
    let k = 0;
    while (k < n && t[base + k] === buf[s + k]) k++;
    if (k === n) return strings[h]!;
  }
  const str = buf.toString('latin1', s, e);
  buf.copy(table, h * MAX_BYTES, s, e);
  lengths[h] = n;
  strings[h] = str;
  return str;
}
