/**
 * The HTTP/2 server fuzzer (not part of `npm test`; docs/http2.md, "Fuzzing"):
 *
 *   npm run fuzz:http2 -- [--seconds 600] [--n N] [--seed S] [--codec fulcrum|node]
 *                         [--parallel 8] [--live-every 500] [--only I]
 *
 * Starts a real Fulcrum (`bin/fulcrum.js`, an h2c listener with small limits) in a child process
 * in front of a real node:http upstream on 127.0.0.1, then sends sequence after sequence
 * (fuzz-http2-gen.ts) each on its own TCP connection, and checks, over real sockets:
 * - the Fulcrum process stays alive and logs no error;
 * - each connection answers or ends: closed, GOAWAY, or its trailing PING acknowledged and every
 *   valid request answered, within HANG_MS (a sequence left cut short is only sampled: the server
 *   must then close it within IDLE_CLOSE_MS, by its keep-alive timeout);
 * - every LIVE_EVERY sequences, a fresh valid request (node:http2 client) gets 200;
 * - no malformed request reaches the upstream: the upstream sees no `/bad/` path, no `/smuggled`
 *   request, no `x-smuggled` header, no head it cannot parse, and no `/part/` request completes;
 * - the child's RSS stays bounded (reported: after warm-up, peak, at the end).
 * A finding prints its sequence index and bytes (hex); `--only I` runs sequence I alone.
 * Exit status 0 when nothing was found, 1 otherwise.
 */

import { createServer, type IncomingMessage } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { type AddressInfo, connect } from 'node:net';
import { systemClock } from '../src/core/clock.ts';
import { type ChildFulcrum, spawnFulcrum, writeConfig } from '../test/helpers/child.ts';
import { frame, generate, type Sequence } from './fuzz-http2-gen.ts';

/** A connection that neither answers nor closes for this long after the last byte is a hang. */
const HANG_MS = 5000;
/** The keep-alive timeout given to Fulcrum; a connection left mid-frame must close soon after. */
const KEEPALIVE_MS = 1000;
const IDLE_CLOSE_MS = 8000;
/** One cut-short sequence in this many is held until the server closes it. */
const IDLE_SAMPLE = 20;
const HEX_SHOWN = 4096;

interface Options {
  seconds: number;
  n: number;
  seed: number;
  codec: 'fulcrum' | 'node';
  parallel: number;
  liveEvery: number;
  only: number | null;
}

interface Finding {
  kind: string;
  detail: string;
  index: number | null;
}

