/**
 * The JSON access log (one line per request) and the application log (pino, to stderr).
 * The access log is serialized by hand in a fixed field order and written through a LineFile:
 * buffered up to 64 KiB or one second (nginx's `buffer=64k flush=1s`), immediately to a terminal.
 * Measured on this machine class: 2-3 µs a line, against 9.5-16 µs through sonic-boom.
 * The application log is JSON lines, or one human line per event (pino-pretty, the prettifier
 * made for pino) when stderr is a terminal or `logging.format: pretty` says so. pino-pretty and
 * what it pulls in (about 40 modules) are loaded only then: a service writing JSON never needs them.
 */
import { createRequire } from 'node:module';
import { isatty } from 'node:tty';
import { type Logger, pino } from 'pino';
import type pinoPretty from 'pino-pretty';
import { type Clock, systemClock } from '../core/clock.ts';
import { LINE_FILE_BUFFER_CHARS, LineFile } from './line-file.ts';

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
  /**
   * The request's Host (HTTP/2: `:authority`) and User-Agent as the client sent them, the
   * authenticated consumer (username, else custom_id, else id; PluginRun.consumerName()), and why a
   * plugin answered the request itself (PluginRun.rejection: `key-auth: invalid-credentials`).
   * Optional so that a writer that does not know them yet logs null.
   */
  host?: string | null;
  user_agent?: string | null;
  consumer?: string | null;
  reason?: string | null;
}

export interface Logs {
  readonly app: Logger;
  access(entry: AccessEntry): void;
  /** Whether access() writes anywhere (`access_log` is not `off`): callers skip making entries. */
  readonly accessOn: boolean;
  /** SIGUSR1 (logrotate): reopen the access-log file at its path; nothing for stdout/stderr. */
  reopen(): void;
  flush(): void;
}

/** `logging.format`: `auto` is pretty on a terminal, JSON otherwise. */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** Where access-log lines go; null when off. A terminal gets each line at once. */
function destination(where: string): LineFile | null {
  if (where === 'off') return null;
  const fd = where === 'stdout' ? 1 : where === 'stderr' ? 2 : null;
  if (fd === null) return new LineFile(where);
  return new LineFile(fd, isatty(fd) ? 0 : LINE_FILE_BUFFER_CHARS);
}

/**
 * A string as a JSON string: quoted as it is when nothing in it needs escaping (the common case,
 * a third of JSON.stringify's cost for a short string), else by JSON.stringify. (A regular
 * expression test measured slower than this loop for the strings a line holds.)
 */
function q(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // Controls, `"` and `\` are escaped; lone surrogates too (JSON.stringify writes \udxxx).
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return '"' + s + '"';
}

/** `.001` ... `.999` without trailing zeros, '' for 0: the fraction of a millisecond figure. */
const FRACTIONS = Array.from({ length: 1000 }, (_, i) =>
  i === 0 ? '' : `.${String(i).padStart(3, '0').replace(/0+$/, '')}`,
);

/**
 * A duration in milliseconds, to the microsecond, as JSON.stringify writes it: from two integers,
 * because V8 formats a fractional double through printf (about 1,500 instructions each, two per
 * line). null stays null.
 */
export function millis(ms: number | null): string {
  if (ms === null) return 'null';
  const us = Math.round(ms * 1000);
  if (!(us >= 0 && us <= Number.MAX_SAFE_INTEGER)) return JSON.stringify(ms);
  const whole = Math.floor(us / 1000);
  return `${whole}${FRACTIONS[us - whole * 1000]}`;
}

/** A string field: null when absent, else JSON-escaped. */
const opt = (s: string | null | undefined): string => (s == null ? 'null' : q(s));

/** One JSON line, fields in a fixed order; strings that can carry client bytes are escaped. */
export function accessLine(time: string, e: AccessEntry): string {
  return `{"time":"${time}","request_id":${q(e.request_id)},"client_ip":"${e.client_ip}","method":${q(e.method)},"path":${q(e.path)},"status":${e.status},"route":${opt(e.route)},"service":${opt(e.service)},"target":${opt(e.target)},"tries":${e.tries},"upstream_ms":${millis(e.upstream_ms)},"total_ms":${millis(e.total_ms)},"bytes_in":${e.bytes_in},"bytes_out":${e.bytes_out},"error":${opt(e.error)},"host":${opt(e.host)},"user_agent":${opt(e.user_agent)},"consumer":${opt(e.consumer)},"reason":${opt(e.reason)}}\n`;
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

/** pino's options for the application log (tests give them a stream of their own). */
export function appLogOptions(level: string) {
  return { level, base: { component: 'fulcrum' }, timestamp: pino.stdTimeFunctions.isoTime };
}

/** The application logger on stderr, JSON or pretty. */
export function createAppLog(level: string, format: LogFormat = 'json'): Logger {
  const opts = appLogOptions(level);
  const human = format === 'pretty' || (format === 'auto' && isatty(2));
  if (!human) return pino(opts, pino.destination({ dest: 2, sync: true }));
  // A CommonJS package, loaded synchronously (the logger is made before anything is served).
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof pinoPretty;
  return pino(
    opts,
    pretty({
      destination: 2,
      sync: true,
      colorize: isatty(2),
      singleLine: true,
      translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
      ignore: 'pid,hostname,component',
    }),
  );
}

export function createLogs(
  level: string,
  accessLog: string,
  clock: Clock = systemClock,
  format: LogFormat = 'json',
): Logs {
  const app = createAppLog(level, format);
  let dest = destination(accessLog);
  const isoTime = isoTimeOf(clock);
  return {
    app,
    access: (entry) => dest?.write(accessLine(isoTime(), entry)),
    accessOn: dest !== null,
    reopen() {
      if (dest === null || !dest.reopenable) return;
      dest.close();
      dest = destination(accessLog);
    },
    flush() {
      dest?.close();
    },
  };
}
