import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { FulcrumNode } from '../../src/runtime/node.ts';
import { startFulcrum, TEST_NODE_HEADER, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

describe('zone-aware balancing through a running proxy', () => {
  let ups: TestUpstream[] = [];
  let f: TestNode;
  let agent: Agent;
  /** a2 answers 503 once this is set. */
  let failing = false;
  before(async () => {
    // Zone a (local): a1 and a2; zone b: b1, b2.
    ups = [
      await startUpstream('a1'),
      await startUpstream('a2', (_req, res) => {
        res.writeHead(failing ? 503 : 200, { 'content-type': 'text/plain' });
        res.end('a2');
      }),
      await startUpstream('b1'),
      await startUpstream('b2'),
    ];
    f = await startFulcrum(`
zone: a
services:
  - name: s
    host: u
    retries: 0
    routes: [{ paths: ["/"] }]
upstreams:
  - name: u
    algorithm: round-robin
    healthchecks:
      passive:
        unhealthy: { http_failures: 1 }
        base_ejection_time: 60
      threshold: 0
    targets:
      - { target: "${ups[0]!.target}", zone: a }
      - { target: "${ups[1]!.target}", zone: a }
      - { target: "${ups[2]!.target}", zone: b }
      - { target: "${ups[3]!.target}", zone: b }
`);
    agent = new Agent({ connections: 4 });
  });
  after(async () => {
    await agent.close();
    await f.stop();
    for (const u of ups) await u.close();
  });

  async function shares(n: number): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const r = await request(`${f.url}/`, { dispatcher: agent });
      const name = await r.body.text();
      out[name] = (out[name] ?? 0) + 1 / n;
    }
    return out;
  }

  it('keeps traffic in-zone while the zone is healthy, and spills the missing share when it is not', async (t) => {
    const healthy = await shares(40);
    assert.deepEqual(Object.keys(healthy).sort(), ['a1', 'a2'], JSON.stringify(healthy));
    failing = true;
    // Round robin in zone a reaches a2 within two requests: one 503 ejects it.
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) {
      const r = await request(`${f.url}/`, { dispatcher: agent });
      statuses.push(r.statusCode);
      await r.body.text();
    }
    assert.ok(statuses.includes(503), String(statuses));
    // Zone a now has 1 of 2: demand 1/2, capacity 1/3: it keeps 2/3, zone b takes 1/3.
    const degraded = await shares(600);
    t.diagnostic(`shares with a2 ejected: ${JSON.stringify(degraded)}`);
    assert.equal(degraded.a2, undefined);
    assert.ok(Math.abs((degraded.a1 ?? 0) - 2 / 3) < 0.07, `a1 ${degraded.a1}`);
    assert.ok(Math.abs((degraded.b1 ?? 0) + (degraded.b2 ?? 0) - 1 / 3) < 0.07, JSON.stringify(degraded));
    assert.ok((degraded.b1 ?? 0) > 0.1 && (degraded.b2 ?? 0) > 0.1, 'round robin within zone b');
    const status = (await (await request(`${f.adminUrl}/status`)).body.json()) as {
      upstreams: { targets: { zone: string | null }[] }[];
    };
    assert.deepEqual(
      status.upstreams[0]!.targets.map((x) => x.zone),
      ['a', 'a', 'b', 'b'],
    );
  });
});

describe('the node zone override (CLI --zone, FULCRUM_ZONE)', () => {
  it('wins over the file, at start and across reloads', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-zone-'));
    const file = join(dir, 'f.yaml');
    writeFileSync(file, `${TEST_NODE_HEADER}zone: file-zone\n`);
    const node = await FulcrumNode.start({
      configFile: file,
      accessLog: 'off',
      logLevel: 'silent',
      zone: 'z2',
    });
    try {
      assert.equal(node.runtime.current.snapshot.node.zone, 'z2');
      writeFileSync(file, `${TEST_NODE_HEADER}zone: other\n`);
      assert.ok((await node.reload()).ok);
      assert.equal(node.runtime.current.snapshot.node.zone, 'z2');
    } finally {
      await node.stop();
    }
    const plain = await FulcrumNode.start({ configFile: file, accessLog: 'off', logLevel: 'silent' });
    assert.equal(plain.runtime.current.snapshot.node.zone, 'other', 'no override: the file');
    await plain.stop();
  });
});