function options(argv: readonly string[]): Options {
  const o: Options = {
    seconds: 600,
    n: 200_000,
    seed: 1,
    codec: 'fulcrum',
    parallel: 8,
    liveEvery: 500,
    only: null,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${argv[i]} needs a value`);
    if (argv[i] === '--seconds') o.seconds = Number(v);
    else if (argv[i] === '--n') o.n = Number(v);
    else if (argv[i] === '--seed') o.seed = Number(v);
    else if (argv[i] === '--codec') o.codec = v as Options['codec'];
    else if (argv[i] === '--parallel') o.parallel = Number(v);
    else if (argv[i] === '--live-every') o.liveEvery = Number(v);
    else if (argv[i] === '--only') o.only = Number(v);
    else throw new Error(`unknown option ${argv[i]}`);
  }
  if (o.codec !== 'fulcrum' && o.codec !== 'node') throw new Error('--codec: fulcrum or node');
  if (!Number.isSafeInteger(o.seed)) throw new Error('--seed: an integer');
  if (!(o.seconds > 0) || !(o.n >= 1) || !(o.parallel >= 1) || !(o.liveEvery >= 1))
    throw new Error('--seconds, --n, --parallel, --live-every: positive numbers');
  return o;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => systemClock.setTimer(ms, r, undefined));
}

/** The index a path's marker names (`/bad/I/S/...`), or null. */
function indexOf(path: string): number | null {
  const m = /^\/(?:ok|bad|part|any)\/(\d+)\//.exec(path);
  return m ? Number(m[1]) : null;
}

/** The upstream: records what must never reach it. */
function startUpstream(
  findings: Finding[],
  counts: Map<string, number>,
): Promise<{ port: number; close(): void }> {
  const server = createServer((req: IncomingMessage, res) => {
    const path = req.url ?? '';
    const kind = path.split('/')[1] ?? '';
    counts.set(`upstream:${kind}`, (counts.get(`upstream:${kind}`) ?? 0) + 1);
    if (kind === 'bad' || path.startsWith('/smuggled'))
      findings.push({
        kind: 'malformed-forwarded',
        detail: `${req.method} ${path} ${JSON.stringify(req.rawHeaders)}`,
        index: indexOf(path),
      });
    if (req.headers['x-smuggled'] !== undefined)
      findings.push({
        kind: 'header-injected',
        detail: `${req.method} ${path} ${JSON.stringify(req.rawHeaders)}`,
        index: indexOf(path),
      });
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    req.on('end', () => {
      if (kind === 'part')
        findings.push({
          kind: 'malformed-body-completed',
          detail: `${req.method} ${path} ${bytes} bytes ${JSON.stringify(req.rawHeaders)}`,
          index: indexOf(path),
        });
    });
    req.on('error', () => {});
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('ok');
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // Not findings: a method llhttp does not know (any token is a method, RFC 9110 §9.1), and a
    // body cut short (the proxy aborts the target's request when the client's turns out malformed).
    const raw = (err as { rawPacket?: Buffer }).rawPacket?.toString('latin1') ?? '';
    const tokenMethod =
      err.code === 'HPE_INVALID_METHOD' &&
      /(?:^|\r\n)[A-Za-z0-9!#$%&'*+\-.^_`|~]+ \/\S* HTTP\/1\.1\r\n/.test(raw);
    if (
      typeof err.code === 'string' &&
      err.code.startsWith('HPE_') &&
      !tokenMethod &&
      err.code !== 'HPE_INVALID_EOF_STATE'
    )
      findings.push({
        kind: 'upstream-parse-error',
        detail: `${err.code}: ${err.message}: ${JSON.stringify(raw.slice(0, 300))}`,
        index: null,
      });
    socket.destroy();
  });
  server.keepAliveTimeout = 60_000;
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () => {
          server.closeAllConnections();
          server.close();
        },
      }),
    ),
  );
}

async function startFulcrumChild(o: Options, upstreamPort: number): Promise<ChildFulcrum> {
  const file = writeConfig(
    `_format_version: "3.0"
listeners:
  - name: proxy
    address: 127.0.0.1
    port: 0
    protocol: h2c
    http2:
      codec: ${o.codec}
      max_concurrent_streams: 16
      max_header_list_size: 4096
      header_table_size: 1024
      max_resets: 50
      max_control_frames: 100
admin:
  address: 127.0.0.1
  port: 0
logging:
  level: info
  access_log: "off"
timeouts:
  keepalive_ms: ${KEEPALIVE_MS}
services:
  - name: s
    url: http://127.0.0.1:${upstreamPort}
    routes:
      - paths: ["/"]
`,
    '',
  );
  return spawnFulcrum(file);
}

type Outcome = 'closed' | 'goaway' | 'answered' | 'hang' | 'held' | 'idle-not-closed';

