/**
 * Regular expressions from the configuration (route paths and header matchers, a health check's
 * `http_body`, cors origins), compiled so that no input can make them backtrack catastrophically:
 * one request with 31 a's against `/(a+)+$` must not hold the event loop for a minute.
 *
 * The engine is V8's own: its linear-time engine (an RE2-style NFA simulation, V8's "experimental"
 * engine, the one behind the `l` flag) takes over any run that exceeds 50,000 backtracks
 * (`--enable-experimental-regexp-engine-on-excessive-backtracks`). So the usual case keeps
 * irregexp's speed (about 50 ns a route match; the linear engine alone takes about 600 ns), and the
 * worst case is linear. That holds only for patterns the linear engine can run, so validation
 * refuses the others: backreferences, lookahead and lookbehind, inline modifiers, and counted
 * repetitions past {16} (nested counts multiply). The linear engine has no case-insensitive mode,
 * so a `~*` header regex is rewritten without the `i` flag (`a` → `[aA]`, classes closed under
 * V8's own case mapping), which `caseFold` does and a test checks against V8's `i` on every
 * character.
 *
 * Why not the `re2` package: it has no prebuilt binary reachable from the npm registry alone, so it
 * builds RE2 and Abseil from source with node-gyp at install (2 min on Node 20, 3.5 min on Node 24
 * on this 2-core machine), npm 11 flags that script as not covered by the project's `allowScripts`
 * (it ran here; with `strict-allow-scripts` it is skipped), and the user npmrc's `nodedir` made
 * the Node 24 build link against Node 20's headers (a module that fails to load). `re2-wasm`
 * needs no build but takes ~9.5 µs a match and aborts the process when its fixed 16 MB heap fills
 * (its objects are never freed). Why not a "safe subset" check
 * alone: static ReDoS detection misses polynomial cases (`.*a.*a.*a`) that a linear engine bounds.
 *
 * The V8 flags are set once, from here, before the first of these regexes is compiled; they are
 * process-wide (other regexes gain the same fallback). If a future V8 drops them, every regex is
 * refused at validation (fail closed) rather than compiled unprotected.
 */
import { setFlagsFromString } from 'node:v8';

export interface RegexOptions {
  /** Case-insensitive (the `~*` header matchers). */
  readonly ignoreCase?: boolean;
}

/** The largest count V8's linear engine replicates (`x{16}`; nested counts multiply). */
export const MAX_LINEAR_REPEAT = 16;

/** The flag that runs a regex on the linear engine (a variable: TypeScript knows only the standard flags). */
const LINEAR_FLAG: string = 'l';

let engine: boolean | null = null;

/** Turn on V8's linear engine and its fallback; false when this V8 does not have them. */
function linearEngine(): boolean {
  if (engine === null) {
    setFlagsFromString('--enable-experimental-regexp-engine');
    setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
    try {
      new RegExp('a', LINEAR_FLAG);
      engine = true;
    } catch {
      engine = false;
    }
  }
  return engine;
}

// ---- A lexical view of a pattern (non-Unicode mode, Annex B), enough to name what is refused
// ---- and to fold case; V8 remains the judge of syntax and of what its linear engine can run.

type Token =
  | { readonly kind: 'char'; readonly cp: number; readonly raw: string }
  | {
      readonly kind: 'class';
      readonly raw: string;
      readonly items: readonly ClassItem[];
      readonly negated: boolean;
    }
  | { readonly kind: 'refused'; readonly raw: string; readonly what: string }
  | { readonly kind: 'raw'; readonly raw: string };

/** A class member: a code unit range (a single character is lo === hi) or an escape like `\d`. */
type ClassItem = { readonly lo: number; readonly hi: number } | { readonly escape: string };

const CLASS_ESCAPES = 'dDwWsS';
const CONTROL_ESCAPES: Readonly<Record<string, number>> = { f: 12, n: 10, r: 13, t: 9, v: 11 };
const HEX2 = /^[0-9a-fA-F]{2}$/;
const HEX4 = /^[0-9a-fA-F]{4}$/;

