/**
 * The YAML examples of docs/cluster.md are valid configuration, and say what the page says they
 * do (a doc example that no longer validates would mislead the reader first).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { REPO_ROOT } from '../../helpers/child.ts';

const page = readFileSync(join(REPO_ROOT, 'docs', 'cluster.md'), 'utf8');
const blocks = [...page.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);

describe('docs/cluster.md examples', () => {
  it('has YAML examples, and each validates', () => {
    assert.ok(blocks.length >= 1);
    for (const text of blocks) loadSnapshotText(text, 'docs/cluster.md');
  });

  it('`workers: auto` is 0 (one per core) and `worker_listen` defaults to auto', () => {
    const s = loadSnapshotText(blocks[0]!, 'docs/cluster.md');
    assert.equal(s.node.workers, 0);
    assert.equal(s.node.workerListen, 'auto');
  });

  it('refuses a worker count out of range, naming the field', () => {
    assert.throws(
      () => loadSnapshotText('_format_version: "3.0"\nworkers: 0\n', 'w.yaml'),
      /w\.yaml:2:.*workers/,
    );
  });
});
