/**
 * The body a plugin buffered in the access phase (plugins/request-body.ts), turned into the
 * BodyMeter the tries read. A whole body (possibly replaced by a plugin) is written in one piece
 * with its Content-Length set and kept for retries; a body over the plugins' limit is its prefix
 * followed by the rest of the client stream, counted and limited as any streamed body.
 */
import type { IncomingMessage } from 'node:http';
import type { BufferedBody } from '../plugins/request-body.ts';
import { BodyMeter } from './body.ts';

export function bufferedBodyStream(
  req: IncomingMessage,
  b: BufferedBody,
  limit: number,
  keepLimit: number,
): BodyMeter {
  if (b.state === 'complete') {
    const whole = b.body();
    // The target gets a fixed-length body, whatever framing the client used.
    req.headers['content-length'] = String(whole.length);
    delete req.headers['transfer-encoding'];
    const meter = new BodyMeter(limit, Math.max(keepLimit, whole.length));
    meter.end(whole);
    return meter;
  }
  const meter = new BodyMeter(limit, keepLimit);
  for (const c of b.chunks) meter.write(c);
  req.pipe(meter);
  return meter;
}