/** Send one sequence on a fresh connection and wait for the server to answer or end it. */
function runOne(
  port: number,
  seq: Sequence,
  holdIdle: boolean,
): Promise<{ outcome: Outcome; frames: number }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const answered = new Set<number>();
    let pingAcked = false;
    let goaway = false;
    let frames = 0;
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    let timer: object | null = null;
    const finish = (outcome: Outcome): void => {
      if (done) return;
      done = true;
      if (timer !== null) systemClock.clearTimer(timer);
      s.destroy();
      resolve({ outcome, frames });
    };
    const check = (): void => {
      if (goaway) finish('goaway');
      else if (!seq.incomplete && pingAcked && seq.awaited.every((id) => answered.has(id)))
        finish('answered');
    };
    s.on('error', () => {});
    s.on('close', () => finish('closed'));
    s.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const type = buf[3]!;
        const flags = buf[4]!;
        const id = buf.readUInt32BE(5) & 0x7fffffff;
        frames++;
        if (type === 7) goaway = true;
        else if ((type === 1 || type === 3) && id !== 0) answered.add(id);
        else if (type === 6 && (flags & 1) !== 0 && len === 8 && buf.readUInt32BE(9 + 4) === 0xf0f0)
          pingAcked = true;
        else if (type === 4 && (flags & 1) === 0 && len % 6 === 0) {
          // Acknowledge the server's SETTINGS, as a client must (a server may wait for it).
          s.write(frame(4, 1, 0, Buffer.alloc(0)));
        }
        buf = buf.subarray(9 + len);
      }
      check();
    });
    s.once('connect', () => {
      const ping = Buffer.alloc(8);
      ping.writeUInt32BE(0xf0f0, 4);
      s.write(seq.incomplete ? seq.bytes : Buffer.concat([seq.bytes, frame(6, 0, 0, ping)]));
      const wait = seq.incomplete ? (holdIdle ? IDLE_CLOSE_MS : 300) : HANG_MS;
      timer = systemClock.setTimer(
        wait,
        () => finish(seq.incomplete ? (holdIdle ? 'idle-not-closed' : 'held') : 'hang'),
        undefined,
      );
    });
  });
}

/** A fresh, valid request through a real HTTP/2 client: must get 200. */
function liveness(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const c = h2connect(`http://127.0.0.1:${port}`);
    let settled = false;
    const end = (r: string | null): void => {
      if (settled) return;
      settled = true;
      systemClock.clearTimer(timer);
      c.destroy();
      resolve(r);
    };
    const timer = systemClock.setTimer(HANG_MS, () => end('no answer'), undefined);
    c.on('error', (e) => end(String(e)));
    const req = c.request({ ':path': '/live' });
    req.on('response', (h) => end(h[':status'] === 200 ? null : `status ${h[':status']}`));
    req.on('error', (e) => end(String(e)));
    req.end();
  });
}

