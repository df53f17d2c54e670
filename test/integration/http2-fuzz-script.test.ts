/**
 * The HTTP/2 fuzzer (scripts/fuzz-http2.ts) is not part of the suite, but it must keep working:
 * the command docs/http2.md gives (`<!-- fuzz-command -->`) is the npm script's and, run briefly,
 * prints the summary lines the page shows (`<!-- fuzz-summary -->`, figures aside) and passes; its
 * sequences are a function of (seed, index) alone; and what its upstream judges rests on the
 * markers the generator puts in :path (a malformed request is marked `/bad/`).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { generate } from '../../scripts/fuzz-http2-gen.ts';
import { REPO_ROOT } from '../helpers/child.ts';

const run = promisify(execFile);
const DOC = readFileSync(join(REPO_ROOT, 'docs', 'http2.md'), 'utf8');

describe('the HTTP/2 fuzzer', () => {
  it('docs/http2.md: the command is the npm script and prints the summary shown', async () => {
    const command = /<!-- fuzz-command -->\n```sh\n(.*)\n```/.exec(DOC)?.[1];
    assert.ok(command !== undefined, 'a fuzz-command block');
    const args = /^npm run fuzz:http2 -- (.*)$/.exec(command)?.[1]?.split(' ');
    assert.ok(args !== undefined, command);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    assert.equal(pkg.scripts['fuzz:http2'], 'npm run build --silent && node dist/scripts/fuzz-http2.js');
    // The documented run, shortened to 2 s and a fresh seed.
    const short = args.map((a, i) => (args[i - 1] === '--seconds' ? '2' : a));
    const { stdout } = await run(
      process.execPath,
      [join('dist', 'scripts', 'fuzz-http2.js'), ...short, '--seed', '5', '--live-every', '50'],
      { cwd: REPO_ROOT, timeout: 60_000 },
    );
    const shown = /<!-- fuzz-summary -->\n```text\n([\s\S]*?)\n```/.exec(DOC)?.[1];
    assert.ok(shown !== undefined, 'a fuzz-summary block');
    let at = 0;
    for (const line of shown.split('\n')) {
      const shape = line.trim().split(/[\d.:]+/)[0]!;
      const found = stdout.indexOf(shape, at);
      assert.ok(found >= 0, `"${shape}" printed after offset ${at}:\n${stdout}`);
      at = found + shape.length;
    }
    const m = /: (\d+) sequences \(connections\), (\d+) frames/.exec(stdout);
    assert.ok(m !== null && Number(m[1]) > 0 && Number(m[2]) > Number(m[1]), stdout);
    assert.match(stdout, /liveness checks [1-9]/);
    assert.match(stdout, /^fuzz-http2: passed$/m);
  });

  it('a sequence is a function of (seed, index) alone', () => {
    const a = generate(9, 123);
    assert.deepEqual(generate(9, 123), a);
    assert.notDeepEqual(generate(9, 124).bytes, a.bytes);
    assert.notDeepEqual(generate(10, 123).bytes, a.bytes);
  });

  it('a bit-flipped sequence carries no verdict marker (a flip can make a malformed request valid)', () => {
    let judged = 0;
    let flipped = 0;
    for (let i = 0; i < 300; i++) {
      const s = generate(1, i);
      const text = s.bytes.toString('latin1');
      if (!s.steps.some((x) => x.startsWith('bit-flips'))) {
        if (/\/(ok|bad|part)\/\d/.test(text)) judged++;
        continue;
      }
      flipped++;
      assert.ok(!/\/(ok|bad|part)\/\d/.test(text), `sequence ${i} is flipped but judged`);
      assert.deepEqual(s.awaited, []);
    }
    assert.ok(judged > 50 && flipped > 10, `${judged} judged (literal markers), ${flipped} flipped`);
  });
});