/** The character an escape at s[i] (a backslash) stands for: [code unit or null, length]. */
function escapedChar(s: string, i: number, inClass: boolean): [number | null, number] {
  const e = s[i + 1] ?? '';
  if (CONTROL_ESCAPES[e] !== undefined) return [CONTROL_ESCAPES[e]!, 2];
  if (inClass && e === 'b') return [8, 2];
  if (e === 'c') {
    const x = s[i + 2] ?? '';
    if (/[A-Za-z]/.test(x) || (inClass && /[0-9_]/.test(x))) return [x.charCodeAt(0) % 32, 3];
    return [0x5c, 1]; // Annex B: a lone `\c` is a backslash, and `c` is read next
  }
  if (e === 'x' && HEX2.test(s.slice(i + 2, i + 4))) return [Number.parseInt(s.slice(i + 2, i + 4), 16), 4];
  if (e === 'u' && HEX4.test(s.slice(i + 2, i + 6))) return [Number.parseInt(s.slice(i + 2, i + 6), 16), 6];
  if (e === '0' && !/[0-9]/.test(s[i + 2] ?? '')) return [0, 2];
  if (/[0-9]/.test(e)) return [null, 2];
  return [e.charCodeAt(0), 2]; // an identity escape
}

function classToken(s: string, start: number): [Token, number] {
  let i = start + 1;
  const negated = s[i] === '^';
  if (negated) i++;
  const items: ClassItem[] = [];
  const single = (): ClassItem | Token => {
    if (s[i] !== '\\') {
      const cp = s.charCodeAt(i++);
      return { lo: cp, hi: cp };
    }
    const e = s[i + 1] ?? '';
    if (CLASS_ESCAPES.includes(e)) {
      i += 2;
      return { escape: `\\${e}` };
    }
    const [cp, n] = escapedChar(s, i, true);
    if (cp === null) return { kind: 'refused', raw: s.slice(i, i + n), what: 'an octal escape' };
    i += n;
    return { lo: cp, hi: cp };
  };
  while (i < s.length && s[i] !== ']') {
    const a = single();
    if ('kind' in a) return [a, i];
    if ('lo' in a && s[i] === '-' && s[i + 1] !== ']' && i + 1 < s.length) {
      const save = i;
      i++;
      const b = single();
      if ('kind' in b) return [b, i];
      if ('lo' in b) {
        items.push({ lo: a.lo, hi: b.hi });
        continue;
      }
      i = save; // `[a-\d]`: the dash is a character
    }
    items.push(a);
  }
  return [{ kind: 'class', raw: s.slice(start, i + 1), items, negated }, i + 1];
}

function groupToken(s: string, i: number): [Token, number] {
  if (s[i + 1] !== '?') return [{ kind: 'raw', raw: '(' }, i + 1];
  for (const [open, what] of [
    ['(?:', null],
    ['(?=', 'a lookahead'],
    ['(?!', 'a negative lookahead'],
    ['(?<=', 'a lookbehind'],
    ['(?<!', 'a negative lookbehind'],
  ] as const)
    if (s.startsWith(open, i))
      return [
        what === null ? { kind: 'raw', raw: open } : { kind: 'refused', raw: open, what },
        i + open.length,
      ];
  if (s[i + 2] === '<') {
    const end = s.indexOf('>', i);
    const raw = s.slice(i, end < 0 ? s.length : end + 1);
    return [{ kind: 'raw', raw }, i + raw.length];
  }
  const end = s.indexOf(':', i);
  const raw = s.slice(i, end < 0 ? i + 2 : end + 1);
  return [{ kind: 'refused', raw, what: 'an inline modifier' }, i + raw.length];
}

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    let t: Token;
    if (c === '[') [t, i] = classToken(s, i);
    else if (c === '(') [t, i] = groupToken(s, i);
    else if (c === '\\') {
      const e = s[i + 1] ?? '';
      if ('dDwWsSbB'.includes(e)) t = { kind: 'raw', raw: s.slice(i, i + 2) };
      else if (e === 'k' && s[i + 2] === '<') {
        const end = s.indexOf('>', i);
        t = { kind: 'refused', raw: s.slice(i, end < 0 ? s.length : end + 1), what: 'a backreference' };
      } else {
        const [cp, n] = escapedChar(s, i, false);
        const raw = s.slice(i, i + n);
        t =
          cp === null
            ? { kind: 'refused', raw, what: raw === '\\0' ? 'an octal escape' : 'a backreference' }
            : { kind: 'char', cp, raw };
      }
      i += t.raw.length;
    } else {
      t = '^$.|)*+?{}'.includes(c) ? { kind: 'raw', raw: c } : { kind: 'char', cp: s.charCodeAt(i), raw: c };
      i++;
    }
    out.push(t);
  }
  return out;
}

// ---- Case folding: V8's Canonicalize for non-Unicode `i` (ECMA-262 22.2.2.7.3): toUpperCase when
// ---- that gives one code unit, except that nothing outside ASCII folds into ASCII.

let foldClasses: Map<number, number[]> | null = null;

function canonicalize(cp: number): number {
  const u = String.fromCharCode(cp).toUpperCase();
  if (u.length !== 1) return cp;
  const c = u.charCodeAt(0);
  return cp >= 128 && c < 128 ? cp : c;
}

