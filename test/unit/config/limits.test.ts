/**
 * The limits every configuration source is held to (src/config/limits.ts): document size, nesting
 * depth (YAML while it is tokenized, JSON by a pre-scan) and YAML alias expansion; and the JSON
 * pre-scan's duplicate keys.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { scanJson } from '../../../src/config/json-scan.ts';
import {
  MAX_CONFIG_ALIAS_COUNT,
  MAX_CONFIG_DOCUMENT_BYTES,
  MAX_CONFIG_NESTING_DEPTH,
  readBoundedFile,
} from '../../../src/config/limits.ts';
import {
  ConfigError,
  type ConfigIssue,
  formatIssue,
  parseSource,
  readSource,
} from '../../../src/config/load.ts';
import { CONFIG_INLINE_MAX_BYTES, CONFIG_INLINE_MAX_ENTITIES } from '../../../src/runtime/config-pipeline.ts';
import { ManagedStore } from '../../../src/store/managed-store.ts';
import { aliasBomb, deepJson, deepYamlBlock, deepYamlFlow } from '../../helpers/hostile-inputs.ts';

function refused(run: () => unknown): ConfigIssue[] {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return [...err.issues];
  }
  assert.fail('expected a refusal');
}

/** `depth` nested block mappings, one key per level: what a deep but honest document looks like. */
function nestedMaps(depth: number): string {
  let out = '';
  for (let i = 0; i < depth; i++) out += `${'  '.repeat(i)}k${i}:\n`;
  return `${out}${'  '.repeat(depth)}leaf: 1\n`;
}

const tmp = () => mkdtempSync(join(tmpdir(), 'fulcrum-limits-'));

describe('config limits: YAML', () => {
  it('accepts nesting up to the limit in block and flow style', () => {
    assert.doesNotThrow(() => parseSource(nestedMaps(MAX_CONFIG_NESTING_DEPTH - 2), 'f.yaml'));
    assert.doesNotThrow(() => parseSource(deepYamlFlow(MAX_CONFIG_NESTING_DEPTH - 2, 'a'), 'f.yaml'));
  });

  for (const [style, text] of [
    ['block mappings', `a: 1\n${nestedMaps(100)}`],
    ['flow lists', `a: 1\n${deepYamlFlow(2_000_000, 'b')}`],
    ['block lists on one line', `a: 1\n${deepYamlBlock(2_000_000, 'b')}`],
  ] as const)
    it(`refuses ${style} nested past the limit, at the level that breaks it`, () => {
      const [issue, ...rest] = refused(() => parseSource(text, 'f.yaml'));
      assert.equal(rest.length, 0);
      assert.match(issue!.message, /^nested deeper than 64 lists and objects \(MAX_CONFIG_NESTING_DEPTH\)$/);
      assert.equal(issue!.file, 'f.yaml');
      assert.ok(issue!.line >= 2, `line ${issue!.line}`);
    });

  it('refuses an alias bomb at its first alias, and accepts a few aliases', () => {
    const [issue] = refused(() => parseSource(`a: 1\n${aliasBomb()}`, 'f.yaml'));
    assert.equal(issue!.line, 3);
    assert.match(issue!.message, /aliases expand an anchor more than 100 times \(MAX_CONFIG_ALIAS_COUNT\)/);
    const ok = parseSource('hosts: &h [a.example, b.example]\nx: *h\ny: *h\n', 'f.yaml');
    assert.deepEqual((ok.value as Record<string, unknown>).y, ['a.example', 'b.example']);
  });

  it('refuses text over MAX_CONFIG_DOCUMENT_BYTES before parsing it', () => {
    const [issue] = refused(() => parseSource(`# ${'x'.repeat(MAX_CONFIG_DOCUMENT_BYTES)}\n`, 'f.yaml'));
    assert.match(issue!.message, /the limit is 16777216 bytes \(MAX_CONFIG_DOCUMENT_BYTES\)/);
  });

  it('still refuses two documents in one file', () => {
    const [issue] = refused(() => parseSource('a: 1\n---\nb: 2\n', 'f.yaml'));
    assert.match(issue!.message, /multiple documents/);
  });
});

