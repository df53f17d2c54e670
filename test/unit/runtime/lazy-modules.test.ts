/**
 * What a node does not use it does not load (each module kept in memory for the process's life):
 * - Tracing off costs nothing: no OpenTelemetry module is reachable from the package's entry points
 *   by static imports (the emitted JavaScript, type-only imports already gone); the node imports
 *   src/observability/tracing.ts only when the `tracing` setting is present.
 * - pino-pretty (with its ~40 modules) is required only for a human log format, dns-packet only at
 *   the first DNS question.
 * - The generated validator, the largest module, is ASCII: V8 keeps a source with one character
 *   outside Latin-1 at two bytes a character.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from '../../helpers/child.ts';

const STATIC = [/^(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']/gms, /^import\s*["']([^"']+)["']/gm];

/** Every module statically imported from `entry` (relative ones followed), and the packages named. */
function staticGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const todo = [entry];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const re of STATIC)
      for (const m of text.matchAll(re)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) todo.push(resolve(dirname(file), spec));
        else packages.add(spec);
      }
  }
  return { files, packages };
}

const DIST = join(REPO_ROOT, 'dist', 'src');

describe('tracing is loaded lazily', () => {
  it('no entry point reaches @opentelemetry/* or tracing.js by static imports', () => {
    for (const entry of ['cli/main.js', 'index.js', 'runtime/node.js']) {
      const g = staticGraph(join(DIST, entry));
      assert.ok(g.files.has(join(DIST, 'proxy', 'exchange.js')), `${entry} reaches the proxy`);
      const otel = [...g.packages].filter((p) => p.startsWith('@opentelemetry/'));
      assert.deepEqual(otel, [], `${entry} imports OpenTelemetry statically`);
      assert.ok(!g.files.has(join(DIST, 'observability', 'tracing.js')), `${entry} imports tracing.js`);
    }
  });

  it('tracing.js is what brings the SDK in, and the node imports it on demand', () => {
    const g = staticGraph(join(DIST, 'observability', 'tracing.js'));
    for (const p of ['@opentelemetry/sdk-trace-base', '@opentelemetry/exporter-trace-otlp-http'])
      assert.ok(g.packages.has(p), p);
    assert.match(
      readFileSync(join(DIST, 'runtime', 'node.js'), 'utf8'),
      /await import\("\.\.\/observability\/tracing\.js"\)/,
    );
  });
});

describe('optional packages load on demand', () => {
  it('no entry point reaches pino-pretty or dns-packet by static imports', () => {
    for (const entry of ['cli/main.js', 'index.js', 'runtime/node.js']) {
      const g = staticGraph(join(DIST, entry));
      assert.ok(g.files.has(join(DIST, 'observability', 'access-log.js')), `${entry} reaches the logs`);
      assert.ok(g.files.has(join(DIST, 'discovery', 'dns-client.js')), `${entry} reaches DNS`);
      for (const p of ['pino-pretty', 'dns-packet']) assert.ok(!g.packages.has(p), `${entry} imports ${p}`);
    }
  });

  it('the generated validator is ASCII', () => {
    const text = readFileSync(join(DIST, 'config', 'file-validator.js'), 'latin1');
    assert.ok(text.length > 100_000, 'the validator was generated');
    const at = text.search(/[^\x00-\x7f]/);
    assert.equal(at, -1, `a character outside ASCII: ...${text.slice(at - 40, at + 10)}...`);
  });
});
