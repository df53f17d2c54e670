/** The Date field of responses (RFC 9110 §6.6.1, IMF-fixdate), formatted once per second. */
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
