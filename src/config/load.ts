/**
 * Read a declarative file (YAML or JSON; JSON is parsed by the YAML 1.2 parser so both keep
 * source positions) and turn a location in the parsed tree into `file:line:column`.
 */
import { readFileSync } from 'node:fs';
import { isMap, isPair, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';

export type PathPart = string | number;

/** One reason a configuration is refused, with enough context to fix it without guessing. */
export interface ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** `services[0].routes[2].paths[1]`; `` for the document itself. */
  readonly path: string;
  readonly message: string;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.issues = issues;
  }
}

export function formatIssue(i: ConfigIssue): string {
  const where = i.line > 0 ? `${i.file}:${i.line}:${i.column}` : i.file;
  return `${where}: ${i.path || '(document)'}: ${i.message}`;
}

export function formatPath(parts: readonly PathPart[]): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? p : `.${p}`;
  }
  return out;
}

/** A parsed document that can locate any object path in its source. */
export interface ParsedSource {
  readonly file: string;
  readonly value: unknown;
  locate(path: readonly PathPart[], key?: string): { line: number; column: number };
  issue(path: readonly PathPart[], message: string, key?: string): ConfigIssue;
}

export function parseSource(text: string, file: string): ParsedSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  const syntax = [...doc.errors];
  if (syntax.length > 0) {
    throw new ConfigError(
      syntax.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return {
          file,
          line: pos.line,
          column: pos.col,
          path: '',
          message: `syntax: ${e.message.split('\n')[0]}`,
        };
      }),
    );
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });

  const locate = (path: readonly PathPart[], key?: string): { line: number; column: number } => {
    let node: unknown = doc.contents;
    let best: Node | null = (doc.contents as Node | null) ?? null;
    for (const part of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === part);
        if (!pair) break;
        node = pair.value;
      } else if (isSeq(node) && typeof part === 'number') {
        node = node.items[part];
      } else break;
      if (node && typeof node === 'object' && 'range' in node) best = node as Node;
    }
    if (key !== undefined && isMap(best)) {
      const pair = best.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === key);
      if (pair && isScalar(pair.key) && pair.key.range) best = pair.key;
    }
    const offset = best?.range?.[0] ?? 0;
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };

  return {
    file,
    value,
    locate,
    issue(path, message, key) {
      const { line, column } = locate(path, key);
      const full = key === undefined ? formatPath(path) : formatPath([...path, key]);
      return { file, line, column, path: full, message };
    },
  };
}

export function readSource(file: string): ParsedSource {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([
      { file, line: 0, column: 0, path: '', message: `cannot read: ${(err as Error).message}` },
    ]);
  }
  return parseSource(text, file);
}
