/**
 * A real etcd v3 for registry tests (Debian's `etcd-server`, with `etcdctl` from `etcd-client`;
 * .ci/run installs both): one member on 127.0.0.1, client and peer ports free when it starts, a
 * temporary data directory. `stop()` and `start()` play a restart on the same ports with the same
 * data (leases and revisions kept, as a real restart does); `etcdctl()` runs the command line
 * client against it, as docs/discovery.md's examples do.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis.ts';

export const hasEtcd =
  spawnSync('etcd', ['--version']).status === 0 && spawnSync('etcdctl', ['version']).status === 0;

export interface TestEtcd {
  /** `127.0.0.1:port` of the client URL. */
  readonly endpoint: string;
  /** Run etcdctl (API v3) against this etcd; resolves with stdout, rejects on a non-zero exit. */
  etcdctl(args: readonly string[]): Promise<string>;
  /** `etcdctl lease keep-alive <id>` in the background (the heartbeat); stop it with `kill()`. */
  keepAlive(lease: string): ChildProcess;
  /** SIGTERM and wait (the data directory stays). */
  stop(): Promise<void>;
  /** Start again on the same ports and data directory. */
  start(): Promise<void>;
  /** Stop and remove the data directory. */
  close(): Promise<void>;
}

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => p.once('exit', () => r()));
}

export async function startEtcd(): Promise<TestEtcd> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const endpoint = `127.0.0.1:${clientPort}`;
  let proc: ChildProcess | null = null;
  const env = { ...process.env, ETCDCTL_API: '3' };

  const etcdctl = (args: readonly string[]): Promise<string> =>
    new Promise((resolve, reject) => {
      const p = spawn('etcdctl', ['--endpoints', endpoint, ...args], { env });
      let out = '';
      let err = '';
      p.stdout.on('data', (c: Buffer) => {
        out += c.toString();
      });
      p.stderr.on('data', (c: Buffer) => {
        err += c.toString();
      });
      p.once('error', reject);
      p.once('exit', (code) =>
        code === 0 ? resolve(out) : reject(new Error(`etcdctl ${args.join(' ')}: ${code}: ${err}`)),
      );
    });

  const start = async (): Promise<void> => {
    if (proc !== null) return;
    let log = '';
    const p = spawn(
      'etcd',
      [
        '--name',
        'test',
        '--data-dir',
        dir,
        '--listen-client-urls',
        client,
        '--advertise-client-urls',
        client,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `test=${peer}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    p.stderr!.on('data', (c: Buffer) => {
      if (log.length < 64 * 1024) log += c.toString();
    });
    proc = p;
    // Ready when it answers a read (a leader is elected and the client port serves).
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`etcd exited (${p.exitCode}): ${log}`);
      const ok = await etcdctl(['get', '--command-timeout=1s', 'x']).then(
        () => true,
        () => false,
      );
      if (ok) return;
      if (Date.now() > deadline) throw new Error(`etcd did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const stop = async (): Promise<void> => {
    const p = proc;
    proc = null;
    if (p === null) return;
    p.kill('SIGTERM');
    await exited(p);
  };

  await start();
  return {
    endpoint,
    etcdctl,
    keepAlive: (lease) =>
      spawn('etcdctl', ['--endpoints', endpoint, 'lease', 'keep-alive', lease], { env, stdio: 'ignore' }),
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
