/**
 * Run Fulcrum as a child process (`node bin/fulcrum.js ...`), the way an operator does, so that
 * signals, exit codes and the process's memory (/proc/PID/status) can be observed. The app log is
 * JSON lines on stderr; the "fulcrum started" line carries the bound proxy and admin addresses.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/test/helpers/). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));
export const BIN = join(REPO_ROOT, 'bin', 'fulcrum.js');

/** Node settings for a child: everything on 127.0.0.1:0, app log at info, no access log. */
export const CHILD_NODE_HEADER = `_format_version: "3.0"
listeners:
  - name: proxy
    address: 127.0.0.1
    port: 0
admin:
  address: 127.0.0.1
  port: 0
logging:
  level: info
  access_log: "off"
`;

export type LogLine = Record<string, unknown> & { msg?: string };

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildFulcrum {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** The first proxy listener's port (0 when the node has none). */
  readonly port: number;
  readonly adminPort: number;
  readonly url: string;
  /** The "fulcrum started" line. */
  readonly started: LogLine;
  /** Every JSON line seen on stderr so far (non-JSON lines are kept as `{ raw }`). */
  readonly logs: LogLine[];
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Resolves once the process has exited and its stdout/stderr are fully read. */
  readonly exited: Promise<Exit>;
  /** The first log line (already seen or still to come) that matches, or reject after timeoutMs. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /**
   * Of the child, in bytes, from /proc/PID/status: VmRSS, VmHWM (peak RSS), and RssAnon, the
   * anonymous part of RSS (heaps and buffers, what buffering grows; RSS also counts the pages of
   * the node binary that the kernel mapped, which vary with its fault-around, not with Fulcrum).
   */
  memory(): { rss: number; hwm: number; anon: number };
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM and wait for exit (SIGKILL after timeoutMs). */
  stop(timeoutMs?: number): Promise<Exit>;
}

export interface SpawnOptions {
  /** Arguments after `node bin/fulcrum.js` (default: start -c FILE). */
  args?: string[];
  cwd?: string;
  /** Give up waiting for "fulcrum started" after this long (default 10 s). */
  startTimeoutMs?: number;
  /** Wait for "fulcrum started" (default true). */
  waitStarted?: boolean;
  /** The child's environment (default: this process's). */
  env?: NodeJS.ProcessEnv;
}

/** Write YAML to a fresh temporary file (CHILD_NODE_HEADER prepended unless `header` is given). */
export function writeConfig(body: string, header = CHILD_NODE_HEADER): string {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-child-'));
  const file = join(dir, 'fulcrum.yaml');
  writeFileSync(file, header + body);
  return file;
}

function portOf(addr: unknown): number {
  if (typeof addr === 'string') return Number(addr.slice(addr.lastIndexOf(':') + 1));
  if (addr !== null && typeof addr === 'object' && 'port' in addr) return Number(addr.port);
  return 0;
}

/** Spawn `node bin/fulcrum.js start -c FILE` (or `args`) and wait for its "fulcrum started" line. */
export async function spawnFulcrum(file: string | null, opts: SpawnOptions = {}): Promise<ChildFulcrum> {
  const args = opts.args ?? ['start', '-c', file ?? 'fulcrum.yaml'];
  const proc = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.env ? { env: opts.env } : {}),
  });
  const logs: LogLine[] = [];
  const waiters = new Set<{ match: (l: LogLine) => boolean; done: (l: LogLine) => void }>();
  let out = '';
  let partial = '';
  proc.stdout!.setEncoding('utf8').on('data', (s: string) => {
    out += s;
  });
  proc.stderr!.setEncoding('utf8').on('data', (s: string) => {
    partial += s;
    let nl = partial.indexOf('\n');
    while (nl >= 0) {
      const text = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      nl = partial.indexOf('\n');
      if (text.trim() === '') continue;
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { raw: text };
      }
      logs.push(line);
      for (const w of waiters) if (w.match(line)) w.done(line);
    }
  });
  const exited = new Promise<Exit>((r) =>
    proc.once('close', (code: number | null, signal: NodeJS.Signals | null) => r({ code, signal })),
  );
  let exit: Exit | null = null;
  void exited.then((e) => {
    exit = e;
  });

  const waitForLog = (match: (l: LogLine) => boolean, timeoutMs = 10000): Promise<LogLine> => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolveLine, reject) => {
      const w = {
        match,
        done: (l: LogLine) => {
          clearTimeout(timer);
          waiters.delete(w);
          resolveLine(l);
        },
      };
      const timer = setTimeout(() => {
        waiters.delete(w);
        reject(new Error(`no matching log line within ${timeoutMs} ms; stderr so far:\n${dump()}`));
      }, timeoutMs);
      waiters.add(w);
      void exited.then((e) => {
        if (!waiters.has(w)) return;
        clearTimeout(timer);
        waiters.delete(w);
        reject(new Error(`fulcrum exited (${e.code ?? e.signal}) before the expected log line:\n${dump()}`));
      });
    });
  };
  const dump = () =>
    logs
      .slice(-20)
      .map((l) => (typeof l.raw === 'string' ? l.raw : JSON.stringify(l)))
      .join('\n');

  let started: LogLine = {};
  if (opts.waitStarted !== false) {
    try {
      started = await waitForLog((l) => l.msg === 'fulcrum started', opts.startTimeoutMs ?? 10000);
    } catch (err) {
      if (exit === null) proc.kill('SIGKILL');
      throw err;
    }
  }
  const proxy = Array.isArray(started.proxy) ? (started.proxy as unknown[]) : [];
  const port = portOf(proxy[0]);
  const adminPort = portOf(started.admin);

  const child: ChildFulcrum = {
    proc,
    pid: proc.pid!,
    port,
    adminPort,
    url: `http://127.0.0.1:${port}`,
    started,
    logs,
    stdout: () => out,
    exited,
    waitForLog,
    memory() {
      const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
      const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
      return { rss: kb('VmRSS') * 1024, hwm: kb('VmHWM') * 1024, anon: kb('RssAnon') * 1024 };
    },
    signal(sig) {
      if (exit === null) proc.kill(sig);
    },
    async stop(timeoutMs = 15000) {
      if (exit !== null) return exit;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
      const e = await exited;
      clearTimeout(timer);
      return e;
    },
  };
  return child;
}
