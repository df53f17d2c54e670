/**
 * Hostile configuration inputs (issue 12) against a running child process, as an operator or an
 * attacker with admin access would send them: a YAML alias bomb on SIGHUP, on --watch and on
 * POST /config; JSON nested 4,000,000 deep in an 8 MB POST /config; a file far over the size limit.
 * Each is refused with a message (and a line where there is one), the process lives, and the old
 * configuration keeps serving.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { renameSync, truncateSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { MAX_CONFIG_DOCUMENT_BYTES } from '../../src/config/limits.ts';
import {
  BIN,
  CHILD_NODE_HEADER,
  type ChildFulcrum,
  REPO_ROOT,
  spawnFulcrum,
  writeConfig,
} from '../helpers/child.ts';
import { aliasBomb, deepJson, deepYamlBlock } from '../helpers/hostile-inputs.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const REFUSED = 'configuration refused; the previous configuration keeps serving';
const base = (target: string) =>
  `services:\n  - name: base\n    url: http://${target}\n    routes: [{ paths: ["/base"] }]\n`;
const headerLines = CHILD_NODE_HEADER.split('\n').length - 1;

async function get(f: ChildFulcrum): Promise<{ status: number; body: string }> {
  const r = await request(`${f.url}/base`);
  return { status: r.statusCode, body: await r.body.text() };
}

async function postConfig(f: ChildFulcrum, body: string, type: string) {
  const r = await request(`http://127.0.0.1:${f.adminPort}/config`, {
    method: 'POST',
    headers: { 'content-type': type },
    body,
  });
  const text = await r.body.text();
  return { status: r.statusCode, message: String((JSON.parse(text) as { message?: unknown }).message) };
}

describe('hostile configuration (child process)', () => {
  let up: TestUpstream;
  let f: ChildFulcrum;
  let file: string;
  before(async () => {
    up = await startUpstream('base');
    file = writeConfig(base(up.target));
    f = await spawnFulcrum(file);
    // Served once: the signal handlers are installed just after "fulcrum started" is logged.
    assert.deepEqual(await get(f), { status: 200, body: 'base' });
  });
  after(async () => {
    await f?.stop();
    await up?.close();
  });

  /** SIGHUP, then the errors logged for the refusal that follows. */
  async function hupRefused(): Promise<Record<string, unknown>[]> {
    const from = f.logs.length;
    f.signal('SIGHUP');
    await f.waitForLog((l) => l.msg === REFUSED && f.logs.indexOf(l) >= from);
    return f.logs.slice(from).filter((l) => l.level === 50 && l.msg !== REFUSED);
  }

  it('SIGHUP with an alias bomb: refused at the first alias, the process keeps serving', async () => {
    const bomb = aliasBomb();
    writeFileSync(file, CHILD_NODE_HEADER + base(up.target) + bomb);
    const errors = await hupRefused();
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.equal(errors[0]!.file, file);
    // The first alias is on the bomb's second line.
    assert.equal(errors[0]!.line, headerLines + base(up.target).split('\n').length - 1 + 2);
    assert.match(String(errors[0]!.msg), /aliases expand an anchor more than 100 times/);
    assert.deepEqual(await get(f), { status: 200, body: 'base' });
  });

  it('SIGHUP with YAML nested 100,000 deep: refused at the 65th level, quickly and on its line', async () => {
    writeFileSync(file, CHILD_NODE_HEADER + base(up.target) + deepYamlBlock(100_000, '_comment'));
    const errors = await hupRefused();
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(String(errors[0]!.msg), /nested deeper than 64 lists and objects/);
    assert.equal(errors[0]!.line, headerLines + base(up.target).split('\n').length + 1);
    assert.deepEqual(await get(f), { status: 200, body: 'base' });
  });

  it('SIGHUP with a file over the size limit: refused from its size, without reading it', async () => {
    // A sparse file: reading it whole would take 1 GiB of memory, measuring it takes nothing.
    writeFileSync(file, '');
    truncateSync(file, 1024 * 1024 * 1024);
    const errors = await hupRefused();
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(
      String(errors[0]!.msg),
      new RegExp(`the document is 1073741824 bytes; the limit is ${MAX_CONFIG_DOCUMENT_BYTES} bytes`),
    );
    assert.ok(f.memory().hwm < 512 * 1024 * 1024, `peak RSS ${f.memory().hwm}`);
    assert.deepEqual(await get(f), { status: 200, body: 'base' });
    writeFileSync(file, CHILD_NODE_HEADER + base(up.target));
  });

  it('POST /config with an alias bomb (YAML): 400 naming the line, not 500', async () => {
    const r = await postConfig(f, CHILD_NODE_HEADER + base(up.target) + aliasBomb(), 'application/yaml');
    assert.equal(r.status, 400, r.message);
    assert.match(r.message, /aliases expand an anchor more than 100 times/);
    assert.deepEqual(await get(f), { status: 200, body: 'base' });
  });

  it('POST /config with 8 MB of JSON nested 4,000,000 deep: 400 before any parse', async () => {
    const body = deepJson(4_000_000);
    assert.ok(body.length > 8_000_000);
    const r = await postConfig(f, body, 'application/json');
    assert.equal(r.status, 400, r.message);
    assert.match(
      r.message,
      /nested deeper than 64 lists and objects \(MAX_CONFIG_NESTING_DEPTH\) \(at offset 75\)/,
    );
    // Parsing it (as before) grew the heap to 4 GB; the scan keeps the process small.
    assert.ok(f.memory().hwm < 512 * 1024 * 1024, `peak RSS ${f.memory().hwm}`);
    assert.deepEqual(await get(f), { status: 200, body: 'base' });
  });

  it('POST /config with a duplicate JSON key: 400 naming the key', async () => {
    const r = await postConfig(
      f,
      '{"_format_version":"3.0","services":[],"services":[]}',
      'application/json',
    );
    assert.equal(r.status, 400);
    assert.match(r.message, /duplicate key "services"/);
  });

  it('the process is still the one started, and still serving', async () => {
    assert.equal(f.proc.exitCode, null);
    assert.deepEqual(await get(f), { status: 200, body: 'base' });
  });
});

