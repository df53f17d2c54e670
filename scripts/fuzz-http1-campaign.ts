/**
 * One campaign of the HTTP/1.1 parser fuzzer (fuzz-http1.ts is its command line): inputs made from
 * (seed, index) by fuzz-http1-mutate.ts, each read by Fulcrum's parser whole and split (a crash, a
 * hang or a split-dependent reading fails the run), a sample also by llhttp (a mismatch fails the
 * run; a stricter refusal is attributed by fuzz-http1-explain.ts or shown). The readers are a
 * parameter so that the fuzzer's own test can hand it broken ones and see each failure reported.
 */
import { type Clock, systemClock } from '../src/core/clock.ts';
import type { HeadLimits } from '../src/http1/head-parser.ts';
import { compareReadings, sameReading } from '../test/helpers/http1-compare.ts';
import { type Http1Case, requestCorpus } from '../test/helpers/http1-corpus.ts';
import { responseCorpus } from '../test/helpers/http1-corpus-responses.ts';
import {
  NoProgressError,
  type Reading,
  readRequests,
  readResponse,
  splitAt,
} from '../test/helpers/http1-readers.ts';
import { LlhttpOracles } from '../test/helpers/llhttp-oracle.ts';
import { explain } from './fuzz-http1-explain.ts';
import { cutPoints, inputRng, int, mutate, pick } from './fuzz-http1-mutate.ts';

export type Kind = 'both' | 'requests' | 'responses';

export interface Options {
  /** At most this many inputs... */
  n: number;
  /** ...and no new one after this many seconds. */
  seconds: number;
  seed: number;
  kind: Kind;
  diffEvery: number;
}

/** Fulcrum's readers, as the fuzzer calls them (test/helpers/http1-readers.ts unless a test says). */
export interface Readers {
  requests(pieces: readonly Buffer[], limits?: HeadLimits): Reading;
  response(pieces: readonly Buffer[], headOnly: boolean, limits?: HeadLimits): Reading;
}

export const FULCRUM: Readers = { requests: readRequests, response: readResponse };

/** An llhttp reading that takes this long is the oracle failing, not the parser. */
const ORACLE_TIMEOUT_MS = 10_000;
/** An input read (whole and split) slower than this is counted as slow. */
export const SLOW_INPUT_MS = 100;
const EXAMPLES_KEPT = 10;

/** One input: its bytes and how to read them. */
export interface Input {
  index: number;
  request: boolean;
  base: string;
  bytes: Buffer;
  headOnly: boolean;
  /** Small limits, to reach the 414/431 paths (never compared with llhttp). */
  limits: HeadLimits | undefined;
  cuts: number[];
}

const REQUESTS = requestCorpus();
const RESPONSES = responseCorpus();
/** The cases Fulcrum reads whole: half of the inputs start from one (valid input mutated a little). */
const READ_REQUESTS = REQUESTS.filter((c) => readRequests([c.bytes]).refused === null);
const READ_RESPONSES = RESPONSES.filter((c) => readResponse([c.bytes], c.headOnly === true).refused === null);

/** Input `index` of `seed`: a request or a response by `kind` (`both`: requests at even indexes). */
export function input(seed: number, index: number, kind: Kind): Input {
  const rng = inputRng(seed, index);
  const request = kind === 'both' ? index % 2 === 0 : kind === 'requests';
  const corpus: Http1Case[] = request ? REQUESTS : RESPONSES;
  const base = rng.next() < 0.5 ? pick(rng, corpus) : pick(rng, request ? READ_REQUESTS : READ_RESPONSES);
  const bytes = mutate(rng, base.bytes, pick(rng, corpus).bytes);
  const headOnly = !request && (base.headOnly === true || rng.next() < 0.05);
  const limits: HeadLimits | undefined =
    rng.next() < 0.125
      ? { maxHeadBytes: 32 + int(rng, 480), maxFields: 1 + int(rng, 12), maxTargetBytes: 1 + int(rng, 64) }
      : undefined;
  return { index, request, base: base.name, bytes, headOnly, limits, cuts: cutPoints(rng, bytes.length) };
}

export function read(readers: Readers, x: Input, pieces: Buffer[]): Reading {
  return x.request ? readers.requests(pieces, x.limits) : readers.response(pieces, x.headOnly, x.limits);
}