function hexOf(seq: Sequence): string {
  const h = seq.bytes.toString('hex');
  return h.length > HEX_SHOWN ? `${h.slice(0, HEX_SHOWN)}... (${seq.bytes.length} bytes)` : h;
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  const findings: Finding[] = [];
  const counts = new Map<string, number>();
  const up = await startUpstream(findings, counts);
  const f = await startFulcrumChild(o, up.port);
  let crashed = false;
  let stopping = false;
  void f.exited.then((e) => {
    if (stopping) return;
    crashed = true;
    findings.push({ kind: 'crash', detail: `exit ${JSON.stringify(e)}`, index: null });
  });
  const started = systemClock.monoMs();
  const deadline = started + o.seconds * 1000;
  const first = o.only ?? 0;
  const last = o.only === null ? o.n : o.only + 1;
  let nextIndex = first;
  let sequences = 0;
  let framesSent = 0;
  let framesReceived = 0;
  let bytesSent = 0;
  const inFlight = new Set<number>();
  const rss: { warm: number; peak: number; end: number } = { warm: 0, peak: 0, end: 0 };
  let liveChecks = 0;
  const worker = async (): Promise<void> => {
    while (!crashed && nextIndex < last && systemClock.monoMs() < deadline) {
      const i = nextIndex++;
      const seq = generate(o.seed, i);
      inFlight.add(i);
      const { outcome, frames } = await runOne(f.port, seq, seq.incomplete && i % IDLE_SAMPLE === 0);
      inFlight.delete(i);
      sequences++;
      framesReceived += frames;
      bytesSent += seq.bytes.length;
      framesSent += seq.frames + (seq.incomplete ? 0 : 1);
      counts.set(`outcome:${outcome}`, (counts.get(`outcome:${outcome}`) ?? 0) + 1);
      if (outcome === 'hang' || outcome === 'idle-not-closed')
        findings.push({ kind: outcome, detail: seq.steps.join(' '), index: i });
      if (crashed) findings.push({ kind: 'in-flight-at-crash', detail: seq.steps.join(' '), index: i });
      if (i % o.liveEvery === 0 && !crashed) {
        liveChecks++;
        const bad = await liveness(f.port);
        if (bad !== null)
          findings.push({ kind: 'liveness', detail: `after sequence ${i}: ${bad}`, index: i });
        const m = f.memory();
        if (sequences >= 2000 && rss.warm === 0) rss.warm = m.rss;
        rss.peak = Math.max(rss.peak, m.rss);
        rss.end = m.rss;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.parallel }, worker));
  } catch (err) {
    // A bug of the fuzzer itself: leave no orphaned Fulcrum behind.
    f.signal('SIGKILL');
    up.close();
    throw err;
  }
  if (!crashed) {
    // Let the upstream see what was still on its way, then a last liveness check.
    await sleep(500);
    const bad = await liveness(f.port);
    if (bad !== null) findings.push({ kind: 'liveness', detail: `at the end: ${bad}`, index: null });
    const m = f.memory();
    rss.end = m.rss;
    rss.peak = Math.max(rss.peak, m.rss, m.hwm);
  }
  for (const l of f.logs)
    if (typeof l.level === 'number' && l.level >= 50)
      findings.push({ kind: 'error-log', detail: JSON.stringify(l).slice(0, 500), index: null });
  stopping = true;
  if (!crashed) await f.stop();
  up.close();
  const seconds = (systemClock.monoMs() - started) / 1000;
  const mb = (b: number): string => (b / 1048576).toFixed(1);
  console.log(
    `fuzz-http2: seed ${o.seed}, codec ${o.codec}: ${sequences} sequences (connections), ${framesSent} frames, ${(bytesSent / 1048576).toFixed(1)} MiB sent, ${framesReceived} frames received in ${seconds.toFixed(1)} s`,
  );
  console.log(
    `  outcomes: ${[...counts]
      .filter(([k]) => k.startsWith('outcome:'))
      .map(([k, v]) => `${k.slice(8)} ${v}`)
      .join(', ')}`,
  );
  console.log(
    `  upstream saw: ${[...counts]
      .filter(([k]) => k.startsWith('upstream:'))
      .map(([k, v]) => `${k.slice(9) || '(other)'} ${v}`)
      .join(', ')}`,
  );
  console.log(
    `  liveness checks ${liveChecks + (crashed ? 0 : 1)}; child RSS MiB: after warm-up ${mb(rss.warm)}, peak ${mb(rss.peak)}, end ${mb(rss.end)}`,
  );
  console.log(`  findings ${findings.length}`);
  const shown = new Set<string>();
  for (const x of findings) {
    const key = `${x.kind} ${x.detail.replace(/\d+/g, 'N').slice(0, 120)}`;
    if (shown.has(key)) continue;
    shown.add(key);
    console.log(
      `  FINDING ${x.kind}${x.index === null ? '' : ` (sequence ${x.index}, --only ${x.index})`}: ${x.detail}`,
    );
    if (x.index !== null) {
      const seq = generate(o.seed, x.index);
      console.log(`    steps: ${seq.steps.join(' ')}`);
      console.log(`    bytes: ${hexOf(seq)}`);
    }
  }
  console.log(findings.length === 0 ? 'fuzz-http2: passed' : 'fuzz-http2: FAILED');
  process.exitCode = findings.length === 0 ? 0 : 1;
}

await main();
