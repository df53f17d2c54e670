/**
 * Every example of docs/discovery.md, run: each `example` block is started as a node (its DNS
 * server, addresses and ports moved to the dnsmasq and the HTTP servers this test started), the
 * `file_sd` block is written where the example's directory is, and traffic must reach the targets
 * the page says.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { admin } from '../helpers/admin.ts';
import { REPO_ROOT } from '../helpers/child.ts';
import { type Dnsmasq, hasDnsmasq, startDnsmasq } from '../helpers/dnsmasq.ts';
import { answers } from '../helpers/follow.ts';
import { startFulcrum, testHeader } from '../helpers/fulcrum.ts';

const DOC = readFileSync(join(REPO_ROOT, 'docs', 'discovery.md'), 'utf8');
const blocks = (kind: string) =>
  new Map(
    [...DOC.matchAll(new RegExp(`<!-- ${kind}: ([^ ]+) -->\\n\`\`\`yaml\\n([\\s\\S]*?)\`\`\``, 'g'))].map(
      (m) => [m[1]!, m[2]!],
    ),
  );
const EXAMPLES = blocks('example');
const FILES = blocks('file_sd');

async function serve(address: string, port = 0): Promise<Server> {
  const server = createServer((_req, res) => res.end(address));
  await new Promise<void>((r) => server.listen(port, address, r));
  return server;
}

describe('docs/discovery.md, run', { skip: hasDnsmasq ? false : 'dnsmasq is not installed' }, () => {
  let dns: Dnsmasq;
  let servers: Server[];
  let port: number;

  before(async () => {
    const first = await serve('127.0.0.2');
    port = (first.address() as AddressInfo).port;
    servers = [first, await serve('127.0.0.3', port), await serve('127.0.0.4', port)];
    dns = await startDnsmasq({
      hosts:
        '127.0.0.2 api.example.test\n127.0.0.3 api.example.test\n127.0.0.2 web.example.test\n127.0.0.3 web.example.test\n',
      config: `srv-host=_http._tcp.api.example.test,a.example.test,${port},0,10\nhost-record=a.example.test,127.0.0.4\n`,
    });
  });

  after(async () => {
    await dns?.stop();
    for (const s of servers ?? []) {
      s.closeAllConnections();
      s.close();
    }
  });

  /** Start an example as a node on this test's addresses. */
  async function run(name: string, check: (url: string, adminUrl: string) => Promise<void>) {
    const yaml = EXAMPLES.get(name);
    assert.ok(yaml !== undefined, `the page has the ${name} example`);
    const body = yaml
      .replace('_format_version: "3.0"\n', '')
      .replaceAll('127.0.0.1:5353', dns.address)
      .replaceAll(':8080', `:${port}`);
    const node = await startFulcrum(body, { header: testHeader() });
    try {
      await check(node.url, node.adminUrl);
    } finally {
      await node.stop();
    }
  }

  it('dns: one target per A record, each with the target weight', () =>
    run('dns', async (url, adminUrl) => {
      assert.deepEqual([...(await answers(url, 10)).keys()].sort(), ['127.0.0.2', '127.0.0.3']);
      const rows = (await admin(adminUrl, 'GET', '/upstreams/api/targets')).body.data as Record<
        string,
        unknown
      >[];
      assert.deepEqual(
        rows.filter((r) => r.source === 'dns').map((r) => r.weight),
        [50, 50],
      );
    }));

  it('srv: the record port and address', () =>
    run('srv', async (url) => {
      assert.deepEqual([...(await answers(url, 5)).keys()], ['127.0.0.4']);
    }));

  it('service: a hostname host balanced across its records', () =>
    run('service', async (url) => {
      assert.deepEqual([...(await answers(url, 10)).keys()].sort(), ['127.0.0.2', '127.0.0.3']);
    }));

  it('file_sd: the files of the directory, labels applied', async () => {
    const yaml = EXAMPLES.get('file_sd')!;
    const [path, text] = [...FILES][0]!;
    const node = await startFulcrum(yaml.replace('_format_version: "3.0"\n', ''), {
      header: testHeader(),
      before: (dir: string) => {
        const file = join(dir, path);
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(
          file,
          text
            .replace('10.0.0.1:8080', `127.0.0.2:${port}`)
            .replace('10.0.0.2:8080', `127.0.0.3:${port}`)
            .replace('10.0.0.3:8080', `127.0.0.4:${port}`),
        );
      },
    });
    try {
      const seen = await answers(node.url, 160);
      assert.equal(seen.get('127.0.0.2'), 30);
      assert.equal(seen.get('127.0.0.3'), 30);
      assert.equal(seen.get('127.0.0.4'), 100);
      const rows = (await admin(node.adminUrl, 'GET', '/upstreams/web/targets')).body.data as Record<
        string,
        unknown
      >[];
      assert.deepEqual(rows.find((r) => r.target === `127.0.0.2:${port}`)!.tags, ['blue', 'canary']);
      assert.equal(rows.find((r) => r.target === `127.0.0.2:${port}`)!.zone, 'eu-west-1a');
    } finally {
      await node.stop();
    }
  });
});
