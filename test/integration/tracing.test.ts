/**
 * OpenTelemetry tracing (docs/observability.md#traces) through a running proxy: real targets, a
 * real OTLP/HTTP receiver started here, real clients. Spans are read once the node has stopped
 * (a stopping node sends what it holds), so "nothing exported" is proved without waiting.
 */
import assert from 'node:assert/strict';
import { createServer as createH2Server, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { request } from 'undici';
import { loadSnapshotText } from '../../src/config/validate.ts';
import { spawnFulcrum, writeConfig } from '../helpers/child.ts';
import { waitFor } from '../helpers/faulty-upstream.ts';
import { startFulcrum, TEST_NODE_HEADER, type TestNode } from '../helpers/fulcrum.ts';
import { closedPort } from '../helpers/l4.ts';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  SPAN_KIND,
  STATUS_ERROR,
  startOtlpReceiver,
} from '../helpers/otlp-receiver.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const open: { node: TestNode | null; receiver: OtlpReceiver | null; closers: (() => Promise<void>)[] } = {
  node: null,
  receiver: null,
  closers: [],
};

afterEach(async () => {
  await open.node?.stop();
  open.node = null;
  for (const c of open.closers.splice(0)) await c();
  await open.receiver?.close();
  open.receiver = null;
});

/** A target answering `status` (and recording what it got). */
async function target(name: string, status: number): Promise<TestUpstream> {
  const u = await startUpstream(name, (_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain', 'x-upstream': name });
    res.end(name);
  });
  open.closers.push(() => u.close());
  return u;
}

/** A node with `tracing` (extra YAML lines at two spaces) over one service and upstream. */
async function rig(tracing: string, targets: string[], service = '', route = ''): Promise<TestNode> {
  const receiver = await startOtlpReceiver();
  open.receiver = receiver;
  const body = `
tracing:
  endpoint: ${receiver.url}
  batch_delay_ms: 50
${tracing}services:
  - name: s
    host: u
${service}    routes: [{ name: r, paths: ["/"]${route} }]
upstreams:
  - name: u
    algorithm: round-robin
    targets:
${targets.map((t) => `      - target: ${t}\n`).join('')}`;
  open.node = await startFulcrum(body);
  return open.node;
}

async function get(f: TestNode, path: string, headers: Record<string, string> = {}) {
  const r = await request(`${f.url}${path}`, { headers });
  await r.body.text();
  return r.statusCode;
}

/** Stop the node (it sends its spans as it stops) and take what the receiver got. */
async function spansAfterStop(f: TestNode): Promise<ReceivedSpan[]> {
  await f.stop();
  return open.receiver!.spans;
}

