/**
 * Read a declarative file (YAML or JSON; JSON is parsed by the YAML 1.2 parser so both keep
 * source positions) and turn a location in the parsed tree into `file:line:column`.
 *
 * Every source is bounded before it is parsed (src/config/limits.ts): its size first, then its
 * nesting depth while the YAML parser's tokens go by (the parser keeps its open collections on a
 * stack it exposes, so a document nested a million deep is refused after 65 of them, before the
 * composer, which recurses, sees it), and alias expansion when it is turned into plain values. Any
 * error the parser throws becomes a refusal with a position, never an exception.
 */
import { Buffer } from 'node:buffer';
import {
  Composer,
  type Document,
  isMap,
  isPair,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  type Node,
  Parser,
  visit,
  YAMLParseError,
} from 'yaml';
import {
  type LimitBreach,
  MAX_CONFIG_ALIAS_COUNT,
  MAX_CONFIG_DOCUMENT_BYTES,
  MAX_CONFIG_NESTING_DEPTH,
  readBoundedFile,
  tooDeepMessage,
  tooLargeMessage,
} from './limits.ts';

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

/** Thrown from inside the token stream to stop the parse at the first level too deep. */
class TooDeep extends Error {
  readonly offset: number;
  constructor(offset: number) {
    super('too deep');
    this.offset = offset;
  }
}

/** parseDocument's steps, driven token by token so the nesting depth is checked as it grows. */
function composeBounded(text: string, lineCounter: LineCounter): Document.Parsed {
  const parser = new Parser(lineCounter.addNewLine);
  lineCounter.addNewLine(0); // as Parser.parse does: the first line starts at 0
  const composer = new Composer({ uniqueKeys: true, strict: true, prettyErrors: false });
  function* tokens() {
    for (const lexeme of new Lexer().lex(text)) {
      yield* parser.next(lexeme);
      // The stack holds the document, each open collection, and at most one scalar being read.
      if (parser.stack.length - 1 > MAX_CONFIG_NESTING_DEPTH) throw new TooDeep(parser.offset);
    }
    yield* parser.end();
  }
  let doc: Document.Parsed | null = null;
  for (const d of composer.compose(tokens(), true, text.length)) {
    if (doc === null) doc = d;
    else {
      doc.errors.push(
        new YAMLParseError([d.range[0], d.range[1]], 'MULTIPLE_DOCS', 'Source contains multiple documents'),
      );
      break;
    }
  }
  return doc!;
}

/** A refusal at a byte offset of `text` (or of the whole document, when the offset is -1). */
export function breachIssue(text: string, file: string, breach: LimitBreach): ConfigIssue {
  if (breach.offset < 0) return { file, line: 0, column: 0, path: '', message: breach.message };
  let line = 1;
  let start = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < breach.offset; i = text.indexOf('\n', i + 1)) {
    line++;
    start = i + 1;
  }
  return { file, line, column: breach.offset - start + 1, path: '', message: breach.message };
}

/** The first alias of a document, to point an alias refusal somewhere useful. */
function firstAlias(doc: Document.Parsed): Node | null {
  let found: Node | null = null;
  visit(doc, {
    Alias(_key, node) {
      found = node;
      return visit.BREAK;
    },
  });
  return found ?? null;
}

export function parseSource(text: string, file: string): ParsedSource {
  // UTF-16 units: at least the UTF-8 bytes / 3, so this check never needs a second pass.
  if (text.length > MAX_CONFIG_DOCUMENT_BYTES || Buffer.byteLength(text) > MAX_CONFIG_DOCUMENT_BYTES)
    throw new ConfigError([
      breachIssue(text, file, { offset: -1, message: tooLargeMessage(Buffer.byteLength(text)) }),
    ]);
  const lineCounter = new LineCounter();
  const at = (offset: number, message: string): ConfigIssue => {
    const pos = lineCounter.linePos(offset);
    return { file, line: pos.line, column: pos.col, path: '', message };
  };
  let doc: Document.Parsed;
  try {
    doc = composeBounded(text, lineCounter);
  } catch (err) {
    if (err instanceof TooDeep) throw new ConfigError([at(err.offset, tooDeepMessage())]);
    throw new ConfigError([at(0, `cannot parse: ${(err as Error).message}`)]);
  }
  const syntax = [...doc.errors];
  if (syntax.length > 0)
    throw new ConfigError(syntax.map((e) => at(e.pos[0], `syntax: ${e.message.split('\n')[0]}`)));
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_CONFIG_ALIAS_COUNT });
  } catch (err) {
    const alias = firstAlias(doc);
    const offset = alias?.range?.[0] ?? 0;
    const why = (err as Error).message;
    throw new ConfigError([
      at(
        offset,
        /Excessive alias count/.test(why)
          ? `aliases expand an anchor more than ${MAX_CONFIG_ALIAS_COUNT} times (MAX_CONFIG_ALIAS_COUNT); write the values out, or use fewer aliases`
          : `cannot resolve: ${why}`,
      ),
    ]);
  }

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

/** A file's text, refused when it cannot be read or is over MAX_CONFIG_DOCUMENT_BYTES (unread). */
export function readConfigText(file: string): string {
  let read: ReturnType<typeof readBoundedFile>;
  try {
    read = readBoundedFile(file, MAX_CONFIG_DOCUMENT_BYTES);
  } catch (err) {
    throw new ConfigError([
      { file, line: 0, column: 0, path: '', message: `cannot read: ${(err as Error).message}` },
    ]);
  }
  if ('breach' in read) throw new ConfigError([breachIssue('', file, read.breach)]);
  return read.text;
}

export function readSource(file: string): ParsedSource {
  return parseSource(readConfigText(file), file);
}

/**
 * A source for a document that is already a value (a JSON request body, the admin's state): its
 * issues carry paths but no line numbers.
 */
export function valueSource(value: unknown, file: string): ParsedSource {
  return {
    file,
    value,
    locate: () => ({ line: 0, column: 0 }),
    issue(path, message, key) {
      const full = key === undefined ? formatPath(path) : formatPath([...path, key]);
      return { file, line: 0, column: 0, path: full, message };
    },
  };
}
