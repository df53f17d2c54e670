/**
 * Source-ip affinity shared by the nodes of a cluster (`sticky.source_ip.store: cluster`): two real
 * nodes (child processes) and one real Redis. Clients on different loopback addresses (127.0.0.x)
 * are assigned targets through node A; node B sends each to the same target, though its own round
 * robin would have chosen otherwise (an upstream with `store: local` beside it shows B choosing
 * differently: the check could fail). A third node, with two workers, joins and reads the entries
 * in force (each worker its own table). With Redis killed both nodes go on serving from their own
 * tables: no request fails, and the clients they already knew keep their targets. The shared
 * upstream is docs/cluster.md's example, as written but for the Redis and the targets.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ChildFulcrum, REPO_ROOT, spawnFulcrum, writeConfig } from '../../helpers/child.ts';
import { markedBlock } from '../../helpers/doc-examples.ts';
import { until } from '../../helpers/follow.ts';
import { startRedis, type TestRedis } from '../../helpers/redis.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';
import { getFresh } from '../../helpers/workers.ts';

/** GET `url` from the local address `from` (the client address the node's table keys on). */
function getFrom(url: string, from: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { agent: false, localAddress: from }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** fulcrum_affinity_share_total of one event on a node (summed over its workers, if any). */
async function shareEvents(n: ChildFulcrum, event: string): Promise<number> {
  const r = await getFresh(`http://127.0.0.1:${n.adminPort}/metrics`);
  const re = new RegExp(
    `^fulcrum_affinity_share_total\\{(?:worker="\\d+",)?event="${event}"\\} (\\d+)`,
    'gm',
  );
  let sum = 0;
  for (const m of r.body.matchAll(re)) sum += Number(m[1]);
  return sum;
}

const CLIENTS = [2, 3, 4, 5, 6, 7, 8, 9].map((i) => `127.0.0.${i}`);

describe('source-ip affinity shared across the nodes of a cluster', { timeout: 60_000 }, () => {
  let redis: TestRedis;
  const ups: TestUpstream[] = [];
  const nodes: ChildFulcrum[] = [];
  let file = '';
  /** Client address → target, as node A assigned them (shared upstream). */
  const assigned = new Map<string, string>();

  before(async () => {
    redis = await startRedis();
    for (const n of ['a', 'b', 'c', 'd']) ups.push(await startUpstream(n));
    const targets = ups.map((u) => `      - target: ${u.target}`).join('\n');
    const doc = markedBlock(
      readFileSync(join(REPO_ROOT, 'docs', 'cluster.md'), 'utf8'),
      'example: affinity-cluster',
      'yaml',
    )
      .replace('_format_version: "3.0"\n', '')
      .replace('redis://127.0.0.1:6379', redis.url)
      .replace(/( {6}- target: 10\.0\.1\.1\d:8080\n)+/, `${targets}\n`);
    // The doc's upstream, and one like it whose table is each node's own.
    file = writeConfig(
      doc
        .replace(
          'upstreams:\n',
          `upstreams:
  - name: own
    algorithm: round-robin
    sticky: { mode: source-ip }
    targets:
${targets}
`,
        )
        .replace(
          'services:\n',
          `services:
  - name: o
    host: own
    routes: [{ name: o, paths: ["/own"] }]
`,
        ),
    );
    for (let i = 0; i < 2; i++) nodes.push(await spawnFulcrum(file, { startTimeoutMs: 20_000 }));
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await redis?.stop();
    await Promise.all(ups.map((u) => u.close()));
  });

  it('sends a client to the target node A assigned when it reaches node B', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    const own = new Map<string, string>();
    for (const ip of CLIENTS) {
      assigned.set(ip, (await getFrom(`${a.url}/shop`, ip)).body);
      own.set(ip, (await getFrom(`${a.url}/own`, ip)).body);
    }
    assert.equal(new Set(assigned.values()).size, 4, 'round robin spread the clients over the 4 targets');
    // B applies what A published (the pick itself never waits for Redis).
    await until(async () => (await shareEvents(b, 'applied')) >= CLIENTS.length);
    // Move B's round robin on, and ask it in the reverse order: alone, it would choose otherwise.
    await getFrom(`${b.url}/shop`, '127.0.0.1');
    await getFrom(`${b.url}/own`, '127.0.0.1');
    const onB = new Map<string, string>();
    const ownOnB = new Map<string, string>();
    for (const ip of [...CLIENTS].reverse()) {
      onB.set(ip, (await getFrom(`${b.url}/shop`, ip)).body);
      ownOnB.set(ip, (await getFrom(`${b.url}/own`, ip)).body);
    }
    assert.deepEqual(Object.fromEntries(onB), Object.fromEntries(assigned));
    assert.notDeepEqual(Object.fromEntries(ownOnB), Object.fromEntries(own), 'store: local is per node');
    // Both nodes wrote to Redis: A its 8 assignments, B its one (127.0.0.1).
    assert.equal(await shareEvents(a, 'written'), CLIENTS.length);
    assert.equal(await shareEvents(b, 'written'), 1);
  });

  it('gives a node that joins the entries in force, in each of its workers', async () => {
    const c = await spawnFulcrum(null, {
      args: ['start', '-c', file, '--workers', '2'],
      startTimeoutMs: 20_000,
    });
    nodes.push(c);
    // A's eight and B's one, read by each worker once it had subscribed; no message carries them.
    await until(async () => (await shareEvents(c, 'loaded')) >= 2 * (CLIENTS.length + 1));
    assert.equal(await shareEvents(c, 'applied'), 0);
    for (const ip of CLIENTS) assert.equal((await getFrom(`${c.url}/shop`, ip)).body, assigned.get(ip), ip);
  });

  it('keeps each node serving from its own table while Redis is away', async () => {
    const [a, b] = [nodes[0]!, nodes[1]!];
    await redis.kill();
    let failed = 0;
    const fresh = ['127.0.0.20', '127.0.0.21', '127.0.0.22', '127.0.0.23'];
    for (const n of [a, b]) {
      for (const ip of CLIENTS) {
        const r = await getFrom(`${n.url}/shop`, ip);
        if (r.status !== 200) failed++;
        else assert.equal(r.body, assigned.get(ip), `${ip} keeps its target`);
      }
      for (const ip of fresh) if ((await getFrom(`${n.url}/shop`, ip)).status !== 200) failed++;
    }
    assert.equal(failed, 0);
    for (const n of [a, b])
      await n.waitForLog((l) => String(l.msg).startsWith('affinity: Redis is slow or away'));
    assert.ok((await shareEvents(a, 'failed')) >= 1);
  });
});