function byTrace(spans: ReceivedSpan[]): Map<string, ReceivedSpan[]> {
  const m = new Map<string, ReceivedSpan[]>();
  for (const s of spans) m.set(s.traceId, [...(m.get(s.traceId) ?? []), s]);
  return m;
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

describe('tracing: spans', () => {
  it('a retried request is one server span with a client span per try, and each target sees its try as parent', async () => {
    const bad = await target('bad', 503);
    const good = await target('good', 200);
    const f = await rig(
      '',
      [bad.target, good.target],
      '',
      `, plugins: [{ name: request-transformer, config: { add: { headers: ["x-a:1"] } } }]`,
    );
    // Round-robin: one of two requests goes to `bad` first and is retried on `good`.
    assert.equal(await get(f, '/x?apikey=secret', { 'user-agent': 'trace-test' }), 200);
    assert.equal(await get(f, '/x?apikey=secret', { 'user-agent': 'trace-test' }), 200);
    const spans = await spansAfterStop(f);
    const traces = [...byTrace(spans).values()];
    assert.equal(traces.length, 2, 'a trace per request');
    const retried = traces.find((t) => t.length === 3);
    assert.ok(
      retried,
      `a trace with a server span and two client spans: ${JSON.stringify(traces.map((t) => t.length))}`,
    );
    const server = retried.filter((s) => s.kind === SPAN_KIND.SERVER);
    const clients = retried
      .filter((s) => s.kind === SPAN_KIND.CLIENT)
      .sort((a, b) => Number(a.startNs - b.startNs));
    assert.equal(server.length, 1);
    assert.equal(clients.length, 2);
    const srv = server[0]!;
    assert.equal(srv.parentSpanId, '', 'a request without traceparent starts a trace');
    assert.equal(srv.name, 'GET');
    assert.deepEqual(
      {
        method: srv.attributes['http.request.method'],
        path: srv.attributes['url.path'],
        scheme: srv.attributes['url.scheme'],
        status: srv.attributes['http.response.status_code'],
        server: srv.attributes['server.address'],
        port: srv.attributes['server.port'],
        client: srv.attributes['client.address'],
        peer: srv.attributes['network.peer.address'],
        version: srv.attributes['network.protocol.version'],
        ua: srv.attributes['user_agent.original'],
        route: srv.attributes['fulcrum.route'],
        service: srv.attributes['fulcrum.service'],
        tries: srv.attributes['fulcrum.tries'],
        error: srv.attributes['error.type'],
      },
      {
        method: 'GET',
        path: '/x',
        scheme: 'http',
        status: 200,
        server: '127.0.0.1',
        port: f.port,
        client: '127.0.0.1',
        peer: '127.0.0.1',
        version: '1.1',
        ua: 'trace-test',
        route: 'r',
        service: 's',
        tries: 2,
        error: undefined,
      },
    );
    assert.ok(
      !JSON.stringify(retried, (_k, v) => (typeof v === 'bigint' ? String(v) : v)).includes('secret'),
      'the query (which may carry credentials) is in no span',
    );
    assert.equal(srv.resource['service.name'], 'fulcrum');
    const access = srv.events.find((e) => e.name === 'plugins.access');
    assert.ok(access, `a plugins.access event: ${JSON.stringify(srv.events)}`);
    assert.deepEqual(access.attributes['fulcrum.plugins'], ['request-transformer']);
    assert.equal(access.attributes['fulcrum.plugins.outcome'], 'continue');
    assert.equal(typeof access.attributes['fulcrum.duration_ms'], 'number');

    const [first, second] = clients as [ReceivedSpan, ReceivedSpan];
    for (const c of clients) {
      assert.equal(c.parentSpanId, srv.spanId, 'tries are siblings under the server span');
      assert.equal(c.attributes['http.request.method'], 'GET');
      assert.equal(c.attributes['server.address'], '127.0.0.1');
      assert.equal(c.attributes['network.peer.address'], '127.0.0.1');
      assert.equal(c.attributes['fulcrum.upstream'], 'u');
    }
    assert.deepEqual(
      [
        first.attributes['server.port'],
        first.attributes['http.response.status_code'],
        first.attributes['error.type'],
      ],
      [bad.port, 503, '503'],
    );
    assert.equal(first.status.code, STATUS_ERROR);
    assert.equal(first.attributes['fulcrum.try.kind'], 'first');
    assert.equal(first.attributes['url.full'], `http://${bad.target}/x`);
    assert.deepEqual(
      [
        second.attributes['server.port'],
        second.attributes['http.response.status_code'],
        second.attributes['error.type'],
      ],
      [good.port, 200, undefined],
    );
    assert.equal(second.attributes['fulcrum.try.kind'], 'retry');
    assert.equal(second.attributes['http.request.resend_count'], 1);
    // The request each target got carries its own try's span as parent.
    const seenBy = (u: TestUpstream) => u.seen.map((s) => s.headers.traceparent);
    assert.ok(seenBy(bad).includes(`00-${first.traceId}-${first.spanId}-01`), `${seenBy(bad)}`);
    assert.ok(seenBy(good).includes(`00-${second.traceId}-${second.spanId}-01`), `${seenBy(good)}`);
  });

  it('continues a traceparent: same trace id, the caller as parent, tracestate passed on', async () => {
    const up = await target('up', 200);
    const f = await rig('', [up.target]);
    assert.equal(
      await get(f, '/y', { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=opaque' }),
      200,
    );
    const spans = await spansAfterStop(f);
    assert.equal(spans.length, 2);
    const srv = spans.find((s) => s.kind === SPAN_KIND.SERVER)!;
    const cli = spans.find((s) => s.kind === SPAN_KIND.CLIENT)!;
    assert.equal(srv.traceId, TRACE);
    assert.equal(srv.parentSpanId, PARENT);
    assert.equal(cli.traceId, TRACE);
    assert.equal(cli.parentSpanId, srv.spanId);
    const seen = up.seen[0]!.headers;
    assert.equal(seen.traceparent, `00-${TRACE}-${cli.spanId}-01`, 'one traceparent, the try’s');
    assert.equal(seen.tracestate, 'vendor=opaque');
  });

  it('a hedge is a sibling of the try it races, which ends cancelled', async () => {
    const slow = await startUpstream('slow', () => {});
    open.closers.push(() => slow.close());
    const fast = await target('fast', 200);
    const f = await rig('', [slow.target, fast.target], '    retry_policy: { hedge_delay: 30 }\n');
    // Round-robin: one of two requests goes to `slow` first and is hedged to `fast`.
    assert.equal(await get(f, '/h'), 200);
    assert.equal(await get(f, '/h'), 200);
    const spans = await spansAfterStop(f);
    const hedged = [...byTrace(spans).values()].find((t) => t.length === 3)!;
    assert.ok(hedged, 'a trace with two tries');
    const srv = hedged.find((s) => s.kind === SPAN_KIND.SERVER)!;
    const [a, b] = hedged
      .filter((s) => s.kind === SPAN_KIND.CLIENT)
      .sort((x, y) => Number(x.startNs - y.startNs)) as [ReceivedSpan, ReceivedSpan];
    assert.equal(a.parentSpanId, srv.spanId);
    assert.equal(b.parentSpanId, srv.spanId);
    assert.equal(a.attributes['server.port'], slow.port);
    assert.equal(a.attributes['fulcrum.try.cancelled'], true);
    assert.equal(a.attributes['http.response.status_code'], undefined);
    assert.equal(b.attributes['fulcrum.try.kind'], 'hedge');
    assert.equal(b.attributes['http.response.status_code'], 200);
  });

  it('a transport failure carries Fulcrum’s error code', async () => {
    const dead = await startUpstream('dead');
    const deadTarget = dead.target;
    await dead.close();
    const f = await rig('', [deadTarget], '    retries: 0\n');
    assert.equal(await get(f, '/z'), 502);
    const spans = await spansAfterStop(f);
    const srv = spans.find((s) => s.kind === SPAN_KIND.SERVER)!;
    const cli = spans.find((s) => s.kind === SPAN_KIND.CLIENT)!;
    assert.equal(cli.attributes['error.type'], 'FULCRUM_ERR_UPSTREAM_CONNECT');
    assert.equal(cli.attributes['fulcrum.error_code'], 'FULCRUM_ERR_UPSTREAM_CONNECT');
    assert.equal(cli.status.code, STATUS_ERROR);
    assert.equal(srv.attributes['http.response.status_code'], 502);
    assert.equal(srv.attributes['error.type'], 'FULCRUM_ERR_UPSTREAM_CONNECT');
    assert.equal(srv.status.code, STATUS_ERROR);
  });

  it('sends the try’s traceparent to an HTTP/2 target', async () => {
    const seen: (string | undefined)[] = [];
    const h2: Http2Server = createH2Server((req, res) => {
      seen.push(req.headers.traceparent as string | undefined);
      res.writeHead(200, { 'content-length': '2' }).end('h2');
    });
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    open.closers.push(() => new Promise((r) => h2.close(() => r())));
    const port = (h2.address() as AddressInfo).port;
    const f = await rig('', [`127.0.0.1:${port}`], '    http2: true\n');
    assert.equal(await get(f, '/two', { traceparent: `00-${TRACE}-${PARENT}-01` }), 200);
    const spans = await spansAfterStop(f);
    const cli = spans.find((s) => s.kind === SPAN_KIND.CLIENT)!;
    assert.equal(cli.attributes['network.protocol.version'], '2');
    assert.deepEqual(seen, [`00-${TRACE}-${cli.spanId}-01`]);
  });
});

describe('tracing: sampling', () => {
  it('sampling 0 exports nothing of new traces; parent-based follows the caller’s flag either way', async () => {
    const up = await target('up', 200);
    const f = await rig('  sampling: 0\n', [up.target]);
    assert.equal(await get(f, '/none'), 200);
    assert.equal(await get(f, '/unsampled', { traceparent: `00-${TRACE}-${PARENT}-00` }), 200);
    const sampledTrace = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    assert.equal(await get(f, '/sampled', { traceparent: `00-${sampledTrace}-${PARENT}-01` }), 200);
    const spans = await spansAfterStop(f);
    assert.deepEqual(
      [...new Set(spans.map((s) => s.traceId))],
      [sampledTrace],
      'only the trace its caller sampled',
    );
    assert.deepEqual(
      spans.filter((s) => s.kind === SPAN_KIND.SERVER).map((s) => s.attributes['url.path']),
      ['/sampled'],
    );
    // Unsampled requests still carry a context on, flagged not sampled, so the next hops agree.
    const tp = up.seen.map((s) => String(s.headers.traceparent));
    assert.match(tp[0]!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    assert.match(tp[1]!, new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
    assert.match(tp[2]!, new RegExp(`^00-${sampledTrace}-[0-9a-f]{16}-01$`));
  });

  it('sampling 1: a caller’s unsampled flag is followed; parent_based false samples it anyway', async () => {
    const up = await target('up', 200);
    let f = await rig('  sampling: 1\n', [up.target]);
    assert.equal(await get(f, '/unsampled', { traceparent: `00-${TRACE}-${PARENT}-00` }), 200);
    assert.equal(await get(f, '/new'), 200);
    let spans = await spansAfterStop(f);
    assert.deepEqual(
      spans.filter((s) => s.kind === SPAN_KIND.SERVER).map((s) => s.attributes['url.path']),
      ['/new'],
    );
    await open.receiver!.close();
    f = await rig('  sampling: 1\n  parent_based: false\n', [up.target]);
    assert.equal(await get(f, '/unsampled', { traceparent: `00-${TRACE}-${PARENT}-00` }), 200);
    spans = await spansAfterStop(f);
    const srv = spans.filter((s) => s.kind === SPAN_KIND.SERVER);
    assert.deepEqual(
      srv.map((s) => [s.traceId, s.parentSpanId]),
      [[TRACE, PARENT]],
    );
  });
});

describe('tracing: reload', () => {
  it('a reload turns tracing on, and off again; a node without the setting has no tracer', async () => {
    const up = await target('up', 200);
    const receiver = await startOtlpReceiver();
    open.receiver = receiver;
    const services = `services:
  - name: s
    url: http://${up.target}
    routes: [{ paths: ["/"] }]
`;
    const f = await startFulcrum(services);
    open.node = f;
    // Read anew each time (an assertion would narrow the property for the compiler).
    const tracing = () => f.node.runtime.tracing;
    assert.equal(tracing(), null, 'off by default');
    assert.equal(await get(f, '/before'), 200);
    assert.equal(up.seen[0]!.headers.traceparent, undefined, 'nothing added with tracing off');
    f.write(`tracing:\n  endpoint: ${receiver.url}\n${services}`);
    assert.equal((await f.node.reload()).ok, true);
    const tracer = tracing();
    assert.ok(tracer !== null);
    assert.equal(await get(f, '/traced'), 200);
    f.write(services);
    assert.equal((await f.node.reload()).ok, true);
    assert.equal(tracing(), null);
    assert.equal(await get(f, '/after'), 200);
    // The replaced tracer sends what it held as it stops.
    await tracer.shutdown();
    assert.deepEqual(
      receiver.spans.filter((s) => s.kind === SPAN_KIND.SERVER).map((s) => s.attributes['url.path']),
      ['/traced'],
    );
    assert.match(String(up.seen[1]!.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.equal(up.seen[2]!.headers.traceparent, undefined);
  });
});

/** A child node tracing to `endpoint` (more `tracing` lines after it) in front of `up`. */
function childTracingTo(endpoint: string, more: string, up: TestUpstream) {
  return spawnFulcrum(
    writeConfig(`tracing:
  endpoint: ${endpoint}
  batch_delay_ms: 20
${more}services:
  - name: s
    url: http://${up.target}
    routes: [{ paths: ["/"] }]
`),
  );
}

describe('tracing: a collector that fails', () => {
  it('costs the requests nothing, and is logged once, not once per batch', async () => {
    const up = await target('up', 200);
    const refusing = await startOtlpReceiver({ status: 400 });
    open.receiver = refusing;
    const child = await childTracingTo(refusing.url, '', up);
    const isExportLog = (l: { msg?: string }) => l.msg === 'tracing: spans could not be exported';
    try {
      // A batch per request, each refused; exports go one after the other, so once the third has
      // arrived the first two have failed in the node.
      for (let n = 1; n <= 3; n++) {
        assert.equal(await (await request(`${child.url}/x`)).body.text(), 'up', 'requests go on');
        await waitFor(() => refusing.requests.length >= n, `export ${n}`);
      }
      const first = await child.waitForLog(isExportLog);
      assert.equal(first.level, 40);
      assert.match(String(first.detail), /400|Bad Request/, String(first.detail));
    } finally {
      await child.stop();
    }
    assert.equal(child.logs.filter(isExportLog).length, 1, JSON.stringify(child.logs));
  });

  it('an unreachable collector is logged with the cause', async () => {
    const up = await target('up', 200);
    const port = await closedPort();
    const child = await childTracingTo(
      `http://127.0.0.1:${port}/v1/traces`,
      '  export_timeout_ms: 500\n',
      up,
    );
    try {
      assert.equal(await (await request(`${child.url}/x`)).body.text(), 'up');
      const line = await child.waitForLog((l) => l.msg === 'tracing: spans could not be exported');
      assert.match(String(line.detail), /ECONNREFUSED/);
    } finally {
      await child.stop();
    }
  });
});

describe('tracing: configuration', () => {
  it('refuses an endpoint that is not an http(s) URL, and a batch larger than the queue, with their paths', () => {
    for (const [tracing, path] of [
      ['  endpoint: ftp://collector:4318\n', 'tracing.endpoint'],
      ['  endpoint: http://[bad\n', 'tracing.endpoint'],
      ['  endpoint: http://c:4318\n  max_queue_size: 10\n  max_batch_size: 20\n', 'tracing.max_batch_size'],
    ] as const) {
      assert.throws(
        () => loadSnapshotText(`${TEST_NODE_HEADER}tracing:\n${tracing}`, 'fulcrum.yaml'),
        (err: Error) => err.message.includes(path),
        tracing,
      );
    }
    const s = loadSnapshotText(`${TEST_NODE_HEADER}tracing:\n  endpoint: http://collector:4318\n`, 'f.yaml');
    assert.equal(
      s.node.tracing?.endpoint,
      'http://collector:4318/v1/traces',
      'a bare origin gets /v1/traces',
    );
    assert.equal(s.node.tracing?.sampling, 1);
    assert.equal(loadSnapshotText(TEST_NODE_HEADER, 'f.yaml').node.tracing, null, 'off by default');
  });
});
