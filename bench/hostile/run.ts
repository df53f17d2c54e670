/**
 * The hostile-config bench (docs/hardening.md): for each hostile input, a fresh Fulcrum child
 * process serving live traffic receives the input (SIGHUP on a rewritten file, or POST /config),
 * and the bench reports whether it was accepted or refused, the longest event-loop stall inside the
 * child (perf_hooks, through the preloaded probe.ts), the longest gap between two answered requests
 * seen by the clients, failed requests, and the child's peak RSS.
 *
 * Not part of `npm test` (it takes minutes and measures wall-clock time):
 *   npm run build --silent && node dist/bench/hostile/run.js [--only NAME[,NAME]] [--services N]
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool, request } from 'undici';
import { parse } from 'yaml';
import { CHILD_NODE_HEADER, type ChildFulcrum, spawnFulcrum, writeConfig } from '../../test/helpers/child.ts';
import {
  aliasBomb,
  bigDocument,
  deepJson,
  deepYamlFlow,
  manyServices,
} from '../../test/helpers/hostile-inputs.ts';
import { startUpstream } from '../../test/helpers/upstream.ts';

const PROBE = fileURLToPath(new URL('./probe.js', import.meta.url));
/** How long a case may take before the child is declared stuck and killed. */
const CASE_LIMIT_MS = 180_000;
/** Traffic keeps running this long after the input was answered (to see it still flows). */
const AFTER_MS = 1000;
const CLIENTS = 4;
/** A gap between two answered requests above this means traffic stopped. */
const FLOWING_GAP_MS = 100;

interface Input {
  /** SIGHUP after writing `text` (after the node header) to the config file, POST /config, or nothing. */
  readonly via: 'sighup' | 'post' | 'none';
  readonly text: string;
  readonly type?: string;
  /** After the input is answered: a request that may itself block (the ReDoS case). */
  readonly afterwards?: (c: ChildFulcrum) => Promise<string>;
}

interface Case {
  readonly name: string;
  readonly what: string;
  make(target: string): Input;
}

interface Result {
  name: string;
  what: string;
  bytes: number;
  outcome: string;
  message: string;
  answerMs: number;
  stallMs: number | null;
  gapMs: number;
  ok: number;
  failed: number;
  peakRssMb: number;
  alive: boolean;
}

const baseBody = (target: string) =>
  `services:\n  - name: base\n    url: http://${target}\n    routes: [{ name: base, paths: ["/base"] }]\n`;

/** The base service followed by the hostile part, as one document body (YAML). */
function withBase(target: string, hostile: string): string {
  if (!hostile.startsWith('services:\n')) return baseBody(target) + hostile;
  return baseBody(target) + hostile.slice('services:\n'.length);
}

/** A YAML body (after the node header) as the JSON document POST /config takes. */
function asJson(body: string): string {
  return JSON.stringify(parse(CHILD_NODE_HEADER + body));
}

function cases(services: number): Case[] {
  return [
    {
      name: 'baseline',
      what: 'no input: traffic alone for 2 s (the noise floor of the figures below)',
      make: () => ({ via: 'none', text: '' }),
    },
    {
      name: 'alias-bomb-sighup',
      what: 'YAML alias bomb (9 levels × 9 aliases, 460 B), SIGHUP',
      make: (t) => ({ via: 'sighup', text: withBase(t, aliasBomb()) }),
    },
    {
      name: 'alias-bomb-post',
      what: 'the same alias bomb, POST /config as application/yaml',
      make: (t) => ({
        via: 'post',
        text: CHILD_NODE_HEADER + withBase(t, aliasBomb()),
        type: 'application/yaml',
      }),
    },
    {
      name: 'depth-bomb-post',
      what: 'JSON nested 4,000,000 deep (8 MB), POST /config',
      make: () => ({ via: 'post', text: deepJson(4_000_000, '_comment'), type: 'application/json' }),
    },
    {
      name: 'depth-bomb-sighup',
      what: 'YAML flow lists nested 1,000,000 deep (2 MB), SIGHUP',
      make: (t) => ({ via: 'sighup', text: withBase(t, deepYamlFlow(1_000_000, '_comment')) }),
    },
    {
      name: 'file-50mb',
      what: 'a 50 MB file (one service, a 50 MB tags list), SIGHUP',
      make: (t) => ({ via: 'sighup', text: withBase(t, bigDocument(50 * 1024 * 1024, t)) }),
    },
    {
      name: 'services-sighup',
      what: `${services} services and ${services} routes, SIGHUP`,
      make: (t) => ({ via: 'sighup', text: withBase(t, manyServices(services, t)) }),
    },
    {
      name: 'services-post',
      what: `${services} services and ${services} routes, POST /config (JSON)`,
      make: (t) => ({
        via: 'post',
        text: asJson(withBase(t, manyServices(services, t))),
        type: 'application/json',
      }),
    },
    {
      name: 'redos-route',
      what: 'a route `~/(a+)+$`, SIGHUP, then GET /a…a! (31 a)',
      make: (t) => ({
        via: 'sighup',
        text: `${baseBody(t)}  - name: evil\n    url: http://${t}\n    routes: [{ name: evil, paths: ["~/(a+)+$"] }]\n`,
        afterwards: async (c) => {
          const r = await request(`${c.url}/${'a'.repeat(31)}!`, {
            headersTimeout: 20_000,
            bodyTimeout: 20_000,
          }).catch((err: Error) => err);
          if (r instanceof Error) return `evil request: ${r.message}`;
          await r.body.dump();
          return `evil request answered ${r.statusCode}`;
        },
      }),
    },
  ];
}

