/**
 * The HTTP/1.1 parser fuzzer (scripts/fuzz-http1*.ts) is not part of the suite, but it must keep
 * working and must be able to fail: its command line runs a short campaign that finds nothing and
 * stops at its time bound, makes an input again from its seed and index, refuses bad options; and
 * a campaign handed broken readers (a crash, a hang, a reading that depends on the split, a reading
 * that differs from llhttp's, a refusal of valid input) reports each and fails. The command the
 * docs give is run by parser-doc.test.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  campaign,
  FULCRUM,
  failed,
  type Options,
  type Readers,
  report,
} from '../../../scripts/fuzz-http1-campaign.ts';
import { REPO_ROOT } from '../../helpers/child.ts';
import { NoProgressError, type Reading } from '../../helpers/http1-readers.ts';

const run = promisify(execFile);
const SCRIPT = join(REPO_ROOT, 'dist', 'scripts', 'fuzz-http1.js');

function fuzz(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [SCRIPT, ...args], { cwd: REPO_ROOT, timeout: 90_000 });
}

describe('the HTTP/1.1 parser fuzzer, from its command line', () => {
  it('runs a short campaign (differential sample included) and reports no failure', async () => {
    const { stdout } = await fuzz(['--n', '4000', '--seed', '7', '--diff-every', '10']);
    assert.match(stdout, /seed 7: 4000 inputs \(2000 requests, 2000 responses\)/);
    assert.match(stdout, /crashes 0, hangs 0, split-dependent readings 0/);
    assert.match(
      stdout,
      /: (\d+) compared, \d+ both accepted alike, \d+ both refused, 0 mismatches, 0 oracle failures/,
    );
    const compared = Number(/: (\d+) compared/.exec(stdout)![1]);
    assert.ok(compared >= 300, `${compared} inputs compared with llhttp`);
    assert.match(stdout, /\(0 unexplained\)/);
    assert.match(stdout, /^fuzz-http1: passed$/m);
  });

  it('without --n, stops at its --seconds bound; --kind reads one kind only', async () => {
    const { stdout } = await fuzz(['--seconds', '1', '--kind', 'responses', '--seed', '3']);
    const m = /seed 3: (\d+) inputs \(0 requests, (\d+) responses\) in ([\d.]+) s/.exec(stdout);
    assert.ok(m !== null, stdout);
    assert.equal(m[1], m[2]);
    // Nothing else ends an unbounded run: it went on until the bound.
    assert.ok(Number(m[3]) >= 1, `ran ${m[3]} s`);
    assert.match(stdout, /^fuzz-http1: passed$/m);
  });

  it('makes an input again from its seed and index', async () => {
    const a = await fuzz(['--only', '12', '--seed', '7']);
    const b = await fuzz(['--only', '12', '--seed', '7']);
    assert.equal(a.stdout, b.stdout);
    assert.match(a.stdout, /^comparison: \{"verdict":"(same|fulcrum-stricter)"/m);
  });

  it('refuses an option it does not know or a value out of its range', async () => {
    for (const args of [
      ['--kind', 'both-ways'],
      ['--seconds', '0'],
      ['--frobnicate', '1'],
    ])
      await assert.rejects(fuzz(args), (err: { code: number; stderr: string }) => {
        assert.notEqual(err.code, 0);
        assert.match(err.stderr, /--kind: one of|--seconds: a number|unknown option --frobnicate/);
        return true;
      });
  });
});

const SMALL: Options = { n: 300, seconds: 120, seed: 11, kind: 'both', diffEvery: 2 };
const size = (pieces: readonly Buffer[]): number => pieces.reduce((a, p) => a + p.length, 0);

/** The real readers with `requests` replaced. */
function brokenRequests(requests: Readers['requests']): Readers {
  return { requests, response: FULCRUM.response };
}

/** The real readers, but reading a request of an odd length throws `err`. */
function throwing(err: Error): Readers {
  return brokenRequests((pieces, limits) => {
    if (size(pieces) % 2 === 1) throw err;
    return FULCRUM.requests(pieces, limits);
  });
}

describe('the HTTP/1.1 parser fuzzer, handed broken readers', () => {
  it('finds nothing with the real readers', async () => {
    const s = await campaign(SMALL);
    assert.equal(failed(s), false, report(s));
    assert.ok(s.diff.compared >= 100, `${s.diff.compared} compared`);
  });

  it('reports a reader that throws as a crash, or that stops making progress as a hang', async () => {
    const crash = await campaign(SMALL, throwing(new TypeError('a parser bug')));
    assert.ok(crash.crashes > 0 && failed(crash), report(crash));
    assert.match(report(crash), /crash #\d+ .*a parser bug/);
    const hang = await campaign(SMALL, throwing(new NoProgressError('no progress')));
    assert.ok(hang.hangs > 0 && failed(hang), report(hang));
  });

  it('reports a reading that depends on how the bytes were split', async () => {
    const s = await campaign(
      SMALL,
      brokenRequests((pieces, limits) =>
        pieces.length > 1
          ? { messages: [], refused: 'head-400', closed: false }
          : FULCRUM.requests(pieces, limits),
      ),
    );
    assert.ok(s.splitDependent > 0 && failed(s), report(s));
  });

  it('reports a reading that differs from llhttp as a mismatch', async () => {
    const s = await campaign(
      SMALL,
      brokenRequests((pieces, limits): Reading => {
        const r = FULCRUM.requests(pieces, limits);
        // Every field value read with a byte more than was sent.
        for (const m of r.messages) m.headers = m.headers.map((h, i) => (i % 2 === 1 ? `${h}x` : h));
        return r;
      }),
    );
    assert.ok(s.diff.mismatches > 0 && failed(s), report(s));
  });

  it('reports refusals of valid input that no documented choice explains', async () => {
    const s = await campaign(
      SMALL,
      brokenRequests((pieces, limits): Reading => {
        const r = FULCRUM.requests(pieces, limits);
        return r.refused === null ? { messages: [], refused: 'head-400', closed: false } : r;
      }),
    );
    assert.ok(s.diff.unexplained > 0 && failed(s), report(s));
    assert.match(report(s), /stricter-unexplained #\d+/);
  });
});
