/**
 * The command line as an operator meets it (issue 16): `fulcrum start FILE` takes the file (or
 * refuses what it cannot use), a port in use names the listener without a stack, `--log-level`
 * and `--log-format`, the pretty format on a terminal, SIGUSR1 reopening the access log after
 * logrotate moved it, paths relative to the configuration file, and the warning about a service
 * host that is neither an upstream nor resolvable.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { request } from 'undici';
import { BIN, CHILD_NODE_HEADER, REPO_ROOT, spawnFulcrum, writeConfig } from '../helpers/child.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

function run(args: string[], cwd = REPO_ROOT) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 15000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The pid of a process's child, from /proc (util-linux `script` runs the node as its child). */
function childOf(pid: number): number | null {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) return Number(name);
    } catch {
      // the process went away while we looked
    }
  }
  return null;
}

/** Lines of a file once it has at least `n` (bounded wait: the access log is flushed within 1 s). */
async function linesOf(file: string, n: number): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
    if (lines.length >= n) return lines;
    await delay(50);
  }
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
}

describe('fulcrum start: operations', () => {
  let up: TestUpstream;
  const route = () => `services:
  - name: web
    url: http://${up.target}
    routes: [{ name: web, paths: ["/"] }]
`;

  before(async () => {
    up = await startUpstream('up');
  });
  after(async () => {
    await up?.close();
  });

  it('takes the file as `start FILE`', async () => {
    const file = writeConfig(route());
    const f = await spawnFulcrum(file, { args: ['start', file] });
    try {
      assert.equal(f.started.config, file);
      const r = await request(`${f.url}/`);
      assert.equal(await r.body.text(), 'up');
    } finally {
      assert.equal((await f.stop()).code, 0);
    }
  });

  it('refuses arguments it would otherwise ignore', () => {
    const a = writeConfig(route());
    const b = writeConfig(route());
    const two = run(['start', a, b]);
    assert.equal(two.code, 2);
    assert.match(two.stderr, /start takes one configuration file/);
    const both = run(['start', a, '-c', b]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /two configuration files given/);
    const level = run(['start', a, '--log-level', 'loud']);
    assert.equal(level.code, 2);
    assert.match(level.stderr, /--log-level must be one of trace, debug, info, warn, error, fatal, silent/);
  });

  it('names the listener whose port is in use, and exits 1 without a stack', async () => {
    const blocker: Server = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const file = writeConfig(
        route(),
        `_format_version: "3.0"
listeners:
  - name: public
    address: 127.0.0.1
    port: ${port}
admin:
  address: 127.0.0.1
  port: 0
`,
      );
      const r = run(['start', file]);
      assert.equal(r.code, 1);
      assert.equal(
        r.stderr.trim(),
        `fulcrum: not started: listener "public" (http on 127.0.0.1:${port}) cannot bind: the address is already in use (another process listens on it) (EADDRINUSE)`,
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      blocker.close();
    }
  });

  it('--log-level filters the application log; a service host that is no upstream is warned about', async () => {
    const file = writeConfig(
      `services:
  - name: web
    host: pol
    routes: [{ paths: ["/"] }]
upstreams:
  - name: pool
    targets: [{ target: "${up.target}" }]
`,
    );
    const f = await spawnFulcrum(file, { args: ['start', file, '--log-level', 'warn'], waitStarted: false });
    try {
      const warn = await f.waitForLog(
        (l) => typeof l.msg === 'string' && l.msg.includes('neither an upstream'),
      );
      assert.equal(warn.level, 40);
      assert.equal(warn.host, 'pol');
      assert.deepEqual(warn.services, ['web']);
      assert.equal(warn.did_you_mean, 'pool');
      assert.match(
        String(warn.msg),
        /service "web": host "pol" is neither an upstream nor resolvable \(.+\); did you mean upstream "pool"\?/,
      );
    } finally {
      await f.stop();
    }
    assert.deepEqual(
      f.logs.filter((l) => typeof l.level === 'number' && l.level < 40).map((l) => l.msg),
      [],
      'nothing under warn',
    );
  });

  it('--log-format pretty writes one human line per event', async () => {
    const file = writeConfig(route());
    const f = await spawnFulcrum(file, {
      args: ['start', file, '--log-format', 'pretty'],
      waitStarted: false,
    });
    try {
      const line = await f.waitForLog((l) => typeof l.raw === 'string' && l.raw.includes('fulcrum started'));
      assert.match(
        String(line.raw),
        /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: fulcrum started \{.*"version":/,
      );
    } finally {
      await f.stop();
    }
  });

  it('is pretty by itself when stderr is a terminal', {
    skip: spawnSync('script', ['--version']).status !== 0 && 'util-linux `script` is not installed',
  }, async () => {
    const file = writeConfig(route());
    // `script` runs the node on a pseudo-terminal (its stderr is then a TTY) and copies what it
    // writes to our pipe; `exec` makes the node script's own child, so that it can be stopped.
    const s = spawn('script', ['-qec', `exec ${process.execPath} ${BIN} start ${file}`, '/dev/null'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const started = new Promise<void>((resolve, reject) => {
      s.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('fulcrum started')) resolve();
      });
      s.once('exit', () => reject(new Error(`script exited before the node started:\n${out}`)));
    });
    const gone = new Promise((r) => s.once('close', r));
    try {
      await started;
    } finally {
      const child = childOf(s.pid!);
      if (child !== null) process.kill(child, 'SIGTERM');
      else s.kill('SIGKILL');
      await gone;
    }
    const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
    assert.match(plain, /\] INFO: fulcrum started/, plain);
    assert.doesNotMatch(plain, /"msg":"fulcrum started"/);
  });

  it('resolves the access log against the file, and reopens it on SIGUSR1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-logs-'));
    const file = join(dir, 'fulcrum.yaml');
    writeFileSync(
      file,
      CHILD_NODE_HEADER.replace('access_log: "off"', 'access_log: logs/access.log') + route(),
    );
    // Started from another directory: the relative path still lands beside the file.
    const f = await spawnFulcrum(file, { args: ['start', file], cwd: tmpdir() });
    try {
      const log = join(dir, 'logs', 'access.log');
      await (await request(`${f.url}/first`)).body.text();
      assert.equal((await linesOf(log, 1)).length, 1);
      renameSync(log, `${log}.1`);
      f.signal('SIGUSR1');
      await f.waitForLog((l) => l.msg === 'SIGUSR1: log files reopened');
      await (await request(`${f.url}/second`)).body.text();
      const now = await linesOf(log, 1);
      assert.equal(now.length, 1);
      assert.equal(JSON.parse(now[0]!).path, '/second');
      const rotated = readFileSync(`${log}.1`, 'utf8').split('\n').filter(Boolean);
      assert.deepEqual(
        rotated.map((l) => JSON.parse(l).path),
        ['/first'],
      );
    } finally {
      assert.equal((await f.stop()).code, 0);
    }
  });
});
