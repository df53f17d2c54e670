/** Checks on the repository itself: what a bad merge or a careless edit leaves behind. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const ROOTS = ['src', 'test', 'docs', 'schema', 'scripts', 'bench', 'examples', 'README.md', 'package.json'];
const TEXT = /\.(ts|js|mjs|json|md|yaml|yml|sh|svg)$/;

function* files(path: string): Generator<string> {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) return;
  if (st.isFile()) {
    if (TEXT.test(path)) yield path;
    return;
  }
  for (const name of readdirSync(path)) if (name !== 'node_modules') yield* files(join(path, name));
}

describe('repository hygiene', () => {
  it('has no merge-conflict markers left in tracked text', () => {
    const found: string[] = [];
    let scanned = 0;
    for (const root of ROOTS)
      for (const f of files(root)) {
        scanned++;
        readFileSync(f, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            if (/^(<{7}|>{7}) /.test(line)) found.push(`${f}:${i + 1}: ${line}`);
          });
      }
    assert.ok(scanned > 100, `scanned ${scanned} files from the repository root`);
    assert.deepEqual(found, []);
  });
});
