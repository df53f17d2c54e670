/**
 * `fulcrum simulate` as a user runs it: the tables on stdout, a well-formed SVG chart with one panel
 * pair per algorithm, the same output for the same seed, and errors with file:line for a bad file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { BIN, REPO_ROOT } from '../helpers/child.ts';

function run(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'simulate', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
}

/**
 * A minimal XML reader, enough to prove the chart well-formed: every tag closed in order, attribute
 * values quoted, no stray `<` or `&` in text, exactly one root. Returns the root element.
 */
function parseXml(text: string): XmlElement {
  const stack: XmlElement[] = [{ name: '#document', attrs: {}, children: [] }];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  const attr = /([\w:-]+)="([^"]*)"/g;
  let i = 0;
  while (i < text.length) {
    const lt = text.indexOf('<', i);
    const chunk = lt < 0 ? text.slice(i) : text.slice(i, lt);
    assert.doesNotMatch(chunk, /&(?!#\d+;|amp;|lt;|gt;|quot;|apos;)|>/, `stray character in text near ${i}`);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(text);
    assert.ok(m, `malformed tag at ${lt}: ${text.slice(lt, lt + 60)}`);
    const [, close, name, attrs, selfClose] = m;
    if (close) {
      const open = stack.pop()!;
      assert.equal(open.name, name, `</${name}> closes <${open.name}>`);
    } else {
      const el: XmlElement = { name: name!, attrs: {}, children: [] };
      for (const a of attrs!.matchAll(attr)) el.attrs[a[1]!] = a[2]!;
      stack.at(-1)!.children.push(el);
      if (!selfClose) stack.push(el);
    }
    i = tag.lastIndex;
  }
  assert.equal(stack.length, 1, `unclosed <${stack.at(-1)!.name}>`);
  assert.equal(stack[0]!.children.length, 1, 'one root element');
  return stack[0]!.children[0]!;
}

function all(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    if (e.name === name) out.push(e);
    e.children.forEach(walk);
  };
  walk(el);
  return out;
}

describe('fulcrum simulate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-sim-'));
  const example = join(REPO_ROOT, 'examples', 'simulate', 'heterogeneous.yaml');

  it('prints the tables and writes a well-formed SVG chart', () => {
    const svg = join(dir, 'chart.svg');
    const r = run([
      example,
      '--duration',
      '30',
      '--algorithms',
      'round-robin,least-request,maglev',
      '--svg',
      svg,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^algorithm\s+p50 ms\s+p99 ms\s+p99\.9 ms\s+load max\s+load mean\s+peak\s+failed\s+retried\s+keys moved$/m,
    );
    for (const a of ['round-robin', 'least-request', 'maglev'])
      assert.match(r.stdout, new RegExp(`^${a}\\s+\\d+\\.\\d\\s+\\d+\\.\\d`, 'm'));
    assert.match(r.stdout, /^tries per target\s+big-1\s+big-2\s+small-1\s+small-2\s+small-3$/m);
    assert.match(r.stderr, /simulated \d+ requests \(3 algorithms\) in [\d.]+ s; chart: /);
    const root = parseXml(readFileSync(svg, 'utf8'));
    assert.equal(root.name, 'svg');
    assert.equal(root.attrs.xmlns, 'http://www.w3.org/2000/svg');
    const titles = all(root, 'text').length;
    assert.ok(titles > 20);
    // Per algorithm: p50 and p99 paths, one path per target.
    assert.equal(all(root, 'path').length, 3 * (2 + 5));
    for (const p of all(root, 'path')) assert.match(p.attrs.d!, /^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+/);
  });

  it('the same seed prints the same tables; --seed changes them', () => {
    const args = [example, '--duration', '21', '--algorithms', 'least-request,latency', '--svg', '-'];
    const a = run(args);
    const b = run(args);
    const c = run([...args, '--seed', '43']);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout, b.stdout);
    assert.notEqual(a.stdout, c.stdout);
  });

  it('--json - prints every number as JSON', () => {
    const r = run([example, '--duration', '20', '--algorithms', 'random', '--svg', '-', '--json', '-']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout) as { results: { algorithm: string; requests: number }[] };
    assert.equal(j.results[0]!.algorithm, 'random');
    assert.ok(j.results[0]!.requests > 36000);
  });

  it('a bad scenario exits 1 with file:line:column and the path', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'targets:\n  - name: a\n    capacity: -3\n');
    const r = run([bad]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /bad\.yaml:3:\d+: targets\[0\]\.capacity: expected an integer/);
    const u = run([example, '--rate', 'fast']);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /--rate: expected a number/);
  });
});