export interface Example {
  index: number;
  kind: string;
  base: string;
  /** The input, latin1. */
  bytes: string;
  detail: string;
}

export interface Summary {
  seed: number;
  kind: Kind;
  diffEvery: number;
  inputs: number;
  requests: number;
  responses: number;
  seconds: number;
  crashes: number;
  hangs: number;
  splitDependent: number;
  slowInputs: number;
  slowestMs: number;
  slowestIndex: number;
  verdicts: Record<string, number>;
  messagesRead: number;
  diff: {
    compared: number;
    bothAccepted: number;
    bothRefused: number;
    stricter: Record<string, number>;
    unexplained: number;
    mismatches: number;
    oracleFailures: number;
  };
  examples: Example[];
}

function bump(r: Record<string, number>, k: string): void {
  r[k] = (r[k] ?? 0) + 1;
}

export function verdictOf(r: Reading): string {
  if (r.refused !== null) return `refused: ${r.refused}`;
  const last = r.messages[r.messages.length - 1];
  return last?.complete ? 'accepted' : 'incomplete (waiting for more)';
}

function withTimeout<T>(clock: Clock, p: Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = clock.setTimer(ORACLE_TIMEOUT_MS, reject, new Error('llhttp oracle timed out'));
    p.then(
      (v) => {
        clock.clearTimer(t);
        resolve(v);
      },
      (err: unknown) => {
        clock.clearTimer(t);
        reject(err);
      },
    );
  });
}

function emptySummary(o: Options): Summary {
  return {
    seed: o.seed,
    kind: o.kind,
    diffEvery: o.diffEvery,
    inputs: 0,
    requests: 0,
    responses: 0,
    seconds: 0,
    crashes: 0,
    hangs: 0,
    splitDependent: 0,
    slowInputs: 0,
    slowestMs: 0,
    slowestIndex: -1,
    verdicts: {},
    messagesRead: 0,
    diff: {
      compared: 0,
      bothAccepted: 0,
      bothRefused: 0,
      stricter: {},
      unexplained: 0,
      mismatches: 0,
      oracleFailures: 0,
    },
    examples: [],
  };
}

type Keep = (x: Input, kind: string, detail: string) => void;

/**
 * The fuzzing loop: inputs 0, 1, ... until `o.n` of them or `o.seconds` have passed.
 * `progress[0]` counts inputs done and `progress[1]` is the current one (for a watchdog thread).
 */
export async function campaign(
  o: Options,
  readers: Readers = FULCRUM,
  progress: Int32Array = new Int32Array(2),
  clock: Clock = systemClock,
): Promise<Summary> {
  const s = emptySummary(o);
  const kept: Record<string, number> = {};
  const keep: Keep = (x, kind, detail) => {
    kept[kind] = (kept[kind] ?? 0) + 1;
    if (kept[kind] > EXAMPLES_KEPT) return;
    s.examples.push({ index: x.index, kind, base: x.base, bytes: x.bytes.toString('latin1'), detail });
  };
  const llhttp = await LlhttpOracles.start();
  const t0 = clock.monoMs();
  const stopAt = t0 + o.seconds * 1000;
  for (let i = 0; i < o.n && clock.monoMs() < stopAt; i++) {
    Atomics.store(progress, 1, i);
    const x = input(o.seed, i, o.kind);
    s.inputs++;
    if (x.request) s.requests++;
    else s.responses++;
    const start = clock.monoMs();
    let whole: Reading;
    let split: Reading;
    try {
      whole = read(readers, x, [x.bytes]);
      split = read(readers, x, splitAt(x.bytes, x.cuts));
    } catch (err) {
      const hang = err instanceof NoProgressError;
      if (hang) s.hangs++;
      else s.crashes++;
      keep(x, hang ? 'hang' : 'crash', err instanceof Error ? (err.stack ?? err.message) : String(err));
      Atomics.add(progress, 0, 1);
      continue;
    }
    const ms = clock.monoMs() - start;
    if (ms > s.slowestMs) {
      s.slowestMs = ms;
      s.slowestIndex = i;
    }
    if (ms > SLOW_INPUT_MS) s.slowInputs++;
    if (!sameReading(whole, split)) {
      s.splitDependent++;
      keep(
        x,
        'split-dependent',
        `cuts ${JSON.stringify(x.cuts)}: ${verdictOf(whole)} vs ${verdictOf(split)}`,
      );
    }
    bump(s.verdicts, `${x.request ? 'request' : 'response'} ${verdictOf(whole)}`);
    s.messagesRead += whole.messages.length;
    // One input in diffEvery of each kind (with both, requests are the even inputs, responses the odd).
    const j = o.kind === 'both' ? Math.floor(i / 2) : i;
    if (x.limits === undefined && j % o.diffEvery === 0) await differential(clock, x, whole, s, keep, llhttp);
    Atomics.add(progress, 0, 1);
    if ((i + 1) % 100_000 === 0)
      console.error(`fuzz-http1: ${i + 1} inputs, ${((clock.monoMs() - t0) / 1000).toFixed(1)} s`);
  }
  s.seconds = (clock.monoMs() - t0) / 1000;
  await llhttp.close();
  return s;
}

