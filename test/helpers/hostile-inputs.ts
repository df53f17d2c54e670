/**
 * Hostile configuration inputs, shared by the regression tests and the hostile-config bench
 * (bench/hostile/run.ts): a YAML alias bomb, deeply nested JSON and YAML, a configuration of many
 * services, and a big file. Each returns the text to append after a node header.
 */

/**
 * "Billion laughs": `levels` anchors, each a list of `width` aliases of the one before, so the
 * last expands to width^levels scalars (9^9 ≈ 387 million) from a few hundred bytes.
 */
export function aliasBomb(levels = 9, width = 9): string {
  const lines = [`lol0: &lol0 [${Array(width).fill('"lol"').join(', ')}]`];
  for (let i = 1; i <= levels; i++)
    lines.push(
      `lol${i}: &lol${i} [${Array(width)
        .fill(`*lol${i - 1}`)
        .join(', ')}]`,
    );
  return `${lines.join('\n')}\n`;
}

/** A JSON object holding `depth` nested lists under `key`: `{"services":[[[...]]]}` (2 × depth bytes and a few). */
export function deepJson(depth: number, key = 'services'): string {
  return `{"${key}":${'['.repeat(depth)}${']'.repeat(depth)}}`;
}

/** The same nesting as a YAML flow collection under a top-level key. */
export function deepYamlFlow(depth: number, key = 'services'): string {
  return `${key}: ${'['.repeat(depth)}${']'.repeat(depth)}\n`;
}

/** The same nesting as YAML block sequences on one line (`- - - - x`). */
export function deepYamlBlock(depth: number, key = 'services'): string {
  return `${key}:\n  ${'- '.repeat(depth)}x\n`;
}

/** `n` services, each with one route, all proxying to `target` (`host:port`). */
export function manyServices(n: number, target: string): string {
  const out: string[] = ['services:\n'];
  for (let i = 0; i < n; i++)
    out.push(
      `  - name: s${i}\n    url: http://${target}\n    routes:\n      - name: r${i}\n        paths: ["/s${i}"]\n`,
    );
  return out.join('');
}

/**
 * A valid-looking document of about `bytes` bytes: one service whose tags list is padded out
 * (what a generated file with a runaway list looks like).
 */
export function bigDocument(bytes: number, target: string): string {
  const head = `services:\n  - name: big\n    url: http://${target}\n    routes: [{ paths: ["/big"] }]\n    tags:\n`;
  const tag = '      - padding-padding-padding-padding-padding-padding\n';
  return head + tag.repeat(Math.max(0, Math.ceil((bytes - head.length) / tag.length)));
}
