/**
 * The tracing example of docs/observability.md, run: its `tracing-file` configuration (addresses
 * moved to this test's: an OTLP receiver started here, 9001 a target answering 503, 9002 one
 * answering 200), its `tracing-run` command run with bash and curl, and the trace the receiver
 * got, drawn a line per span, compared with the page's `tracing-output` block.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { FulcrumNode } from '../../src/runtime/node.ts';
import { REPO_ROOT } from '../helpers/child.ts';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  SPAN_KIND,
  startOtlpReceiver,
} from '../helpers/otlp-receiver.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const run = promisify(execFile);
const DOC = readFileSync(join(REPO_ROOT, 'docs', 'observability.md'), 'utf8');

function block(marker: string): string {
  const m = new RegExp(`<!-- ${marker}(?:: [^ ]+)? -->\\n\`\`\`\\w+\\n([\\s\\S]*?)\\n\`\`\``).exec(DOC);
  assert.ok(m, `docs/observability.md has a ${marker} block`);
  return m[1]!;
}

const CLIENT_ATTRS = [
  'url.full',
  'http.response.status_code',
  'error.type',
  'fulcrum.try.kind',
  'http.request.resend_count',
];
const SERVER_ATTRS = ['url.path', 'http.response.status_code', 'fulcrum.route', 'fulcrum.tries'];

function attrs(s: ReceivedSpan, names: string[]): string {
  return names
    .filter((n) => s.attributes[n] !== undefined)
    .map((n) => `${n}=${s.attributes[n]}`)
    .join(' ');
}

/** A trace drawn as the page shows it: a line per server span, its client spans indented below. */
function draw(spans: ReceivedSpan[]): string[] {
  const lines: string[] = [];
  const byStart = (a: ReceivedSpan, b: ReceivedSpan) => Number(a.startNs - b.startNs);
  for (const srv of spans.filter((s) => s.kind === SPAN_KIND.SERVER).sort(byStart)) {
    const parent = srv.parentSpanId === '' ? '' : ` parent=${srv.parentSpanId}`;
    lines.push(`SERVER ${srv.name} trace=${srv.traceId}${parent} ${attrs(srv, SERVER_ATTRS)}`);
    for (const c of spans.filter((s) => s.parentSpanId === srv.spanId).sort(byStart))
      lines.push(`  CLIENT ${c.name} ${attrs(c, CLIENT_ATTRS)}`);
  }
  return lines;
}

describe('docs/observability.md#traces, run', () => {
  let receiver: OtlpReceiver;
  let failing: TestUpstream;
  let healthy: TestUpstream;
  let node: FulcrumNode;
  let back: (s: string) => string;

  before(async () => {
    receiver = await startOtlpReceiver();
    failing = await startUpstream('failing', (_req, res) => res.writeHead(503).end('down'));
    healthy = await startUpstream('healthy');
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-tracing-docs-'));
    const file = join(dir, 'fulcrum.yaml');
    writeFileSync(
      file,
      block('tracing-file')
        .replace('http://127.0.0.1:4318/v1/traces', receiver.url)
        .replace('port: 8000', 'port: 0')
        .replace('127.0.0.1:9001', failing.target)
        .replace('127.0.0.1:9002', healthy.target),
    );
    back = (s) => s.replaceAll(failing.target, '127.0.0.1:9001').replaceAll(healthy.target, '127.0.0.1:9002');
    process.env.OTLP_TOKEN = 'docs-token';
    node = await FulcrumNode.start({ configFile: file, accessLog: 'off', logLevel: 'silent' });
  });

  after(async () => {
    delete process.env.OTLP_TOKEN;
    await node?.stop();
    await failing?.close();
    await healthy?.close();
    await receiver?.close();
  });

  it('the request is retried on the backup target, and the collector gets the trace the page shows', async () => {
    const port = node.proxyAddresses()[0]!.port;
    const commands = block('tracing-run')
      .split('\n')
      .filter((l) => l.startsWith('$ '))
      .map((l) => l.slice(2).replaceAll('localhost:8000', `127.0.0.1:${port}`));
    assert.equal(commands.length, 1);
    const out = await run('bash', ['-c', commands[0]!]);
    assert.equal(out.stdout, 'healthy', 'the priority-1 target answered');
    await node.stop();
    assert.equal(back(draw(receiver.spans).join('\n')), block('tracing-output'));
    const resource = receiver.spans[0]!.resource;
    assert.equal(resource['service.name'], 'edge');
    assert.equal(resource['deployment.environment'], 'staging');
    assert.equal(receiver.requests[0]!.authorization, 'Bearer docs-token', 'the export carries the header');
    assert.match(String(receiver.requests[0]!['content-type']), /^application\/json/);
  });
});
