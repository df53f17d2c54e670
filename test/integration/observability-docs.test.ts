/**
 * Every example of docs/observability.md, run: the `file` block is written (its ports and targets
 * moved to what this test bound), the `start` block is run as a child process with its exported
 * environment, each `run` block is run with bash against that node and its output compared with
 * the page (`…` stands for any text within a line), and the `output` blocks are produced by the
 * code that writes those lines (the target failure log on virtual time, the service host check).
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Logger, pino } from 'pino';
import { loadSnapshotText } from '../../src/config/validate.ts';
import { ManualClock, systemClock } from '../../src/core/clock.ts';
import { appLogOptions } from '../../src/observability/access-log.ts';
import { TargetFailureLog } from '../../src/observability/target-log.ts';
import { checkServiceHosts } from '../../src/runtime/host-check.ts';
import { BIN, type ChildFulcrum, REPO_ROOT, spawnFulcrum } from '../helpers/child.ts';
import { closedPort } from '../helpers/l4.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

interface Block {
  readonly kind: 'file' | 'start' | 'run' | 'output';
  readonly arg: string;
  readonly body: string;
}

const DOC = readFileSync(join(REPO_ROOT, 'docs', 'observability.md'), 'utf8');
const BLOCKS: Block[] = [
  ...DOC.matchAll(/<!-- (file|start|run|output)(?:: ([^ ]+))? -->\n```\w+\n([\s\S]*?)\n```/g),
].map((m) => ({ kind: m[1] as Block['kind'], arg: m[2] ?? '', body: m[3]! }));
const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

/** A line of the page matched against a line of output: `…` is any text. */
function lineMatches(want: string, got: string): boolean {
  const re = want
    .split('…')
    .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${re}$`).test(got);
}

function assertOutput(want: string[], got: string[], what: string): void {
  const ok = want.length === got.length && want.every((w, i) => lineMatches(w, got[i]!));
  assert.ok(ok, `${what}: the page says\n${want.join('\n')}\nbut the output is\n${got.join('\n')}`);
}

/** Memory logger with the application log's options. */
function memoryLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log: Logger = pino(appLogOptions('info'), { write: (s: string) => lines.push(s.trimEnd()) });
  return { log, lines };
}

describe('docs/observability.md, run', () => {
  let one: TestUpstream;
  let two: TestUpstream;
  let proxyPort: number;
  let adminPort: number;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let node: ChildFulcrum;
  /** The page's addresses, moved to this test's. */
  let moved: (s: string) => string;

  before(async () => {
    assert.deepEqual(
      BLOCKS.map((b) => b.kind + (b.arg ? `:${b.arg}` : '')),
      [
        'file:fulcrum.yaml',
        'start',
        'run',
        'run',
        'run',
        'output:target-log',
        'output:host-check',
        'run',
        'run',
        'run',
      ],
      'the blocks this test knows how to run',
    );
    one = await startUpstream('one');
    two = await startUpstream('two');
    proxyPort = await closedPort();
    adminPort = await closedPort();
    moved = (s) =>
      s
        .replaceAll('localhost:8000', `127.0.0.1:${proxyPort}`)
        .replaceAll('localhost:8001', `127.0.0.1:${adminPort}`)
        .replaceAll('127.0.0.1:8000', `127.0.0.1:${proxyPort}`)
        .replaceAll('127.0.0.1:9001', one.target)
        .replaceAll('127.0.0.1:9002', two.target);
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-docs-'));
    const file = BLOCKS[0]!;
    writeFileSync(
      join(dir, file.arg),
      moved(file.body)
        .replace('port: 8000', `port: ${proxyPort}`)
        .replace('port: 8001', `port: ${adminPort}`),
    );
    const start = BLOCKS[1]!.body.split('\n');
    env = { ...process.env };
    for (const line of start)
      if (line.startsWith('$ export '))
        for (const kv of line.slice(9).split(' '))
          env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
    assert.equal(start.at(-1), '$ fulcrum start fulcrum.yaml');
    node = await spawnFulcrum(null, { args: ['start', 'fulcrum.yaml'], cwd: dir, env });
    env.FULCRUM_PID = String(node.pid);
  });

  after(async () => {
    await node?.stop();
    await one?.close();
    await two?.close();
  });

  /**
   * Run one `run` block: its commands in one bash, its output compared with the page. Not
   * spawnSync: the upstreams live in this process and must go on answering meanwhile.
   */
  async function runBlock(b: Block, what: string): Promise<void> {
    const lines = b.body.split('\n');
    const commands = lines
      .filter((l) => l.startsWith('$ '))
      .map((l) =>
        moved(l.slice(2)).replace(/\bfulcrum (start|validate)\b/g, `"${process.execPath}" "${BIN}" $1`),
      );
    const want = lines.filter((l) => !l.startsWith('$ ')).map(moved);
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(
        'bash',
        ['-c', `exec 2>&1\n${commands.join('\n')}`],
        { cwd: dir, env, timeout: 30000 },
        (err, out) => (err?.killed ? reject(err) : resolve(out)),
      );
    });
    const got = stdout.split('\n');
    if (got.at(-1) === '') got.pop();
    assertOutput(want, got, what);
  }

  it('refuses a second node on the same ports, naming the listener', () =>
    runBlock(BLOCKS[2]!, 'port in use'));

  it('serves the dashboard: ?token= once, its data, its event stream', () =>
    runBlock(BLOCKS[3]!, 'dashboard'));

  it('counts plugin outcomes and passes promtool', async (t) => {
    if (!hasPromtool) t.diagnostic('promtool is not installed: its line is checked without it');
    const b = BLOCKS[4]!;
    await runBlock(
      hasPromtool
        ? b
        : {
            ...b,
            body: b.body.split(
              '\n$ curl -s -H "Authorization: Bearer $FULCRUM_ADMIN_TOKEN" localhost:8001/metrics | promtool',
            )[0]!,
          },
      'metrics',
    );
  });

  it('writes the target failure lines the page shows', () => {
    const clock = new ManualClock(0);
    const { log, lines } = memoryLog();
    const tl = new TargetFailureLog(log, clock);
    const target = { key: 'api-pool/127.0.0.1:9002', upstream: 'api-pool', target: '127.0.0.1:9002' };
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9002'), { code: 'ECONNREFUSED' });
    for (let i = 0; i < 2500; i++) {
      tl.noteFailure(target, refused);
      clock.advance(4);
    }
    assertOutput(BLOCKS[5]!.body.split('\n'), lines, 'target failure log');
  });

  it('warns about the service host the page shows', async () => {
    const text = BLOCKS[0]!.body.replace('host: api-pool', 'host: api-poll');
    const saved = { a: process.env.FULCRUM_ADMIN_TOKEN, b: process.env.ALICE_API_KEY };
    process.env.FULCRUM_ADMIN_TOKEN = env.FULCRUM_ADMIN_TOKEN;
    process.env.ALICE_API_KEY = env.ALICE_API_KEY;
    const snapshot = loadSnapshotText(text, 'fulcrum.yaml');
    for (const [k, v] of [
      ['FULCRUM_ADMIN_TOKEN', saved.a],
      ['ALICE_API_KEY', saved.b],
    ] as const)
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    const { log, lines } = memoryLog();
    const notFound = () =>
      Promise.reject(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }));
    await checkServiceHosts(snapshot, log, systemClock, notFound);
    assertOutput(BLOCKS[6]!.body.split('\n'), lines, 'host check');
  });

  it('reopens the access log on SIGUSR1', async () => {
    const log = join(dir, 'logs', 'access.log');
    assert.ok(existsSync(log), 'the relative access_log is beside the file');
    await runBlock(BLOCKS[7]!, 'logrotate');
    await node.waitForLog((l) => l.msg === 'SIGUSR1: log files reopened');
    assert.ok(existsSync(log), 'a new file at the configured path');
    assert.ok(existsSync(`${log}.1`));
  });

  it('answers /status/ready', () => runBlock(BLOCKS[8]!, 'readiness'));

  it('refuses a missing variable with its place', () => runBlock(BLOCKS[9]!, 'secrets'));
});
