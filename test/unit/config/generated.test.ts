/**
 * The committed generated files match what scripts/gen-schema.ts produces from src/config/schema.ts
 * (run `npm run gen` after changing the schema), and the example configurations validate.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { configurationMarkdown, DOCS_PATH, SCHEMA_PATH, schemaJson } from '../../../scripts/gen-schema.ts';
import { configTypes, TYPES_PATH } from '../../../scripts/gen-types.ts';
import { nodeSchemas } from '../../../src/config/node-schema.ts';
import { fileSchema, routeSchema, serviceSchema } from '../../../src/config/schema.ts';
import { loadSnapshotFile } from '../../../src/config/validate.ts';

// dist/test/unit/config → the repository root.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');

describe('generated files are up to date (npm run gen)', () => {
  it(`${SCHEMA_PATH} is what the generator writes`, () => {
    const committed = readFileSync(join(ROOT, SCHEMA_PATH), 'utf8');
    assert.ok(committed === schemaJson(), `${SCHEMA_PATH} is stale: run npm run gen`);
  });

  it(`${DOCS_PATH} is what the generator writes`, () => {
    const committed = readFileSync(join(ROOT, DOCS_PATH), 'utf8');
    assert.ok(committed === configurationMarkdown(), `${DOCS_PATH} is stale: run npm run gen`);
  });

  it(`${TYPES_PATH} is what the generator writes`, () => {
    const committed = readFileSync(join(ROOT, TYPES_PATH), 'utf8');
    assert.ok(committed === configTypes(), `${TYPES_PATH} is stale: run npm run gen`);
  });

  it('the published schema is the one the validator uses, and compiles on its own', () => {
    const published = JSON.parse(schemaJson()) as Record<string, unknown>;
    assert.deepEqual(published, JSON.parse(JSON.stringify(fileSchema)));
    const validate = new Ajv({ strict: false, allowUnionTypes: true }).compile(published);
    assert.equal(validate({ _format_version: '3.0', services: [{ name: 's', host: 'h' }] }), true);
    assert.equal(validate({ _format_version: '3.0', services: [{ name: 's', colour: 'red' }] }), false);
  });
});

describe('the configuration reference covers the schema', () => {
  const md = configurationMarkdown();

  it('has a section per object kind and per node setting', () => {
    for (const title of ['Service', 'Route', 'Upstream', 'Target', 'Consumer', 'Plugin'])
      assert.match(md, new RegExp(`^### ${title}$`, 'm'));
    for (const key of Object.keys(nodeSchemas)) assert.ok(md.includes(`### \`${key}\``), key);
  });

  it('has a row for every field of a route and a service, with its default', () => {
    for (const schema of [routeSchema, serviceSchema])
      for (const name of Object.keys(schema.properties as object))
        assert.match(md, new RegExp(`^\\| \`${name}\`( \\(required\\))? \\|`, 'm'), name);
    assert.ok(md.includes('| `strip_path` | boolean | `true` |'));
    assert.ok(md.includes('| `retries` | integer | `5` | 0 to 32_767 |'));
    assert.ok(md.includes('| `path_handling` | string | `v0` | `v0`, `v1` |'));
  });

  it('gives every field a description', () => {
    const walk = (s: Record<string, unknown>, at: string): void => {
      for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, Record<string, unknown>>)) {
        assert.ok(
          typeof v.description === 'string' && v.description.length > 8,
          `${at}.${k} has no description`,
        );
        const items = v.items as Record<string, unknown> | undefined;
        if (items?.properties) walk(items, `${at}.${k}[]`);
        else if (v.properties) walk(v, `${at}.${k}`);
      }
    };
    walk(fileSchema, '');
  });
});

describe('examples validate', () => {
  const files = readdirSync(join(ROOT, 'examples')).filter((f) => /\.(ya?ml|json)$/.test(f));

  it('has at least two examples', () => {
    assert.ok(files.length >= 2, files.join(', '));
  });

  for (const f of files)
    it(`examples/${f} loads with no problem`, () => {
      const s = loadSnapshotFile(join(ROOT, 'examples', f));
      assert.deepEqual(s.problems, []);
      assert.ok(s.routes.length > 0);
      const raw = parse(readFileSync(join(ROOT, 'examples', f), 'utf8')) as { _format_version: string };
      assert.equal(raw._format_version, '3.0');
    });
});