/** VmHWM (peak RSS) of a process in bytes, or null once it has exited. */
function peakRss(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
  } catch {
    return null;
  }
}

/** Reset the peak RSS counter (Linux: write 5 to clear_refs); false when not allowed. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Ask the probe for the longest event-loop delay since the last ask (null when it does not answer). */
async function probe(c: ChildFulcrum, file: string, timeoutMs: number): Promise<number | null> {
  const lines = () => readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const before = lines().length;
  c.signal('SIGUSR2');
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    const l = lines();
    if (l.length > before) return (JSON.parse(l[l.length - 1]!) as { maxMs: number }).maxMs;
    await sleep(20);
  }
  return null;
}

/** Clients sending GET /base in a loop, recording answers, failures and the longest gap. */
function traffic(url: string) {
  const pool = new Pool(url, { connections: CLIENTS, headersTimeout: CASE_LIMIT_MS });
  let running = true;
  let from = Number.POSITIVE_INFINITY;
  let last = performance.now();
  let ok = 0;
  let failed = 0;
  let gap = 0;
  const loop = async () => {
    while (running) {
      try {
        const r = await pool.request({ path: '/base', method: 'GET' });
        await r.body.dump();
        const now = performance.now();
        if (r.statusCode !== 200) failed += now >= from ? 1 : 0;
        else if (now >= from) {
          ok++;
          gap = Math.max(gap, now - Math.max(last, from));
        }
        last = now;
      } catch {
        if (performance.now() >= from) failed++;
        await sleep(10);
      }
    }
  };
  const loops = Array.from({ length: CLIENTS }, loop);
  return {
    /** Start counting from now. */
    mark() {
      from = performance.now();
    },
    async stop() {
      const end = performance.now();
      running = false;
      gap = Math.max(gap, end - Math.max(last, from));
      await Promise.race([Promise.all(loops), sleep(2000)]);
      await pool.destroy();
      return { ok, failed, gapMs: gap };
    },
  };
}

