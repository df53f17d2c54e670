/**
 * The HTTP/1.1 parser fuzzer's command line (not part of `npm test`; docs/http1-parser.md):
 *
 *   npm run fuzz:http1 -- [--seconds 60] [--n N] [--seed S] [--kind both|requests|responses]
 *                         [--diff-every 100] [--json FILE] [--only INDEX]
 *
 * Runs mutated requests and responses through Fulcrum's parser until `--seconds` have passed or
 * `--n` inputs were read (fuzz-http1-campaign.ts says what is checked). The campaign runs in a
 * worker thread; this thread is its watchdog: an input that makes no progress for 60 s (a parser
 * that never returns) ends the run with exit status 2 and its index. Exit status 0 when nothing
 * failed, 1 otherwise. Input `i` is a function of (seed, i, kind) alone: `--only i` makes it again
 * and prints Fulcrum's readings, whole and split, llhttp's and their comparison.
 */
import { writeFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { systemClock } from '../src/core/clock.ts';
import { compareReadings } from '../test/helpers/http1-compare.ts';
import { splitAt } from '../test/helpers/http1-readers.ts';
import { LlhttpOracles } from '../test/helpers/llhttp-oracle.ts';
import {
  campaign,
  FULCRUM,
  failed,
  input,
  type Kind,
  type Options,
  read,
  report,
  type Summary,
} from './fuzz-http1-campaign.ts';

/** No progress for this long is a hang (the parser never returned). */
const HANG_MS = 60_000;
const KINDS: readonly Kind[] = ['both', 'requests', 'responses'];

interface Cli extends Options {
  only: number | null;
  json: string | null;
}

function options(argv: readonly string[]): Cli {
  const o: Cli = {
    n: Number.MAX_SAFE_INTEGER,
    seconds: 60,
    seed: 1,
    kind: 'both',
    diffEvery: 100,
    only: null,
    json: null,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${argv[i]} needs a value`);
    if (argv[i] === '--n') o.n = Number(v);
    else if (argv[i] === '--seconds') o.seconds = Number(v);
    else if (argv[i] === '--seed') o.seed = Number(v);
    else if (argv[i] === '--kind') o.kind = v as Kind;
    else if (argv[i] === '--diff-every') o.diffEvery = Number(v);
    else if (argv[i] === '--only') o.only = Number(v);
    else if (argv[i] === '--json') o.json = v;
    else throw new Error(`unknown option ${argv[i]}`);
  }
  if (!Number.isSafeInteger(o.n) || o.n < 1) throw new Error('--n: a positive integer');
  if (!(o.seconds > 0 && o.seconds <= 86_400)) throw new Error('--seconds: a number in (0, 86400]');
  if (!Number.isSafeInteger(o.seed)) throw new Error('--seed: an integer');
  if (!KINDS.includes(o.kind)) throw new Error(`--kind: one of ${KINDS.join(', ')}`);
  if (!Number.isSafeInteger(o.diffEvery) || o.diffEvery < 1)
    throw new Error('--diff-every: a positive integer');
  return o;
}

/** `--only i`: one input made again, both readings shown. */
async function only(o: Cli, index: number): Promise<void> {
  const x = input(o.seed, index, o.kind);
  const whole = read(FULCRUM, x, [x.bytes]);
  const shown = {
    index,
    base: x.base,
    request: x.request,
    headOnly: x.headOnly,
    limits: x.limits,
    cuts: x.cuts,
    bytes: x.bytes.toString('latin1'),
  };
  console.log(JSON.stringify(shown, null, 2));
  console.log('fulcrum, whole:', JSON.stringify(whole));
  console.log('fulcrum, split:', JSON.stringify(read(FULCRUM, x, splitAt(x.bytes, x.cuts))));
  const oracles = await LlhttpOracles.start();
  const llhttp = await oracles.read(x.bytes, !x.request, x.headOnly);
  await oracles.close();
  console.log('llhttp:', JSON.stringify(llhttp));
  console.log('comparison:', JSON.stringify(compareReadings(whole, llhttp)));
}

async function mainThread(): Promise<void> {
  const o = options(process.argv.slice(2));
  if (o.only !== null) return only(o, o.only);
  const progress = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(new URL(import.meta.url), { workerData: { o, progress } });
  let seen = -1;
  let since = systemClock.monoMs();
  let watchdog = systemClock.setTimer(1000, watch, undefined);
  function watch(): void {
    const now = Atomics.load(progress, 0);
    if (now !== seen) {
      seen = now;
      since = systemClock.monoMs();
    } else if (systemClock.monoMs() - since > HANG_MS) {
      console.error(
        `fuzz-http1: HANG: input ${Atomics.load(progress, 1)} (seed ${o.seed}, kind ${o.kind}) made no progress for ${HANG_MS / 1000} s`,
      );
      process.exitCode = 2;
      void worker.terminate();
      return;
    }
    watchdog = systemClock.setTimer(1000, watch, undefined);
  }
  worker.on('message', (s: Summary) => {
    systemClock.clearTimer(watchdog);
    console.log(report(s));
    if (o.json !== null) writeFileSync(o.json, `${JSON.stringify(s, null, 2)}\n`);
    process.exitCode = failed(s) ? 1 : 0;
    void worker.terminate();
  });
  worker.on('error', (err) => {
    systemClock.clearTimer(watchdog);
    console.error('fuzz-http1: the fuzzing worker failed:', err);
    process.exitCode = 1;
  });
}

if (isMainThread) await mainThread();
else {
  const { o, progress } = workerData as { o: Options; progress: Int32Array };
  parentPort!.postMessage(await campaign(o, FULCRUM, progress));
}
