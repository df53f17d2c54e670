/**
 * What every prober shares: the outcome type the health counters classify, the control a prober
 * ends its probe through, the read limit, and the decoded send/expect payloads.
 */
import { Buffer } from 'node:buffer';
import { decodeEscapes } from '../core/escapes.ts';

/**
 * A status code, or: `connected` (a tcp/udp/grpc probe succeeded), `tcp` (the connection failed or
 * broke), `timeout` (no answer within the check's timeout), `mismatch` (an answer, but not the
 * expected one).
 */
export type Outcome = number | 'connected' | 'tcp' | 'timeout' | 'mismatch';

/** The most of a response body (or reply) a probe reads to match it. */
export const PROBE_READ_LIMIT_BYTES = 64 * 1024;

export interface ProbeTarget {
  readonly host: string;
  readonly port: number;
}

/** What a prober gets: how to end the probe (the first call wins) and where to put its cleanup. */
export interface ProbeControl {
  finish(o: Outcome): void;
  onCleanup(fn: () => void): void;
}

/** Decoded payloads, by their escaped text (the config checked that they decode). */
const decoded = new Map<string, Buffer>();
export function payloadBytes(text: string): Buffer {
  let b = decoded.get(text);
  if (b === undefined) {
    const d = decodeEscapes(text);
    b = typeof d === 'string' ? Buffer.from(text, 'utf8') : d;
    if (decoded.size > 256) decoded.clear();
    decoded.set(text, b);
  }
  return b;
}
