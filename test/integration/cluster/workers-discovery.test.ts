/**
 * Discovery on a node with workers: the primary discovers (here a file_sd directory) and puts what
 * it finds in service through its workers like any configuration change, both workers at once with
 * the same generation number; the workers resolve nothing themselves.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ChildFulcrum, spawnFulcrum, writeConfig } from '../../helpers/child.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';
import { getFresh, requestsByWorker, workersOf } from '../../helpers/workers.ts';

describe('discovery on a node with two workers', { timeout: 60_000 }, () => {
  let one: TestUpstream;
  let two: TestUpstream;
  let dir: string;
  let node: ChildFulcrum;

  /** Who answers `n` requests, each on a connection of its own (spread over the workers). */
  async function answers(n: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const r = await getFresh(`${node.url}/`);
      const who = r.status === 200 ? r.body : `status ${r.status}`;
      out.set(who, (out.get(who) ?? 0) + 1);
    }
    return out;
  }

  before(async () => {
    one = await startUpstream('one');
    two = await startUpstream('two');
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-workers-sd-'));
    writeFileSync(join(dir, 'a.json'), JSON.stringify([{ targets: [one.target] }]));
    const file = writeConfig(`workers: 2
services:
  - name: s
    host: web
    routes: [{ name: r, paths: ["/"] }]
upstreams:
  - name: web
    file_sd:
      directory: ${dir}
`);
    node = await spawnFulcrum(file, { startTimeoutMs: 20_000 });
  });

  after(async () => {
    await node?.stop();
    await one?.close();
    await two?.close();
  });

  it('starts every worker with the targets the primary discovered', async () => {
    assert.deepEqual([...(await answers(20))], [['one', 20]]);
    const byWorker = await requestsByWorker(node.adminPort);
    assert.deepEqual([...byWorker.keys()].sort(), [1, 2]);
    const status = JSON.parse((await getFresh(`http://127.0.0.1:${node.adminPort}/status`)).body) as {
      config: { generation: number; hash: string };
      discovery?: { files: { upstream: string; targets: number }[] };
    };
    assert.deepEqual(
      status.discovery?.files.map((f) => [f.upstream, f.targets]),
      [['web', 1]],
    );
    const workers = await workersOf(node.adminPort);
    assert.deepEqual(
      workers.map((w) => w.generation),
      [status.config.generation, status.config.generation],
    );
  });

  it('puts a discovery change in service on both workers as one generation', async () => {
    const [w1] = await workersOf(node.adminPort);
    const was = w1!.generation;
    // (the start-up's own discovery change is in the log too, with an earlier generation)
    const changed = node.waitForLog(
      (l) => l.msg === 'discovered targets changed' && Number(l.generation) > was,
      15_000,
    );
    writeFileSync(join(dir, 'a.json'), JSON.stringify([{ targets: [two.target] }]));
    const line = await changed;
    // Logged once every worker has committed: from here on, no worker serves the old targets.
    assert.equal(line.generation, was + 1);
    assert.deepEqual([...(await answers(20))], [['two', 20]]);
    const workers = await workersOf(node.adminPort);
    assert.deepEqual(
      workers.map((w) => [w.worker, w.state, w.generation]),
      [
        [1, 'serving', was + 1],
        [2, 'serving', was + 1],
      ],
    );
  });
});
