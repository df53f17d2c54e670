/**
 * src/core/linear-regex.ts: what is refused and why, that accepted regexes cannot backtrack without
 * bound, and that the case-insensitive rewrite matches exactly what V8's `i` flag matches (V8 is
 * the oracle: every code unit of the BMP, and random patterns from a seeded generator).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { caseFold, linearRegExp, regexProblem } from '../../../src/core/linear-regex.ts';
import { seededRng } from '../../../src/core/random.ts';

const hex4 = (cp: number) => `\\u${cp.toString(16).padStart(4, '0')}`;
let every = '';
for (let c = 0; c <= 0xffff; c++) every += String.fromCharCode(c);

/** The code units of `every` that a global regex matches, as a sorted string. */
const matched = (re: RegExp) => (every.match(re) ?? []).join('');

describe('linear regexes: refusals', () => {
  const refused = (src: string, what: RegExp, ignoreCase = false) => {
    const p = regexProblem(src, { ignoreCase });
    assert.ok(p !== null, `${src} should be refused`);
    assert.match(p, what);
    assert.throws(() => linearRegExp(src, { ignoreCase }), { message: what });
  };

  it('refuses what needs backtracking, naming it', () => {
    refused('(a)\\1', /^regular expression refused: a backreference "\\1"/);
    refused('(?<x>a)\\k<x>', /a backreference "\\k<x>"/);
    refused('a(?=b)', /a lookahead "\(\?="/);
    refused('a(?!b)', /a negative lookahead/);
    refused('(?<=a)b', /a lookbehind "\(\?<="/, true);
    refused('[\\1]', /an octal escape/);
    refused('\\01', /an octal escape/);
  });

  it('refuses counted repetitions past {16}, and nested ones whose product is', () => {
    refused('a{17}', /up to \{16\}, not \{17\}/);
    refused('a{2,100}', /not \{2,100\}/);
    refused('(?:a{5}){4}', /nested counts multiply/);
    assert.equal(regexProblem('a{16}(?:b{4}){4}'), null);
  });

  it("keeps V8's own reason for a syntax error", () => {
    assert.equal(regexProblem('(x'), 'invalid regular expression: Unterminated group');
    assert.equal(regexProblem('a**'), 'invalid regular expression: Nothing to repeat');
  });

  it('accepts nested quantifiers and overlapping alternations: they run in linear time', () => {
    for (const src of ['(a+)+$', '(a|a)*$', '(a|ab)*c', '(.*a){12}', '^(\\w+\\s?)*$'])
      assert.equal(regexProblem(src), null, src);
  });
});

describe('linear regexes: no input makes them backtrack without bound', () => {
  // Each of these takes about 2^n steps in a backtracking matcher: n = 10,000 could never end.
  const hostile = `${'a'.repeat(10000)}!`;
  it('(a+)+$, (a|a)*$, (a|aa)+$ and the case-insensitive ~* form end, with the right answer', () => {
    assert.equal(linearRegExp('(a+)+$', {}, '^(?:', ')').test(hostile), false);
    assert.equal(linearRegExp('(a|a)*$', {}, '^(?:', ')').test(hostile), false);
    assert.equal(linearRegExp('(a|aa)+$', {}, '^(?:', ')').test(hostile), false);
    assert.equal(linearRegExp('^(a+)+$', { ignoreCase: true }).test(hostile.toUpperCase()), false);
    assert.equal(linearRegExp('^(a+)+$', { ignoreCase: true }).test('aAaA'), true);
  });

  it('keeps numbered and named captures (uri_capture reads them)', () => {
    const m = linearRegExp('/api/v(?<version>\\d+)/(\\w+)', {}, '^(?:', ')').exec('/api/v12/users/7');
    assert.ok(m !== null);
    assert.equal(m[0], '/api/v12/users');
    assert.equal(m[1], '12');
    assert.equal(m.groups?.version, '12');
    assert.equal(m[2], 'users');
  });
});

describe('caseFold matches what V8 matches with the i flag', () => {
  // The code units that have case variants: where a negated class can differ from its rewrite.
  let cased = '';
  for (let c = 0; c <= 0xffff; c++) {
    const s = String.fromCharCode(c);
    if (s.toUpperCase() !== s || s.toLowerCase() !== s) cased += s;
  }

  it('for every code unit, in a class: blocks of 64, scanned over the whole BMP', () => {
    for (let lo = 0; lo <= 0xffff; lo += 64) {
      const src = `[${hex4(lo)}-${hex4(lo + 63)}]`;
      assert.equal(matched(new RegExp(caseFold(src), 'g')), matched(new RegExp(src, 'gi')), src);
      const neg = `[^${hex4(lo)}-${hex4(lo + 63)}]`;
      const inCased = (re: RegExp) => (cased.match(re) ?? []).join('');
      assert.equal(inCased(new RegExp(caseFold(neg), 'g')), inCased(new RegExp(neg, 'gi')), neg);
    }
  });

  it('for every code unit that has case variants, as a literal', () => {
    for (let i = 0; i < cased.length; i++) {
      const src = hex4(cased.charCodeAt(i));
      const want = (cased.match(new RegExp(src, 'gi')) ?? []).join('');
      assert.equal((cased.match(new RegExp(caseFold(src), 'g')) ?? []).join(''), want, src);
    }
  });

  it('for random patterns: the same matches, captures and groups (seeded)', () => {
    const rng = seededRng(12);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
    const atoms = [
      'a',
      'B',
      'k',
      'S',
      'ſ',
      'K',
      'é',
      'Σ',
      'ς',
      'ǅ',
      'ß',
      '1',
      '-',
      '.',
      '\\x41',
      '\\u0062',
      '\\cJ',
      '\\e',
      '\\p',
      '\\w',
      '\\W',
      '\\d',
      '\\s',
      '\\b',
      '[a-c]',
      '[^a-c]',
      '[A-Zk-]',
      '[\\w-]',
      '[^\\W_]',
      '[σ-ω]',
      '[\\x41-\\x5a]',
      '[é]',
      '[\\b]',
      '[a-\\d]',
      '[]',
      '[^]',
      '\\{',
      'x{2}',
    ];
    const piece = (depth: number): string => {
      const r = rng.next();
      if (depth > 0 && r < 0.15) return `(${piece(depth - 1)}${piece(depth - 1)})`;
      if (depth > 0 && r < 0.25) return `(?<g${Math.floor(rng.next() * 1e6)}>${piece(depth - 1)})`;
      if (depth > 0 && r < 0.35) return `(?:${piece(depth - 1)}|${piece(depth - 1)})`;
      return pick(atoms) + pick(['', '', '*', '+', '?', '{1,3}', '*?']);
    };
    const alphabet = 'aAbBkKsSſKéÉσΣςǄǅǆßẞ1- \nJ{_xX';
    for (let n = 0; n < 3000; n++) {
      const src = Array.from({ length: 1 + Math.floor(rng.next() * 4) }, () => piece(2)).join('');
      if (regexProblem(src, { ignoreCase: true }) !== null) continue;
      const folded = new RegExp(caseFold(src));
      const oracle = new RegExp(src, 'i');
      for (let k = 0; k < 8; k++) {
        const input = Array.from({ length: Math.floor(rng.next() * 8) }, () => pick([...alphabet])).join('');
        const a = oracle.exec(input);
        const b = folded.exec(input);
        assert.deepEqual(
          b && { m: [...b], i: b.index, g: b.groups },
          a && { m: [...a], i: a.index, g: a.groups },
          `${src} on ${JSON.stringify(input)}`,
        );
      }
    }
  });
});
