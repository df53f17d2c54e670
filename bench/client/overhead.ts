/**
 * The client library's cost per request (issue 17): CPU time of this process per request through
 * an UpstreamDispatcher, against a plain undici Pool to one server and undici's BalancedPool, in the
 * same run. The servers run in a child process (three ports), so the CPU measured here is the
 * client's alone: undici's own work plus whatever the dispatcher adds (pick, bookkeeping, the
 * handler in between). Rounds interleave the dispatchers in a shuffled order; each row reports the
 * median of its rounds (`npm run bench:client`; `ROUNDS`, `REQUESTS`, `CONCURRENCY` override).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { BalancedPool, type Dispatcher, Pool } from 'undici';
import { upstreamDispatcher } from '../../src/client/index.ts';
import { seededRng } from '../../src/core/random.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 9);
const REQUESTS = Number(process.env.REQUESTS ?? 20_000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 32);
const POOL = { connections: 16, pipelining: 1 };

/** The child: three tiny HTTP servers; it sends their ports back. */
function serve(): void {
  void import('node:http').then(({ createServer }) => {
    const ports: number[] = [];
    const body = Buffer.from('ok');
    for (let i = 0; i < 3; i++) {
      const s = createServer((_req, res) => {
        res.writeHead(200, { 'content-length': '2' });
        res.end(body);
      });
      s.keepAliveTimeout = 60_000;
      s.listen(0, '127.0.0.1', () => {
        ports.push((s.address() as { port: number }).port);
        if (ports.length === 3) process.send?.(ports);
      });
    }
  });
}

interface Row {
  readonly name: string;
  readonly dispatcher: Dispatcher;
  readonly cpuUs: number[];
  readonly rps: number[];
}

/** REQUESTS requests, CONCURRENCY at a time; CPU µs per request and requests per second. */
async function measure(d: Dispatcher): Promise<{ cpuUs: number; rps: number }> {
  let left = REQUESTS;
  const worker = async () => {
    while (left-- > 0) {
      const r = await d.request({ origin: 'http://bench', path: '/', method: 'GET' });
      await r.body.dump();
    }
  };
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: (cpu.user + cpu.system) / REQUESTS, rps: (REQUESTS * 1000) / wallMs };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { stdio: 'inherit' });
  const ports = await new Promise<number[]>((r) => child.once('message', (m) => r(m as number[])));
  const origins = ports.map((p) => `http://127.0.0.1:${p}`);
  const targets = ports.map((p) => ({ target: `127.0.0.1:${p}` }));
  const rows: Row[] = [
    { name: 'undici Pool, one server', dispatcher: new Pool(origins[0]!, POOL) },
    {
      name: 'UpstreamDispatcher, one target',
      dispatcher: upstreamDispatcher({ upstream: { name: 'one', targets: targets.slice(0, 1) }, pool: POOL }),
    },
    { name: 'undici BalancedPool, 3 servers', dispatcher: new BalancedPool(origins, POOL) },
    {
      name: 'UpstreamDispatcher round-robin, 3 targets',
      dispatcher: upstreamDispatcher({ upstream: { name: 'rr', targets }, pool: POOL, rng: seededRng(1) }),
    },
    {
      name: 'UpstreamDispatcher least-request, passive health, metrics',
      dispatcher: upstreamDispatcher({
        upstream: {
          name: 'lr',
          algorithm: 'least-request',
          healthchecks: { passive: { unhealthy: { tcp_failures: 3 } } },
          targets,
        },
        pool: POOL,
        registry: new Registry(),
        rng: seededRng(1),
      }),
    },
  ].map((r) => ({ ...r, cpuUs: [], rps: [] }));
  const order = seededRng(7);
  for (const r of rows) await measure(r.dispatcher); // warm-up: connections, JIT
  for (let round = 0; round < ROUNDS; round++) {
    const shuffled = [...rows].sort(() => order.next() - 0.5);
    for (const r of shuffled) {
      const m = await measure(r.dispatcher);
      r.cpuUs.push(m.cpuUs);
      r.rps.push(m.rps);
    }
  }
  const pool = median(rows[0]!.cpuUs);
  const balanced = median(rows[2]!.cpuUs);
  const pct = (x: number, b: number) => `${x >= b ? '+' : ''}${(((x - b) / b) * 100).toFixed(1)}%`;
  console.log(
    `## Client library overhead\n\nNode ${process.version}, ${process.platform}/${process.arch}; ${ROUNDS} rounds of ${REQUESTS} GETs, ${CONCURRENCY} concurrent, servers in a child process; medians.\n`,
  );
  console.log('| dispatcher | CPU per request | vs Pool | vs BalancedPool | requests/s |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows) {
    const cpu = median(r.cpuUs);
    console.log(
      `| ${r.name} | ${cpu.toFixed(2)} µs | ${pct(cpu, pool)} | ${pct(cpu, balanced)} | ${Math.round(median(r.rps))} |`,
    );
  }
  for (const r of rows) await r.dispatcher.close();
  child.kill();
}

if (process.argv.includes('--serve')) serve();
else await main();