async function differential(
  clock: Clock,
  x: Input,
  fulcrum: Reading,
  s: Summary,
  keep: Keep,
  oracles: LlhttpOracles,
): Promise<void> {
  let llhttp: Reading;
  try {
    llhttp = await withTimeout(clock, oracles.read(x.bytes, !x.request, x.headOnly));
  } catch (err) {
    s.diff.oracleFailures++;
    keep(x, 'oracle-failure', String(err));
    return;
  }
  s.diff.compared++;
  const cmp = compareReadings(fulcrum, llhttp);
  if (cmp.verdict === 'mismatch') {
    s.diff.mismatches++;
    keep(x, 'mismatch', cmp.detail);
  } else if (cmp.verdict === 'fulcrum-stricter') {
    const why = explain(x.request, x.bytes, fulcrum, llhttp);
    if (why === null) {
      s.diff.unexplained++;
      keep(x, 'stricter-unexplained', `${cmp.detail}; llhttp: ${verdictOf(llhttp)}`);
    } else bump(s.diff.stricter, why);
  } else if (fulcrum.refused !== null) s.diff.bothRefused++;
  else s.diff.bothAccepted++;
}

/** The summary as the fuzzer prints it. */
export function report(s: Summary): string {
  const rate = s.seconds > 0 ? Math.round(s.inputs / s.seconds) : 0;
  const alone = Object.values(s.diff.stricter).reduce((a, b) => a + b, 0) + s.diff.unexplained;
  const lines = [
    `fuzz-http1: seed ${s.seed}: ${s.inputs} inputs (${s.requests} requests, ${s.responses} responses) in ${s.seconds.toFixed(1)} s (${rate}/s)`,
    `  crashes ${s.crashes}, hangs ${s.hangs}, split-dependent readings ${s.splitDependent}; slowest input #${s.slowestIndex} ${s.slowestMs.toFixed(1)} ms (${s.slowInputs} over ${SLOW_INPUT_MS} ms)`,
    `  Fulcrum's verdicts (${s.messagesRead} messages read):`,
    ...Object.entries(s.verdicts)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `    ${String(v).padStart(8)}  ${k}`),
    `  against llhttp (1 input in ${s.diffEvery}, default limits only): ${s.diff.compared} compared, ${s.diff.bothAccepted} both accepted alike, ${s.diff.bothRefused} both refused, ${s.diff.mismatches} mismatches, ${s.diff.oracleFailures} oracle failures`,
    `    Fulcrum alone refused ${alone}, by reason (${s.diff.unexplained} unexplained):`,
    ...Object.entries(s.diff.stricter)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `    ${String(v).padStart(8)}  ${k}`),
  ];
  for (const e of s.examples)
    lines.push(
      `  ${e.kind} #${e.index} (from '${e.base}'): ${e.detail.split('\n')[0]}\n      ${JSON.stringify(e.bytes).slice(0, 300)}`,
    );
  lines.push(`fuzz-http1: ${failed(s) ? 'FAILED' : 'passed'}`);
  return lines.join('\n');
}

/**
 * A crash, a hang, a split-dependent reading, a mismatch with llhttp or a refusal of Fulcrum alone
 * that none of its documented choices explains (a new strictness to document, or a parser refusing
 * valid input) fails the run. An oracle failure does not: it says nothing of the parser.
 */
export function failed(s: Summary): boolean {
  return s.crashes + s.hangs + s.splitDependent + s.diff.mismatches + s.diff.unexplained > 0;
}
