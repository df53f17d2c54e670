/**
 * The `fulcrum` command as a user runs it: --version, --help, validate (exit codes and every error
 * with file:line:col), start's choice of configuration (./fulcrum.yaml, else the bundled default),
 * `start --demo` balancing the two demo upstreams, and Ctrl-C (SIGINT) exiting 0.
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { request } from 'undici';
import { BIN, CHILD_NODE_HEADER, REPO_ROOT, spawnFulcrum, writeConfig } from '../helpers/child.ts';

const DEFAULT_CONFIG = join(REPO_ROOT, 'config', 'default.yaml');

function run(args: string[], cwd = REPO_ROOT) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 15000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Whether 127.0.0.1:port can be bound right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

function curl(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '--max-time', '5', url], (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

const hasCurl = spawnSync('curl', ['--version']).status === 0;

describe('fulcrum command line', () => {
  it('--version prints the package.json version', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = run(['--version']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${pkg.version}\n`);
  });

  it('--help exits 0 and shows the usage', () => {
    const r = run(['--help']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Usage:/);
    assert.match(r.stdout, /fulcrum start/);
    assert.match(r.stdout, /fulcrum validate/);
  });

  it('validate exits 0 on a valid file', () => {
    const file = writeConfig(
      'services:\n  - name: s\n    url: http://127.0.0.1:9\n    routes:\n      - paths: ["/"]\n',
    );
    const r = run(['validate', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /valid/);
  });

  it('validate exits 1 on an invalid file and lists every error with file:line:col', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-cli-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      `_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    retries: "three"
    routes:
      - name: r
        paths: ["/"]
        bogus: 1
upstreams:
  - name: u
    algorithm: nope
`,
    );
    const r = run(['validate', file]);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.deepEqual(
      lines
        .slice(0, -1)
        .map((l) => /^(.*:\d+:\d+): (\S+):/.exec(l)?.slice(1, 3).join(' ') ?? l)
        .sort(),
      [
        `${file}:12:16 upstreams[0].algorithm`,
        `${file}:5:14 services[0].retries`,
        `${file}:9:9 services[0].routes[0].bogus`,
      ],
    );
    assert.equal(lines.at(-1), `${file}: 3 error(s)`);
  });

  it('start without -c uses ./fulcrum.yaml from the working directory; SIGINT exits 0', async () => {
    const dir = realpathSync(mkdtempSync(join(tmpdir(), 'fulcrum-cwd-')));
    writeFileSync(join(dir, 'fulcrum.yaml'), CHILD_NODE_HEADER);
    const f = await spawnFulcrum(null, { args: ['start'], cwd: dir });
    try {
      assert.equal(f.started.config, join(dir, 'fulcrum.yaml'));
      assert.ok(f.port > 0);
      const r = await request(`${f.url}/nothing-here`);
      assert.equal(r.statusCode, 404);
      await r.body.dump();
      f.signal('SIGINT');
      assert.deepEqual(await f.exited, { code: 0, signal: null });
      const stopping = await f.waitForLog((l) => l.msg === 'stopping: draining in-flight requests');
      assert.equal(stopping.signal, 'SIGINT');
    } finally {
      await f.stop();
    }
  });

  it('start --demo without ./fulcrum.yaml runs the bundled default; curl alternates one/two', async (t) => {
    const busy: number[] = [];
    for (const p of [8000, 8001, 9001, 9002]) if (!(await portFree(p))) busy.push(p);
    if (busy.length > 0) {
      t.skip(
        `ports ${busy.join(', ')} are in use on 127.0.0.1; the bundled default needs 8000, 8001, 9001, 9002`,
      );
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-nocfg-'));
    const f = await spawnFulcrum(null, { args: ['start', '--demo'], cwd: dir });
    try {
      assert.equal(f.started.config, DEFAULT_CONFIG);
      assert.equal(f.port, 8000);
      assert.equal(f.adminPort, 8001);
      const get = hasCurl
        ? () => curl('http://localhost:8000/')
        : async () => (await request('http://127.0.0.1:8000/')).body.text();
      if (!hasCurl) t.diagnostic('curl not found: using undici instead');
      const names: string[] = [];
      for (let i = 0; i < 4; i++) names.push(/demo upstream (\w+)/.exec(await get())?.[1] ?? '?');
      assert.ok(
        names.join() === 'one,two,one,two' || names.join() === 'two,one,two,one',
        `expected alternation, got ${names.join()}`,
      );
      f.signal('SIGINT');
      assert.deepEqual(await f.exited, { code: 0, signal: null });
    } finally {
      await f.stop();
    }
  });
});
