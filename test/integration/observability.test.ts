/**
 * The observability baseline through a running node: one JSON access-log line per request,
 * Prometheus text on the admin `/metrics` (parsed here by a small strict parser), and `/status`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { request } from 'undici';
import { VERSION } from '../../src/core/version.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

// ---- a tiny Prometheus text-format (0.0.4) parser ----

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_RE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`);
const LABEL_RE = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

function parseLabels(text: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  LABEL_RE.lastIndex = 0;
  while (LABEL_RE.lastIndex < text.length) {
    const at = LABEL_RE.lastIndex;
    const m = LABEL_RE.exec(text);
    assert.ok(m, `bad labels at ${at} in: ${line}`);
    assert.equal(out[m[1]!], undefined, `duplicate label ${m[1]} in: ${line}`);
    out[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return out;
}

function parseValue(v: string, line: string): number {
  if (v === '+Inf') return Number.POSITIVE_INFINITY;
  if (v === '-Inf') return Number.NEGATIVE_INFINITY;
  // prom-client writes NaN as `Nan` (an event-loop figure before any sample); Prometheus parses it
  // case-insensitively (Go's strconv.ParseFloat).
  if (/^nan$/i.test(v)) return Number.NaN;
  assert.match(v, /^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i, `bad value in: ${line}`);
  return Number(v);
}

/** The family a sample belongs to: histogram samples carry _bucket/_sum/_count suffixes. */
function familyOf(families: Map<string, Family>, name: string): Family | undefined {
  const f = families.get(name);
  if (f) return f;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  const base = m ? families.get(m[1]!) : undefined;
  return base && (base.type === 'histogram' || base.type === 'summary') ? base : undefined;
}

/** Parse, asserting the text is well-formed: every sample under a declared family, one TYPE per family. */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      const f = families.get(name) ?? { name, type: 'untyped', help: '', samples: [] };
      if (kind === 'TYPE') {
        assert.match(rest, /^(counter|gauge|histogram|summary|untyped)$/, line);
        assert.equal(f.samples.length, 0, `TYPE after samples: ${line}`);
        f.type = rest;
      } else f.help = rest;
      families.set(name, f);
      continue;
    }
    const m = SAMPLE_RE.exec(line);
    assert.ok(m, `bad sample line: ${line}`);
    const family = familyOf(families, m[1]!);
    assert.ok(family, `sample without a declared family: ${line}`);
    family.samples.push({
      name: m[1]!,
      labels: parseLabels(m[2] ?? '', line),
      value: parseValue(m[3]!, line),
    });
  }
  return families;
}

function find(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string>,
  sampleName = name,
): number | undefined {
  const f = familyOf(families, sampleName);
  const s = f?.samples.find(
    (x) => x.name === sampleName && Object.entries(labels).every(([k, v]) => x.labels[k] === v),
  );
  return s?.value;
}

/** Every histogram series: cumulative buckets, ascending le, +Inf equal to _count. */
function checkHistograms(families: Map<string, Family>): number {
  let series = 0;
  for (const f of families.values()) {
    if (f.type !== 'histogram') continue;
    const groups = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
    for (const s of f.samples) {
      const { le, ...rest } = s.labels;
      const key = JSON.stringify(Object.entries(rest).sort());
      const g = groups.get(key) ?? { buckets: [] };
      if (s.name === `${f.name}_bucket`) {
        assert.ok(le !== undefined, `${f.name}_bucket without le`);
        g.buckets.push([parseValue(le, le), s.value]);
      } else if (s.name === `${f.name}_count`) g.count = s.value;
      else if (s.name === `${f.name}_sum`) g.sum = s.value;
      groups.set(key, g);
    }
    for (const [key, g] of groups) {
      const where = `${f.name}${key}`;
      assert.ok(g.buckets.length > 0, `${where}: buckets`);
      assert.notEqual(g.count, undefined, `${where}: _count`);
      assert.notEqual(g.sum, undefined, `${where}: _sum`);
      for (let i = 1; i < g.buckets.length; i++) {
        assert.ok(g.buckets[i]![0] > g.buckets[i - 1]![0], `${where}: le ascending`);
        assert.ok(g.buckets[i]![1] >= g.buckets[i - 1]![1], `${where}: buckets cumulative`);
      }
      const last = g.buckets[g.buckets.length - 1]!;
      assert.equal(last[0], Number.POSITIVE_INFINITY, `${where}: ends with le="+Inf"`);
      assert.equal(last[1], g.count, `${where}: +Inf bucket equals _count`);
      series++;
    }
  }
  return series;
}

