/**
 * The JSON access log (one line per request) and the application log, both through pino.
 * The access log writes through an asynchronous sonic-boom destination: while one write is in
 * flight, further lines are appended to its buffer, so under load a line costs a serialization and
 * a copy rather than a syscall, and when idle each line is written at once. Flushed on exit.
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import { type Clock, systemClock } from '../core/clock.ts';

export interface AccessEntry {
  request_id: string;
  client_ip: string;
  method: string;
  path: string;
  status: number;
  route: string | null;
  service: string | null;
  target: string | null;
  tries: number;
  upstream_ms: number | null;
  total_ms: number;
  bytes_in: number;
  bytes_out: number;
  error: string | null;
}

export interface Logs {
  readonly app: Logger;
  access(entry: AccessEntry): void;
  flush(): void;
}

function destination(where: string, sync: boolean): DestinationStream | null {
  if (where === 'off') return null;
  if (where === 'stdout') return pino.destination({ dest: 1, sync });
  if (where === 'stderr') return pino.destination({ dest: 2, sync });
  return pino.destination({ dest: where, sync, mkdir: true });
}

/**
 * The ISO-8601 time of `clock.nowMs()`, formatted at most once per millisecond: under load many
 * lines share a millisecond, and toISOString was 3% of the proxy's CPU in the profile.
 */
function isoTimeOf(clock: Clock): () => string {
  let lastMs = -1;
  let last = '';
  return () => {
    const ms = clock.nowMs();
    if (ms !== lastMs) {
      lastMs = ms;
      last = new Date(ms).toISOString();
    }
    return last;
  };
}

export function createLogs(level: string, accessLog: string, clock: Clock = systemClock): Logs {
  const app = pino(
    { level, base: { component: 'fulcrum' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 2, sync: true }),
  );
  const dest = destination(accessLog, false);
  // Written directly rather than through a pino logger: a pino level formatter returning `{}`
  // (to drop the level field) produced `{,"time":...}`, which is not JSON.
  const isoTime = isoTimeOf(clock);
  return {
    app,
    access:
      dest === null
        ? () => {}
        : (entry) => dest.write(`{"time":"${isoTime()}",${JSON.stringify(entry).slice(1)}\n`),
    flush() {
      try {
        (dest as { flushSync?: () => void } | null)?.flushSync?.();
      } catch {
        // not ready yet (nothing written): nothing to flush
      }
    },
  };
}
