/**
 * A linear, non-recursive pre-scan of JSON text, run before JSON.parse: it refuses nesting deeper
 * than a limit and a key repeated in one object, with the offset of the offending character.
 *
 * Hand-written because neither check has a hook elsewhere: JSON.parse keeps the last of two equal
 * keys silently and recurses however deep the text goes; a reviver sees keys only after the fact;
 * the yaml parser (which used to find duplicates) costs a second, much slower parse, and its
 * composer recurses too. The scan only tracks strings and brackets; the grammar is left to
 * JSON.parse, which runs after it (on text this scan accepted).
 */
import { type LimitBreach, tooDeepMessage } from './limits.ts';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

/** One open object (its keys so far, and whether the next string is a key) or list (null). */
type Frame = { keys: Set<string>; expectKey: boolean } | null;

/** The first breach of `maxDepth` or of key uniqueness in `text`, or null. */
export function scanJson(text: string, maxDepth: number): LimitBreach | null {
  const stack: Frame[] = [];
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let j = i + 1;
      let escaped = false;
      while (j < n) {
        const d = text.charCodeAt(j);
        if (d === BACKSLASH) {
          escaped = true;
          j += 2;
        } else if (d === QUOTE) break;
        else j++;
      }
      const top = stack.length > 0 ? stack[stack.length - 1]! : null;
      if (top?.expectKey) {
        top.expectKey = false;
        let key: string;
        try {
          key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
        } catch {
          return null; // a malformed string: JSON.parse says where
        }
        if (top.keys.has(key))
          return { offset: i, message: `duplicate key ${JSON.stringify(key)} in one object` };
        top.keys.add(key);
      }
      i = j;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (stack.length >= maxDepth) return { offset: i, message: tooDeepMessage(maxDepth) };
      stack.push(c === OPEN_BRACE ? { keys: new Set(), expectKey: true } : null);
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) stack.pop();
    else if (c === COMMA) {
      const top = stack.length > 0 ? stack[stack.length - 1]! : null;
      if (top) top.expectKey = true;
    }
  }
  return null;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** The first key that could reach an object's prototype if the value were merged somewhere. */
export function forbiddenKey(v: unknown): string | null {
  if (v === null || typeof v !== 'object') return null;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (FORBIDDEN_KEYS.has(k)) return k;
    const inner = forbiddenKey(x);
    if (inner !== null) return inner;
  }
  return null;
}

/**
 * Strict, bounded JSON: the pre-scan (depth, duplicate keys), JSON.parse once, then no key that
 * names a prototype. A refusal says why and where (a byte offset, or -1).
 */
export function parseBoundedJson(
  text: string,
  maxDepth: number,
): { value: unknown } | { breach: LimitBreach } {
  const breach = scanJson(text, maxDepth);
  if (breach !== null) return { breach };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { breach: { offset: -1, message: `not valid JSON: ${(err as Error).message}` } };
  }
  const bad = forbiddenKey(value);
  if (bad !== null)
    return { breach: { offset: -1, message: `the key ${JSON.stringify(bad)} is not allowed` } };
  return { value };
}
