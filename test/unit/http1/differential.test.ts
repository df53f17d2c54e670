/**
 * Fulcrum's HTTP/1.1 parser (src/http1/) against Node's llhttp in strict mode, on a corpus of valid
 * and hostile messages (test/helpers/http1-corpus.ts): whatever llhttp refuses Fulcrum refuses,
 * whatever both accept they read the same (method, target, version, header names and values, body,
 * trailers, and where the message ends), and each case Fulcrum refuses while llhttp accepts it is
 * one the corpus lists with its reason. llhttp is reached through Node's public API only (an
 * http server fed raw bytes over a socket; an http.request answered by a raw server), Fulcrum's
 * parser as the proxy's connections drive it (test/helpers/http1-readers.ts). The fuzzer
 * (scripts/fuzz-http1.ts) runs the same comparison on mutations of this corpus.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { seededRng } from '../../../src/core/random.ts';
import { compareReadings, sameReading, type Verdict } from '../../helpers/http1-compare.ts';
import { type Http1Case, requestCorpus } from '../../helpers/http1-corpus.ts';
import { responseCorpus } from '../../helpers/http1-corpus-responses.ts';
import { type Reading, readRequests, readResponse, splitAt } from '../../helpers/http1-readers.ts';
import { LlhttpOracles } from '../../helpers/llhttp-oracle.ts';

interface Tally {
  same: number;
  bothRefused: number;
  stricter: number;
  problems: string[];
}

/** Judge one case: a mismatch, or a verdict other than the one the corpus expects, is a problem. */
function judge(t: Tally, c: Http1Case, fulcrum: Reading, llhttp: Reading): void {
  const cmp = compareReadings(fulcrum, llhttp);
  const verdict: Verdict = cmp.verdict;
  if (verdict === 'mismatch') t.problems.push(`${c.name}: ${cmp.detail}`);
  else if (verdict === 'fulcrum-stricter' && c.stricter === undefined)
    t.problems.push(
      `${c.name}: Fulcrum refuses (${cmp.detail}) what llhttp accepts, and the corpus gives no reason`,
    );
  else if (verdict === 'same' && c.stricter !== undefined && c.llhttpVaries !== true)
    t.problems.push(`${c.name}: listed as stricter (${c.stricter}) but both read it alike`);
  else if (verdict === 'fulcrum-stricter') t.stricter++;
  else if (fulcrum.refused !== null) t.bothRefused++;
  else t.same++;
}

function tally(): Tally {
  return { same: 0, bothRefused: 0, stricter: 0, problems: [] };
}

/** The case cut into pieces: every byte alone, and a few seeded random cuts. */
function splits(bytes: Buffer, seed: number): Buffer[][] {
  const rng = seededRng(seed);
  const out: Buffer[][] = [];
  if (bytes.length <= 2048)
    out.push(
      splitAt(
        bytes,
        Array.from({ length: bytes.length }, (_, i) => i),
      ),
    );
  for (let k = 0; k < 3; k++) {
    const cuts = Array.from({ length: 1 + Math.floor(rng.next() * 6) }, () =>
      Math.floor(rng.next() * bytes.length),
    );
    out.push(
      splitAt(
        bytes,
        cuts.sort((a, b) => a - b),
      ),
    );
  }
  return out;
}

describe('HTTP/1.1 parser against llhttp (differential)', () => {
  let llhttp: LlhttpOracles;
  before(async () => {
    llhttp = await LlhttpOracles.start();
  });
  after(() => llhttp.close());

  it('reads requests as llhttp does, refusing all it refuses, and more only where listed', async () => {
    const corpus = requestCorpus();
    const t = tally();
    for (const c of corpus) judge(t, c, readRequests([c.bytes]), await llhttp.read(c.bytes, false));
    assert.deepEqual(t.problems, []);
    // A corpus that llhttp and Fulcrum only ever agree on accepting would prove little.
    assert.ok(corpus.length >= 200, `${corpus.length} request cases`);
    assert.ok(t.same >= 80, `both accept ${t.same}`);
    assert.ok(t.bothRefused >= 80, `both refuse ${t.bothRefused}`);
    assert.ok(t.stricter >= 20, `Fulcrum alone refuses ${t.stricter}`);
  });

  it('reads responses as llhttp does, refusing all it refuses, and more only where listed', async () => {
    const corpus = responseCorpus();
    const t = tally();
    for (const c of corpus) {
      const headOnly = c.headOnly === true;
      judge(t, c, readResponse([c.bytes], headOnly), await llhttp.read(c.bytes, true, headOnly));
    }
    assert.deepEqual(t.problems, []);
    assert.ok(corpus.length >= 150, `${corpus.length} response cases`);
    assert.ok(t.same >= 30, `both accept ${t.same}`);
    assert.ok(t.bothRefused >= 60, `both refuse ${t.bothRefused}`);
    assert.ok(t.stricter >= 10, `Fulcrum alone refuses ${t.stricter}`);
  });

  it('reads every case the same however its bytes are split', () => {
    const problems: string[] = [];
    let seed = 1;
    for (const c of requestCorpus()) {
      const whole = readRequests([c.bytes]);
      for (const pieces of splits(c.bytes, seed++))
        if (!sameReading(readRequests(pieces), whole))
          problems.push(`request ${c.name}: ${pieces.length} pieces`);
    }
    for (const c of responseCorpus()) {
      const headOnly = c.headOnly === true;
      const whole = readResponse([c.bytes], headOnly);
      for (const pieces of splits(c.bytes, seed++))
        if (!sameReading(readResponse(pieces, headOnly), whole))
          problems.push(`response ${c.name}: ${pieces.length} pieces`);
    }
    assert.deepEqual(problems, []);
  });

  it('catches a parser that differs from llhttp (the comparison can fail)', async () => {
    // Fulcrum's reading of one case set against llhttp's reading of another: a different target,
    // then a request llhttp refuses where Fulcrum's reading accepted one.
    const a = Buffer.from('GET /a HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1');
    const b = Buffer.from('GET /b HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1');
    const bad = Buffer.from('GET /a HTTP/1.1\r\nHost: x\r\nX : y\r\n\r\n', 'latin1');
    assert.equal(compareReadings(readRequests([a]), await llhttp.read(b, false)).verdict, 'mismatch');
    assert.equal(compareReadings(readRequests([a]), await llhttp.read(bad, false)).verdict, 'mismatch');
    assert.equal(
      compareReadings(readRequests([bad]), await llhttp.read(a, false)).verdict,
      'fulcrum-stricter',
    );
  });
});