describe('hostile configuration with --watch (child process)', () => {
  let up: TestUpstream;
  let f: ChildFulcrum;
  let file: string;
  before(async () => {
    up = await startUpstream('watched');
    file = writeConfig(base(up.target));
    f = await spawnFulcrum(file, { args: ['start', '-c', file, '--watch'] });
  });
  after(async () => {
    await f?.stop();
    await up?.close();
  });

  it('an alias bomb written to the watched file is refused; the process keeps serving', async () => {
    writeFileSync(file, CHILD_NODE_HEADER + base(up.target) + aliasBomb());
    await f.waitForLog((l) => l.msg === REFUSED);
    const error = f.logs.find((l) => l.level === 50 && /aliases expand/.test(String(l.msg)));
    assert.ok(error, 'the alias refusal is logged');
    assert.equal(f.proc.exitCode, null);
    assert.deepEqual(await get(f), { status: 200, body: 'watched' });
  });

  it('a watched file grown past the size limit is refused without being read', async () => {
    // A sparse file renamed over the watched one, as a config manager replaces a file.
    const big = `${file}.new`;
    writeFileSync(big, '');
    truncateSync(big, 1024 * 1024 * 1024);
    renameSync(big, file);
    await f.waitForLog((l) => l.level === 50 && /the document is 1073741824 bytes/.test(String(l.msg)));
    // Reading it (to hash it, or to parse it) would have taken 1 GiB.
    assert.ok(f.memory().hwm < 512 * 1024 * 1024, `peak RSS ${f.memory().hwm}`);
    assert.deepEqual(await get(f), { status: 200, body: 'watched' });
  });
});

describe('fulcrum validate with hostile files', () => {
  const validate = (body: string) => {
    const file = writeConfig(body);
    const r = spawnSync(process.execPath, [BIN, 'validate', file], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 15000,
    });
    return { file, code: r.status, stderr: r.stderr };
  };

  it('an alias bomb: exit 1, file:line:col and the reason, no stack', () => {
    const r = validate(aliasBomb());
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^${r.file}:${headerLines + 2}:\\d+: \\(document\\): aliases expand`, 'm'),
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.match(r.stderr, /: 1 error\(s\)\n$/);
  });

  it('YAML nested 100,000 deep: exit 1 with the depth limit, no stack', () => {
    const r = validate(deepYamlBlock(100_000, '_comment'));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /nested deeper than 64 lists and objects \(MAX_CONFIG_NESTING_DEPTH\)/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });
});
