/** The Date field of responses (RFC 9110 §6.6.1, IMF-fixdate), formatted once per second. */
import { Buffer } from 'node:buffer';

let lastSecond = -1;
let last = '';

export function httpDate(nowMs: number): string {
  const s = Math.floor(nowMs / 1000);
  if (s !== lastSecond) {
    lastSecond = s;
    last = new Date(s * 1000).toUTCString();
  }
  return last;
}

let lineSecond = -1;
let line: Buffer = Buffer.alloc(0);

/** `date: <IMF-fixdate>\r\n`, as bytes, made once per second. */
export function httpDateLine(nowMs: number): Buffer {
  const s = Math.floor(nowMs / 1000);
  if (s !== lineSecond) {
    lineSecond = s;
    line = Buffer.from(`date: ${httpDate(nowMs)}\r\n`, 'latin1');
  }
  return line;
}