async function runCase(k: Case, target: string, probeFile: string): Promise<Result> {
  const file = writeConfig(baseBody(target));
  const input = k.make(target);
  writeFileSync(probeFile, '');
  process.env.NODE_OPTIONS = `--import=${PROBE}`;
  process.env.FULCRUM_PROBE_FILE = probeFile;
  const child = await spawnFulcrum(file);
  delete process.env.NODE_OPTIONS;
  let peak = 0;
  let alive = true;
  void child.exited.then(() => {
    alive = false;
  });
  const sampler = setInterval(() => {
    const p = peakRss(child.pid);
    if (p !== null) peak = Math.max(peak, p);
  }, 50);
  const load = traffic(child.url);
  await sleep(1000);
  resetPeak(child.pid);
  peak = 0;
  await probe(child, probeFile, 5000);
  if (input.via === 'sighup') writeFileSync(file, CHILD_NODE_HEADER + input.text);
  load.mark();
  const t0 = performance.now();
  let outcome = '';
  let message = '';
  if (input.via === 'none') {
    await sleep(2000);
    outcome = '-';
  } else if (input.via === 'sighup') {
    const seen = child.logs.length;
    child.signal('SIGHUP');
    const done = child
      .waitForLog(
        (l) =>
          child.logs.indexOf(l) >= seen &&
          (l.msg === 'configuration applied' || String(l.msg).startsWith('configuration refused')),
        CASE_LIMIT_MS,
      )
      .then((l) => (l.msg === 'configuration applied' ? 'accepted' : 'refused'))
      .catch(() => (alive ? 'stuck' : 'crashed'));
    outcome = await done;
    const firstError = child.logs.slice(seen).find((l) => l.level === 50 || typeof l.raw === 'string');
    message = String(firstError?.msg ?? firstError?.raw ?? '');
  } else {
    const r = await request(`http://127.0.0.1:${child.adminPort}/config`, {
      method: 'POST',
      headers: { 'content-type': input.type ?? 'application/json' },
      body: input.text,
      headersTimeout: CASE_LIMIT_MS,
      bodyTimeout: CASE_LIMIT_MS,
    }).catch((err: Error) => err);
    if (r instanceof Error) {
      await Promise.race([child.exited, sleep(2000)]);
      outcome = alive ? 'no answer' : 'crashed';
      message = r.message;
    } else {
      const text = await r.body.text();
      outcome = r.statusCode === 200 ? 'accepted' : r.statusCode >= 500 ? `error ${r.statusCode}` : 'refused';
      try {
        message = `${r.statusCode}: ${String((JSON.parse(text) as { message?: string }).message ?? text)}`;
      } catch {
        message = `${r.statusCode}: ${text}`;
      }
    }
  }
  const answerMs = performance.now() - t0;
  if (!alive) {
    const exit = await child.exited;
    outcome = `crashed (${exit.signal ?? `exit ${exit.code}`})`;
    const error = child.logs.find((l) => typeof l.raw === 'string' && /^\w*Error\b/.test(l.raw));
    if (message === '' || !alive) message = String(error?.raw ?? message);
  }
  if (input.afterwards && alive) message += `; ${await input.afterwards(child)}`;
  await sleep(AFTER_MS);
  const stall = alive ? await probe(child, probeFile, 20_000) : null;
  const flow = await load.stop();
  clearInterval(sampler);
  const stillAlive = alive;
  if (alive) {
    child.signal('SIGKILL');
    await child.exited;
  }
  rmSync(file, { force: true });
  return {
    name: k.name,
    what: k.what,
    bytes: Buffer.byteLength(input.text),
    outcome,
    message: message.slice(0, 200),
    answerMs,
    stallMs: stall,
    gapMs: flow.gapMs,
    ok: flow.ok,
    failed: flow.failed,
    peakRssMb: peak / 1024 / 1024,
    alive: stillAlive,
  };
}

function table(results: Result[]): string {
  const rows = results.map((r) => {
    const flowing = r.alive && r.failed === 0 && r.gapMs < FLOWING_GAP_MS ? 'yes' : 'no';
    return `| ${r.name} | ${r.outcome} | ${(r.answerMs / 1000).toFixed(2)} s | ${r.stallMs === null ? 'n/a' : `${r.stallMs.toFixed(0)} ms`} | ${r.gapMs.toFixed(0)} ms | ${r.ok} / ${r.failed} | ${r.peakRssMb.toFixed(0)} MB | ${flowing} |`;
  });
  return [
    '| case | outcome | answered after | longest event-loop stall | longest traffic gap | requests ok / failed | peak RSS | traffic kept flowing |',
    '|---|---|--:|--:|--:|--:|--:|---|',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { only: { type: 'string' }, services: { type: 'string' }, json: { type: 'string' } },
  });
  const services = Number(values.services ?? 10_000);
  const only = values.only?.split(',');
  const list = cases(services).filter((k) => only === undefined || only.includes(k.name));
  const up = await startUpstream('base');
  const probeFile = join(tmpdir(), `fulcrum-probe-${process.pid}.jsonl`);
  const results: Result[] = [];
  for (const k of list) {
    process.stderr.write(`${k.name}: ${k.what} ...\n`);
    const r = await runCase(k, up.target, probeFile);
    process.stderr.write(`  ${r.outcome} (${r.message})\n`);
    results.push(r);
  }
  await up.close();
  rmSync(probeFile, { force: true });
  console.log(
    `Node ${process.version}, ${process.platform}/${process.arch}, ${CLIENTS} clients on GET /base.\n`,
  );
  console.log(table(results));
  console.log('\nMessages:\n');
  for (const r of results) console.log(`- ${r.name} (${r.bytes} bytes): ${r.message || '(none)'}`);
  if (values.json) writeFileSync(values.json, JSON.stringify(results, null, 2));
}

await main();