describe('config limits: files', () => {
  it('reads a file under the limit whole, and refuses a bigger one from its size', () => {
    const file = join(tmp(), 'f.yaml');
    writeFileSync(file, 'a: 1\n');
    assert.deepEqual(readBoundedFile(file, 10), { text: 'a: 1\n' });
    writeFileSync(file, 'a: 12345678\n');
    const r = readBoundedFile(file, 10);
    assert.ok('breach' in r);
    assert.match(r.breach.message, /the document is 12 bytes; the limit is 10 bytes/);
    const [issue] = refused(() => readSource(join(tmp(), 'missing.yaml')));
    assert.match(issue!.message, /^cannot read: ENOENT/);
  });

  it('refuses a managed state file nested too deep, naming its line', () => {
    const file = join(tmp(), 'state.json');
    writeFileSync(file, `{\n  "format": "fulcrum-state/1",\n  "node": ${deepJson(100)}\n}\n`);
    const [issue] = refused(() => new ManagedStore(file).load());
    assert.equal(issue!.file, file);
    assert.equal(issue!.line, 3);
    assert.match(issue!.message, /nested deeper than 64/);
  });
});

describe('config limits: the JSON pre-scan', () => {
  it('finds the first bracket past the depth limit', () => {
    assert.equal(scanJson(deepJson(62), 64), null, '63 levels with the outer object');
    assert.deepEqual(scanJson(deepJson(63), 64), null);
    assert.equal(scanJson(deepJson(64), 64)?.offset, 12 + 63);
    assert.equal(scanJson(deepJson(4_000_000), 64)?.offset, 12 + 63);
  });

  it('ignores brackets, quotes and commas inside strings', () => {
    const text = JSON.stringify({ a: '[[[{{{', b: 'say "hi", \\ ok', c: [{ d: ',"d":' }] });
    assert.equal(scanJson(text, 3), null);
    assert.equal(scanJson('["[[[[[[[[[["]', 1), null);
  });

  it('refuses a key repeated in one object, escaped spellings included, not across objects', () => {
    assert.match(scanJson('{"a":1,"b":2,"a":3}', 8)!.message, /duplicate key "a"/);
    assert.equal(scanJson('{"a":1,"b":2,"a":3}', 8)!.offset, 13);
    assert.match(scanJson('{"a":1,"\\u0061":2}', 8)!.message, /duplicate key "a"/);
    assert.equal(scanJson('{"a":{"a":1},"b":[{"a":1},{"a":2}]}', 8), null);
    assert.equal(scanJson('{"a":"a","b":["a","a"]}', 8), null, 'values are not keys');
    assert.match(scanJson('{"x":{"a":1},"x":2}', 8)!.message, /duplicate key "x"/);
  });
});

describe('docs/hardening.md', () => {
  const doc = readFileSync(new URL('../../../../docs/hardening.md', import.meta.url), 'utf8');

  it('states the limits in force', () => {
    assert.match(
      doc,
      new RegExp(
        `\\| \`MAX_CONFIG_DOCUMENT_BYTES\` \\| 16 MiB \\(${MAX_CONFIG_DOCUMENT_BYTES.toLocaleString('en')} bytes\\)`,
      ),
    );
    assert.match(doc, new RegExp(`\\| \`MAX_CONFIG_NESTING_DEPTH\` \\| ${MAX_CONFIG_NESTING_DEPTH} nested`));
    assert.match(doc, new RegExp(`\\| \`MAX_CONFIG_ALIAS_COUNT\` \\| ${MAX_CONFIG_ALIAS_COUNT}:`));
    assert.match(
      doc,
      new RegExp(
        `under ${CONFIG_INLINE_MAX_BYTES / 1024} KiB of\\s+text, or ${CONFIG_INLINE_MAX_ENTITIES} entities`,
      ),
    );
  });

  it('shows the messages Fulcrum gives, as it gives them', () => {
    const shown = doc.split('\n').filter((l) => l.startsWith('fulcrum.yaml'));
    const actual = [
      refused(() => parseSource(`a: 1\n${aliasBomb()}`, 'fulcrum.yaml')),
      refused(() => parseSource(deepYamlBlock(100), 'fulcrum.yaml')),
      [{ ...refused(() => parseSource(`# ${'x'.repeat(MAX_CONFIG_DOCUMENT_BYTES)}`, 'fulcrum.yaml'))[0]! }],
    ].map((issues) => formatIssue(issues[0]!).replace(/^fulcrum\.yaml(:\d+:\d+)?: /, ''));
    assert.equal(shown.length, 3);
    shown.forEach((line, i) => {
      const message = line.replace(/^fulcrum\.yaml(:\d+:\d+)?: /, '');
      assert.equal(message.replace(/\d{8,}/g, 'N'), actual[i]!.replace(/\d{8,}/g, 'N'));
    });
  });
});