// ---- the node under test ----

const ACCESS_FIELDS = [
  'time',
  'request_id',
  'client_ip',
  'method',
  'path',
  'status',
  'route',
  'service',
  'target',
  'tries',
  'upstream_ms',
  'total_ms',
  'bytes_in',
  'bytes_out',
  'error',
  'host',
  'user_agent',
  'consumer',
  'reason',
];

/** Access-log lines, waiting (bounded) until at least `n` whole lines are written. */
async function accessLines(file: string, n: number): Promise<Record<string, unknown>[]> {
  const deadline = performance.now() + 5000;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      // not created yet
    }
    const lines = text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .filter((l) => l.length > 0);
    if (lines.length >= n || performance.now() > deadline)
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    await delay(20);
  }
}

describe('observability', () => {
  let a: TestUpstream;
  let refused: number;
  let f: TestNode;
  let logFile: string;
  let release: (() => void) | null = null;
  let arrived: (() => void) | null = null;
  const t0 = Date.now();

  const config = (extra = '') => `
logging:
  access_log: ${logFile}
services:
  - name: svc
    host: pool
    routes: [{ name: main, paths: ["/obs"] }]
  - name: other
    url: http://${a.target}
    routes: [{ name: side, paths: ["/side"] }]
${extra}
upstreams:
  - name: pool
    targets:
      - target: "${a.target}"
      - target: "127.0.0.1:${refused}"
`;

  before(async () => {
    a = await startUpstream('a', (req, res, body) => {
      if (req.url === '/missing') {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('nope');
      } else if (req.url === '/slow') {
        release = () => {
          res.writeHead(200);
          res.end('slow');
        };
        arrived?.();
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(body.length > 0 ? `echo:${body}` : 'a');
      }
    });
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    refused = (s.address() as { port: number }).port;
    await new Promise<void>((r) => s.close(() => r()));
    logFile = join(mkdtempSync(join(tmpdir(), 'fulcrum-obs-')), 'access.log');
    f = await startFulcrum(config(), { accessLog: logFile });
  });

  after(async () => {
    release?.();
    await f?.stop();
    await a?.close();
  });

  async function scrape(): Promise<Map<string, Family>> {
    const r = await request(`${f.adminUrl}/metrics`);
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    return parsePrometheus(await r.body.text());
  }

  async function status(): Promise<Record<string, unknown>> {
    const r = await request(`${f.adminUrl}/status`);
    assert.equal(r.statusCode, 200);
    return (await r.body.json()) as Record<string, unknown>;
  }

  /** The requests every later check counts on: 3×200 and 2×404 on `main`, a POST on `side`, one unrouted. */
  const made: { id: string; path: string; status: number; body: string }[] = [];
  async function send(path: string, method: 'GET' | 'POST' = 'GET', body?: string): Promise<void> {
    const id = `obs-${made.length}`;
    const r = await request(`${f.url}${path}`, { method, body, headers: { 'x-request-id': id } });
    made.push({ id, path, status: r.statusCode, body: await r.body.text() });
  }

  it('proxies the requests the other checks count', async () => {
    for (let i = 0; i < 3; i++) await send('/obs/ok');
    for (let i = 0; i < 2; i++) await send('/obs/missing');
    await send('/side/echo', 'POST', 'hello');
    await send('/nowhere');
    assert.deepEqual(
      made.map((m) => m.status),
      [200, 200, 200, 404, 404, 200, 404],
    );
    assert.equal(made[5]!.body, 'echo:hello');
  });

  it('writes one JSON access-log line per request with every field', async () => {
    const lines = await accessLines(logFile, made.length);
    assert.equal(lines.length, made.length);
    for (const [i, l] of lines.entries()) {
      assert.deepEqual(Object.keys(l).sort(), [...ACCESS_FIELDS].sort(), `line ${i}`);
      const m = made[i]!;
      assert.equal(l.request_id, m.id);
      assert.equal(l.client_ip, '127.0.0.1');
      assert.equal(l.path, m.path);
      assert.equal(l.status, m.status);
      const time = Date.parse(String(l.time));
      assert.ok(time >= t0 - 1000 && time <= Date.now() + 1000, `time ${l.time}`);
      assert.equal(typeof l.total_ms, 'number');
      assert.ok((l.total_ms as number) >= 0);
    }
    const ok = lines[0]!;
    assert.equal(ok.method, 'GET');
    assert.equal(ok.route, 'main');
    assert.equal(ok.service, 'svc');
    assert.equal(ok.target, a.target);
    assert.equal(ok.error, null);
    assert.equal(ok.bytes_in, 0);
    assert.equal(ok.bytes_out, 1);
    assert.equal(typeof ok.upstream_ms, 'number');
    assert.ok((ok.upstream_ms as number) <= (ok.total_ms as number));

    const missing = lines[3]!;
    assert.deepEqual(
      [missing.route, missing.status, missing.error, missing.bytes_out],
      ['main', 404, null, 4],
    );

    const post = lines[5]!;
    assert.deepEqual(
      [post.method, post.route, post.service, post.target, post.bytes_in, post.bytes_out],
      ['POST', 'side', 'other', a.target, 5, 'echo:hello'.length],
    );

    const unrouted = lines[6]!;
    assert.deepEqual(
      [
        unrouted.route,
        unrouted.service,
        unrouted.target,
        unrouted.upstream_ms,
        unrouted.error,
        unrouted.tries,
      ],
      [null, null, null, null, 'FULCRUM_ERR_NO_ROUTE', 0],
    );
    assert.equal(unrouted.bytes_out, Buffer.byteLength(made[6]!.body));
  });

  it('serves /metrics as Prometheus text with request counts that match', async () => {
    const fams = await scrape();
    const req = (route: string, service: string, code: string) =>
      find(fams, 'fulcrum_http_requests_total', { route, service, code });
    assert.equal(fams.get('fulcrum_http_requests_total')?.type, 'counter');
    assert.equal(req('main', 'svc', '2xx'), 3);
    assert.equal(req('main', 'svc', '4xx'), 2);
    assert.equal(req('main', 'svc', '5xx'), 0);
    assert.equal(req('side', 'other', '2xx'), 1);
    assert.equal(req('side', 'other', '4xx'), 0);
    const total = fams.get('fulcrum_http_requests_total')!.samples.reduce((n, s) => n + s.value, 0);
    assert.equal(total, 6, 'routed requests only');
    assert.equal(find(fams, 'fulcrum_errors_total', { code: 'FULCRUM_ERR_NO_ROUTE' }), 1);
  });

  it('renders histograms with cumulative buckets consistent with _count', async () => {
    const fams = await scrape();
    assert.equal(fams.get('fulcrum_http_request_duration_seconds')?.type, 'histogram');
    assert.ok(checkHistograms(fams) >= 3);
    const count = (route: string, service: string) =>
      find(
        fams,
        'fulcrum_http_request_duration_seconds',
        { route, service },
        'fulcrum_http_request_duration_seconds_count',
      );
    assert.equal(count('main', 'svc'), 5);
    assert.equal(count('side', 'other'), 1);
    assert.equal(
      find(
        fams,
        'fulcrum_upstream_header_duration_seconds',
        { upstream: 'pool' },
        'fulcrum_upstream_header_duration_seconds_count',
      ),
      5,
    );
    const sum = find(
      fams,
      'fulcrum_http_request_duration_seconds',
      { route: 'main', service: 'svc' },
      'fulcrum_http_request_duration_seconds_sum',
    );
    assert.ok(sum !== undefined && sum > 0 && sum < 30, `sum ${sum}`);
  });

  it('has per-target request, failure and in-flight series', async () => {
    const fams = await scrape();
    const good = { upstream: 'pool', target: a.target };
    const bad = { upstream: 'pool', target: `127.0.0.1:${refused}` };
    assert.equal(fams.get('fulcrum_target_inflight')?.type, 'gauge');
    assert.equal(find(fams, 'fulcrum_target_inflight', good), 0);
    assert.equal(find(fams, 'fulcrum_target_inflight', bad), 0);
    assert.equal(find(fams, 'fulcrum_target_requests_total', good), 5);
    assert.equal(find(fams, 'fulcrum_target_failures_total', good), 0);
    const failures = find(fams, 'fulcrum_target_failures_total', bad) ?? 0;
    assert.ok(failures >= 1, `refused target failures ${failures}`);
    assert.equal(find(fams, 'fulcrum_target_requests_total', bad), failures);
    // Each refused connection was retried on `a`: counted as a retry, not as an error answered.
    assert.equal(
      find(fams, 'fulcrum_upstream_retries_total', { upstream: 'pool', reason: 'connect-failure' }),
      failures,
    );
    assert.equal(find(fams, 'fulcrum_errors_total', { code: 'FULCRUM_ERR_UPSTREAM_CONNECT' }), undefined);
    assert.equal(find(fams, 'fulcrum_target_healthy', good), 1);
  });

  it('shows a request in flight on its target and in /status while it is', async () => {
    const got = new Promise<void>((r) => {
      arrived = r;
    });
    // the refused target may be picked first; the retry lands on `a`
    const pending = request(`${f.url}/obs/slow`);
    await got;
    try {
      const fams = await scrape();
      assert.equal(find(fams, 'fulcrum_target_inflight', { upstream: 'pool', target: a.target }), 1);
      assert.equal((await status()).requests_in_flight, 1);
    } finally {
      // let the request finish even when an assertion failed, so later checks see it done
      release!();
      release = null;
    }
    const r = await pending;
    assert.equal(await r.body.text(), 'slow');
    assert.equal(find(await scrape(), 'fulcrum_target_inflight', { upstream: 'pool', target: a.target }), 0);
  });

  it('includes process figures from prom-client', async () => {
    const fams = await scrape();
    // Under their conventional names (no prefix), as stock Node.js dashboards expect them.
    const rss = find(fams, 'process_resident_memory_bytes', {});
    assert.ok(rss !== undefined && rss > 1e6, `rss ${rss}`);
    assert.ok((find(fams, 'process_cpu_seconds_total', {}) ?? -1) >= 0);
    assert.ok(fams.has('nodejs_eventloop_lag_seconds'));
    assert.equal(find(fams, 'fulcrum_build_info', { version: VERSION, nodejs: process.versions.node }), 1);
    assert.ok((find(fams, 'fulcrum_downstream_connections', {}) ?? -1) >= 0);
  });

  it('documents every metric family /metrics renders in docs/metrics.md', async () => {
    const fams = await scrape();
    // dist/test/integration/ → the repository root
    const doc = readFileSync(new URL('../../../docs/metrics.md', import.meta.url), 'utf8');
    const missing = [...fams.keys()].filter((name) => !new RegExp(`\`${name}\``).test(doc));
    assert.deepEqual(missing, [], 'metrics missing from docs/metrics.md');
    for (const name of ['fulcrum_http_requests_total', 'fulcrum_target_inflight', 'fulcrum_errors_total'])
      assert.ok(fams.has(name), name);
  });

  it('serves /status with version, uptime, config hash and generation, and counts', async () => {
    const s = await status();
    assert.equal(s.version, VERSION);
    assert.equal(typeof s.uptime_s, 'number');
    assert.ok((s.uptime_s as number) >= 0 && (s.uptime_s as number) < 600);
    const c = s.config as Record<string, unknown>;
    assert.match(String(c.hash), /^[0-9a-f]{8,}$/);
    assert.equal(c.generation, 1);
    assert.equal(c.source, f.file);
    assert.deepEqual(s.counts, { services: 2, routes: 2, upstreams: 1, targets: 3, consumers: 0 });
    assert.equal(s.requests_in_flight, 0);
    assert.equal(s.draining, false);
    assert.ok((s.connections as number) >= 0);
  });

  it('moves the generation, hash and reload counter on a reload', async () => {
    const before = ((await status()).config as Record<string, unknown>).hash;
    f.write(
      config(`  - name: third
    url: http://${a.target}
    routes: [{ name: third, paths: ["/third"] }]`),
    );
    const res = await f.node.reload();
    assert.equal(res.ok, true);
    const s = await status();
    const c = s.config as Record<string, unknown>;
    assert.equal(c.generation, 2);
    assert.notEqual(c.hash, before);
    assert.equal((s.counts as Record<string, number>).services, 3);
    const fams = await scrape();
    assert.equal(find(fams, 'fulcrum_config_generation', {}), 2);
    assert.equal(find(fams, 'fulcrum_config_reloads_total', { result: 'ok' }), 1);
    // counters of surviving routes carry over the swap
    assert.equal(
      find(fams, 'fulcrum_http_requests_total', { route: 'main', service: 'svc', code: '2xx' }),
      4,
    );
  });
});
