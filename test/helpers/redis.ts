/**
 * A real redis-server for a test (Debian's `redis-server` package; .ci/run installs it): on
 * 127.0.0.1 and a port free when it starts, without persistence, stopped (or killed, to play an
 * outage) by the test. `restart()` brings it back on the same port, empty, as a Redis that lost
 * its memory does. With `password`, it requires it (`--requirepass`).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** SIGKILL: the outage. */
  kill(): Promise<void>;
  /** SIGSTOP: a Redis that keeps its connections and answers nothing (slow); `resume` is SIGCONT. */
  pause(): void;
  resume(): void;
  /** Start again on the same port (empty). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function launch(port: number, password: string | null): Promise<ChildProcess> {
  const proc = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      ...(password === null ? [] : ['--requirepass', password]),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (c: Buffer) => {
      out += c.toString();
      if (out.includes('Ready to accept connections')) {
        proc.stdout!.off('data', onData);
        proc.stdout!.resume();
        resolve(proc);
      }
    };
    proc.stdout!.on('data', onData);
    proc.once('error', reject);
    proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${out}`)));
  });
}

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => p.once('exit', () => r()));
}

export async function startRedis(opts: { password?: string } = {}): Promise<TestRedis> {
  const port = await freePort();
  const password = opts.password ?? null;
  let proc: ChildProcess | null = await launch(port, password);
  const end = async (signal: NodeJS.Signals): Promise<void> => {
    const p = proc;
    proc = null;
    if (p === null) return;
    p.kill(signal);
    await exited(p);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: () => end('SIGKILL'),
    pause: () => proc?.kill('SIGSTOP'),
    resume: () => proc?.kill('SIGCONT'),
    async restart() {
      proc ??= await launch(port, password);
    },
    stop: () => end('SIGTERM'),
  };
}
