/**
 * A real DNS server for discovery tests: dnsmasq (Debian's `dnsmasq`, installed by .ci/run) on
 * 127.0.0.1 and a free port, authoritative for `.test`, answering from a hosts file (A/AAAA records,
 * re-read on SIGHUP) and from `--srv-host`/`--host-record` lines (a restart applies new ones).
 * Every record has a TTL of `ttlS` seconds.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Debian puts it in /usr/sbin, which a non-root PATH may lack. */
const DNSMASQ = existsSync('/usr/sbin/dnsmasq') ? '/usr/sbin/dnsmasq' : 'dnsmasq';
export const hasDnsmasq = spawnSync(DNSMASQ, ['--version']).status === 0;

export interface Dnsmasq {
  readonly port: number;
  readonly address: string;
  /** Replace the hosts file (`ip name` lines) and make dnsmasq re-read it. */
  setHosts(lines: string): void;
  /** Replace the config lines (`srv-host=...`, `host-record=...`) and restart on the same port. */
  setConfig(lines: string): Promise<void>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** A port free for both TCP and UDP on 127.0.0.1 right now. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function startDnsmasq(
  opts: { hosts?: string; config?: string; ttlS?: number } = {},
): Promise<Dnsmasq> {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-dnsmasq-'));
  const hosts = join(dir, 'hosts');
  const conf = join(dir, 'dnsmasq.conf');
  writeFileSync(hosts, opts.hosts ?? '');
  writeFileSync(conf, opts.config ?? '');
  const port = await freePort();
  let child: ChildProcess | null = null;
  const args = [
    '--keep-in-foreground',
    `--port=${port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    '--no-poll',
    `--addn-hosts=${hosts}`,
    '--local=/test/',
    `--local-ttl=${opts.ttlS ?? 1}`,
    `--conf-file=${conf}`,
    '--pid-file=',
    ...(process.getuid?.() === 0 ? ['--user=root'] : []),
    '--log-facility=-',
  ];
  const start = async (): Promise<void> => {
    const c = spawn(DNSMASQ, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let err = '';
    c.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    // Ready once it answers on TCP (it binds UDP and TCP together).
    const { connect } = await import('node:net');
    for (let i = 0; i < 200; i++) {
      if (c.exitCode !== null) throw new Error(`dnsmasq exited: ${err}`);
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.on('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`dnsmasq did not start: ${err}`);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (c === null || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    });
  };
  await start();
  return {
    port,
    address: `127.0.0.1:${port}`,
    setHosts(lines: string) {
      writeFileSync(hosts, lines);
      (child as ChildProcess | null)?.kill('SIGHUP');
    },
    async setConfig(lines: string) {
      writeFileSync(conf, lines);
      await stop();
      await start();
    },
    stop,
    start,
  };
}
