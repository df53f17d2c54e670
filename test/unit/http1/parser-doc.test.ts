/**
 * Every example of docs/http1-parser.md, run. A table after `<!-- verdicts -->` has an `example`
 * column (a message as JSON strings joined by `+`, a string possibly `.repeat(n)`ed; `(to HEAD)`
 * after a response: the answer to a HEAD), the verdict of llhttp in strict mode (a column whose
 * heading starts with `llhttp`; or one per llhttp version, `llhttp 9.3 (Node 20)`, of which the one
 * this Node runs is checked) and Fulcrum's (`400`, `414`, `431`, `502` or `reads`). Each example is
 * read by Fulcrum's parser as the connections drive it and by llhttp through node:http
 * (test/helpers/http1-readers.ts, llhttp-oracle.ts), and both verdicts must be the page's. The
 * fuzzer command (`<!-- fuzz-command -->`) must be the npm script's, and is run with its
 * arguments but a shorter `--seconds`; every line of the summary the page shows
 * (`<!-- fuzz-summary -->`) must be printed by it in that order, its figures aside.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../helpers/child.ts';
import { type Reading, readRequests, readResponse } from '../../helpers/http1-readers.ts';
import { LlhttpOracles } from '../../helpers/llhttp-oracle.ts';

const DOC = readFileSync(join(REPO_ROOT, 'docs', 'http1-parser.md'), 'utf8');
const run = promisify(execFile);

interface Example {
  /** The row's first cell. */
  readonly what: string;
  readonly bytes: Buffer;
  readonly response: boolean;
  readonly headOnly: boolean;
  readonly llhttp: string;
  readonly fulcrum: string;
}

const cells = (line: string): string[] =>
  line
    .slice(1, line.endsWith('|') ? -1 : undefined)
    .split('|')
    .map((c) => c.trim());

/** `"a" + "b".repeat(3)`: the message an example cell spells. */
function spelled(code: string): string {
  let out = '';
  for (const part of code.split(/ \+ (?=")/)) {
    const m = /^("(?:[^"\\]|\\.)*")(?:\.repeat\((\d+)\))?$/.exec(part);
    if (m === null) throw new Error(`not an example: ${code}`);
    out += (JSON.parse(m[1]!) as string).repeat(m[2] === undefined ? 1 : Number(m[2]));
  }
  return out;
}

/** The llhttp column that speaks for this Node's llhttp: `llhttp` alone, or `llhttp <major.minor>`. */
function llhttpColumn(head: string[]): number {
  const mine = (process.versions.llhttp ?? '').split('.').slice(0, 2).join('.');
  const versioned = head.findIndex((h) => h.startsWith(`llhttp ${mine} `));
  return versioned >= 0 ? versioned : head.findIndex((h) => /^llhttp( \(|$)/.test(h));
}

function examples(): Example[] {
  const out: Example[] = [];
  for (const m of DOC.matchAll(/<!-- verdicts -->\n((?:\|.*\n)+)/g)) {
    const [headLine, , ...rows] = m[1]!.trimEnd().split('\n');
    const head = cells(headLine!);
    const ex = head.indexOf('example');
    const ll = llhttpColumn(head);
    const fu = head.findIndex((h) => h.startsWith('Fulcrum'));
    assert.ok(ex >= 0 && ll >= 0 && fu >= 0, `a verdicts table's columns: ${headLine}`);
    for (const row of rows) {
      const c = cells(row);
      const code = /^`(.*)`( \(to HEAD\))?$/.exec(c[ex]!);
      assert.ok(code !== null, `an example: ${c[ex]}`);
      const text = spelled(code[1]!);
      out.push({
        what: c[0]!,
        bytes: Buffer.from(text, 'latin1'),
        response: /^[\r\n]*[A-Z]+\/\d/.test(text),
        headOnly: code[2] !== undefined,
        llhttp: c[ll]!,
        fulcrum: c[fu]!,
      });
    }
  }
  return out;
}

/** Fulcrum's reading as the page says it: a status, or `reads`. */
function fulcrumVerdict(r: Reading, response: boolean): string {
  if (r.refused === null) return r.messages.at(-1)?.complete === true ? 'reads' : 'waits';
  if (response) return '502';
  if (r.refused === 'head-431') return '431';
  if (r.refused === 'head-414') return '414';
  return '400';
}

describe('docs/http1-parser.md: the examples, read by Fulcrum and by llhttp', () => {
  const all = examples();
  let oracles: LlhttpOracles;
  before(async () => {
    oracles = await LlhttpOracles.start();
  });
  after(() => oracles.close());

  it('has examples in its tables', () => assert.ok(all.length >= 40, `${all.length} examples`));

  for (const [i, e] of all.entries())
    it(`${i + 1}. ${e.what}: ${JSON.stringify(e.bytes.toString('latin1')).slice(0, 80)}`, async () => {
      const fulcrum = e.response ? readResponse([e.bytes], e.headOnly) : readRequests([e.bytes]);
      assert.equal(
        fulcrumVerdict(fulcrum, e.response),
        /^(\d{3}|reads)/.exec(e.fulcrum)?.[0],
        `Fulcrum: ${JSON.stringify(fulcrum)}`,
      );
      const llhttp = await oracles.read(e.bytes, e.response, e.headOnly);
      const said = /^(reads|refuses)/.exec(e.llhttp)?.[0];
      assert.ok(said !== undefined, `llhttp's column says reads or refuses: ${e.llhttp}`);
      assert.equal(llhttp.refused === null ? 'reads' : 'refuses', said, `llhttp: ${JSON.stringify(llhttp)}`);
    });
});

describe('docs/http1-parser.md: the fuzzer command', () => {
  it('is the npm script, runs and prints the summary the page shows', async () => {
    const command = /<!-- fuzz-command -->\n```sh\n(.*)\n```/.exec(DOC)?.[1];
    assert.ok(command !== undefined, 'the page gives the command');
    const args = /^npm run fuzz:http1 -- (.*)$/.exec(command)?.[1]?.split(' ');
    assert.ok(args !== undefined, command);
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    // The suite has built already: the script's node command, not its build.
    assert.equal(pkg.scripts['fuzz:http1'], 'npm run build --silent && node dist/scripts/fuzz-http1.js');
    const s = args.indexOf('--seconds');
    assert.ok(s >= 0, 'the command is bounded in time');
    args[s + 1] = '2';
    const { stdout } = await run(process.execPath, [join('dist', 'scripts', 'fuzz-http1.js'), ...args], {
      cwd: REPO_ROOT,
      timeout: 90_000,
    });
    const shown = /<!-- fuzz-summary -->\n```text\n([\s\S]*?)\n```/.exec(DOC)?.[1];
    assert.ok(shown !== undefined, 'the page shows a summary');
    const got = stdout.split('\n');
    let at = 0;
    for (const line of shown.split('\n')) {
      const re = new RegExp(
        `^${line
          .split(/\d+(?:\.\d+)?/)
          .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
          .join('\\d+(?:\\.\\d+)?')}$`,
      );
      while (at < got.length && !re.test(got[at]!)) at++;
      assert.ok(at < got.length, `the run printed no line like ${JSON.stringify(line)}:\n${stdout}`);
      at++;
    }
  });
});
