/**
 * The runnable examples of the package docs run, and print what the docs say they print. A block
 * marked `<!-- runnable: NAME -->` is written inside this checkout (so `import 'fulcrum/client'`
 * resolves through the package's own `exports`, as it does for a user) and run with node; the
 * `text` block after "It prints:" is its expected output (`…` matches anything on a line). A README
 * block marked `<!-- excerpt of FILE -->` must appear verbatim in FILE's runnable example, which
 * this test runs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../helpers/child.ts';
import { examples, matches } from '../helpers/doc-examples.ts';

const run = promisify(execFile);
const DOCS = ['docs/client.md', 'docs/embedding.md'];

describe('runnable examples in the docs', () => {
  const dir = join(REPO_ROOT, 'dist', 'doc-examples');
  mkdirSync(dir, { recursive: true });
  const all = new Map<string, string>();
  for (const doc of DOCS) {
    const found = examples(readFileSync(join(REPO_ROOT, doc), 'utf8'));
    it(`${doc} has a runnable example`, () => assert.ok(found.length >= 1));
    for (const ex of found) {
      all.set(doc, `${all.get(doc) ?? ''}${ex.code}`);
      it(`${doc}: ${ex.name} runs and prints what the doc says`, async () => {
        const file = join(dir, `${ex.name}.mjs`);
        writeFileSync(file, ex.code);
        const { stdout } = await run(process.execPath, [file], { cwd: REPO_ROOT, timeout: 30_000 });
        assert.ok(ex.prints !== null, 'the doc shows the output');
        assert.ok(matches(ex.prints, stdout), `printed:\n${stdout}\nexpected:\n${ex.prints}`);
      });
    }
  }

  it("the README's snippets are excerpts of those examples", () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const excerpts = [...readme.matchAll(/<!-- excerpt of ([\w/.-]+) -->\n```js\n([\s\S]*?)```/g)];
    assert.ok(excerpts.length >= 2, 'the client and startFulcrum sections');
    for (const [, doc, code] of excerpts) {
      const source = all.get(doc!);
      assert.ok(source !== undefined, `${doc} has a runnable example`);
      for (const part of code!.split('\n// …\n'))
        assert.ok(source.includes(part.trim()), `README excerpt not in ${doc}:\n${part}`);
    }
  });
});
