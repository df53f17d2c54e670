/**
 * Request ids (X-Request-Id when the client sent none): UUID-shaped, the first 80 bits random per
 * process and the last 48 a counter, which is Kong's correlation-id `uuid#counter` generator in
 * the form of a UUID. Unique across processes and restarts (the random part), and cheap: a UUID
 * from crypto per request cost about as much as routing the request.
 */
import { randomBytes } from 'node:crypto';

/** 3-digit hex strings: the counter is written from two of them per half (no radix conversion). */
const HEX3 = Array.from({ length: 4096 }, (_, i) => i.toString(16).padStart(3, '0'));
const HALF = 0x1000000;
let prefix = '';
/** `prefix` and the counter's high 24 bits (from a random start). */
let head = '';
let high = HALF;
let low = HALF;

function renew(): void {
  const b = randomBytes(13);
  b[6] = (b[6]! & 0x0f) | 0x40; // version 4
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 9562 variant
  const h = b.toString('hex');
  prefix = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-`;
  high = b.readUIntBE(10, 3) >>> 1;
}

export function nextRequestId(): string {
  if (low >= HALF) {
    if (high >= HALF - 1) renew();
    else high++;
    head = prefix + HEX3[high >>> 12]! + HEX3[high & 0xfff]!;
    low = 0;
  }
  const l = low++;
  return head + HEX3[l >>> 12]! + HEX3[l & 0xfff]!;
}