/** Every code unit that `i` treats as equal to `cp` (itself included). */
function equivalents(cp: number): readonly number[] {
  if (foldClasses === null) {
    const byCanon = new Map<number, number[]>();
    for (let c = 0; c <= 0xffff; c++) {
      const k = canonicalize(c);
      const list = byCanon.get(k);
      if (list === undefined) byCanon.set(k, [c]);
      else list.push(c);
    }
    foldClasses = new Map();
    for (const list of byCanon.values()) if (list.length > 1) for (const c of list) foldClasses.set(c, list);
  }
  return foldClasses.get(cp) ?? [cp];
}

const hex4 = (cp: number) => `\\u${cp.toString(16).padStart(4, '0')}`;

function rangesText(cps: Iterable<number>): string {
  const sorted = [...new Set(cps)].sort((a, b) => a - b);
  let out = '';
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out += i === j ? hex4(sorted[i]!) : `${hex4(sorted[i]!)}-${hex4(sorted[j]!)}`;
    i = j + 1;
  }
  return out;
}

/**
 * The pattern without the `i` flag that matches exactly what `new RegExp(source, 'i')` matches, with
 * the same captures: each character becomes the class of its case variants, and each class gains
 * the variants of its members. Only meaningful for a source V8 accepts.
 */
export function caseFold(source: string): string {
  let out = '';
  for (const t of tokenize(source)) {
    if (t.kind === 'char') {
      const eq = equivalents(t.cp);
      out += eq.length === 1 ? t.raw : `[${rangesText(eq)}]`;
    } else if (t.kind === 'class') {
      const extra = new Set<number>();
      let escapes = '';
      for (const it of t.items) {
        if ('escape' in it) escapes += it.escape;
        else for (let c = it.lo; c <= it.hi; c++) for (const e of equivalents(c)) extra.add(e);
      }
      out += `[${t.negated ? '^' : ''}${escapes}${rangesText(extra)}]`;
    } else out += t.raw;
  }
  return out;
}

// ---- Validation and compilation

function syntaxError(source: string, flags: string): string | null {
  try {
    new RegExp(source, flags);
    return null;
  } catch (err) {
    // V8 says `Invalid regular expression: /(x/: Unterminated group`: keep the reason only.
    const m = (err as Error).message;
    const at = m.lastIndexOf(': ');
    return at >= 0 ? m.slice(at + 2) : m;
  }
}

/** Why V8's linear engine refuses a pattern that has none of the refused constructs: its counts. */
function countsReason(source: string): string {
  const big = [...source.matchAll(/\{(\d+)(?:,(\d*))?\}/g)].find(
    (m) => Number(m[1]) > MAX_LINEAR_REPEAT || Number(m[2] || 0) > MAX_LINEAR_REPEAT,
  );
  return big !== undefined
    ? `the linear engine takes counted repetitions up to {${MAX_LINEAR_REPEAT}}, not ${big[0]}: split it (x{32} as x{16}x{16})`
    : `the linear engine takes counted repetitions up to {${MAX_LINEAR_REPEAT}}, and nested counts multiply: unnest them`;
}

/**
 * Why `source` may not be used as a configured regex, or null when it may. The message starts with
 * `invalid regular expression:` when V8 cannot parse it, `regular expression refused:` when it
 * parses but could not be run in linear time.
 */
export function regexProblem(source: string, opts: RegexOptions = {}): string | null {
  const syntax = syntaxError(source, opts.ignoreCase ? 'i' : '');
  if (syntax !== null) return `invalid regular expression: ${syntax}`;
  const refused = tokenize(source).find((t) => t.kind === 'refused');
  if (refused !== undefined)
    return `regular expression refused: ${refused.what} "${refused.raw}" needs backtracking, and regexes here must run in linear time`;
  if (!linearEngine())
    return 'regular expression refused: this Node.js has no linear-time regex engine (V8 --enable-experimental-regexp-engine)';
  if (syntaxError(opts.ignoreCase ? caseFold(source) : source, LINEAR_FLAG) !== null)
    return `regular expression refused: ${countsReason(source)}`;
  return null;
}

/**
 * Compile a regex that `regexProblem` accepted, wrapped as `before + source + after` (say `^(?:` and
 * `)` to anchor it); throws with the problem's message otherwise, so a caller that skipped
 * validation fails loudly instead of compiling a regex that can backtrack without bound.
 */
export function linearRegExp(source: string, opts: RegexOptions = {}, before = '', after = ''): RegExp {
  const problem = regexProblem(source, opts);
  if (problem !== null) throw new Error(problem);
  return new RegExp(before + (opts.ignoreCase ? caseFold(source) : source) + after);
}
