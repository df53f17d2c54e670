/**
 * A change on a node with two workers rebuilds, in every worker, only what changed: the primary
 * hands each worker a fresh copy of the snapshot, and the worker puts the objects of the snapshot
 * in service back in place of the equal ones (src/workers/snapshot-reuse.ts), so that
 * `Generation.build` keeps the runtime objects of whatever did not change, as in one process.
 * Seen through what an operator sees: the `rebuilt` field of the workers' "configuration applied"
 * lines and fulcrum_config_objects_total in the node's /metrics.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type ChildFulcrum, type LogLine, spawnFulcrum, writeConfig } from '../../helpers/child.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';
import { getFresh, workersOf } from '../../helpers/workers.ts';

/** Upstream a, its service and route built anew; b, its service and route, the plugin set and the routers kept. */
const ONLY_A = { upstream: '1/2', service: '1/2', route: '1/2', plugins: '0/1', router: '0/1' };
const NOTHING = { upstream: '0/2', service: '0/2', route: '0/2', plugins: '0/1', router: '0/1' };

describe('what a change rebuilds in the workers', { timeout: 60_000 }, () => {
  const ups: TestUpstream[] = [];
  let dir: string;
  let file: string;
  let node: ChildFulcrum;

  /** fulcrum_config_objects_total per worker, `kind/outcome` → count. */
  async function objects(): Promise<Map<number, Map<string, number>>> {
    const text = (await getFresh(`http://127.0.0.1:${node.adminPort}/metrics`)).body;
    const out = new Map<number, Map<string, number>>();
    for (const line of text.split('\n')) {
      const m = /^fulcrum_config_objects_total\{worker="(\d+)",kind="(\w+)",outcome="(\w+)"\} (\d+)/.exec(
        line,
      );
      if (m === null) continue;
      const w = out.get(Number(m[1])) ?? new Map<string, number>();
      w.set(`${m[2]}/${m[3]}`, Number(m[4]));
      out.set(Number(m[1]), w);
    }
    return out;
  }

  /** What each worker's build of the next generation made anew, from its log line and its metrics. */
  async function change(act: () => void): Promise<{ logs: LogLine[]; built: Map<string, number>[] }> {
    const gen = (await workersOf(node.adminPort))[0]!.generation;
    const before = await objects();
    const applied = (w: number) =>
      node.waitForLog(
        (l) => l.msg === 'configuration applied' && l.worker === w && l.generation === gen + 1,
        20_000,
      );
    const waits = [applied(1), applied(2)];
    act();
    const logs = await Promise.all(waits);
    const afterCount = await objects();
    const built = [1, 2].map((w) => {
      const d = new Map<string, number>();
      for (const [k, n] of afterCount.get(w) ?? []) d.set(k, n - (before.get(w)?.get(k) ?? 0));
      return d;
    });
    return { logs, built };
  }

  before(async () => {
    for (const n of ['a1', 'a2', 'b1', 'b2']) ups.push(await startUpstream(n));
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-workers-reuse-'));
    writeFileSync(join(dir, 'a.json'), JSON.stringify([{ targets: [ups[0]!.target] }]));
    file = writeConfig(`workers: 2
services:
  - name: a
    host: a
    routes: [{ name: ra, paths: ["/a"] }]
  - name: b
    host: b
    routes:
      - name: rb
        paths: ["/b"]
        plugins:
          - name: rate-limiting
            config: { hour: 1000, limit_by: ip }
upstreams:
  - name: a
    algorithm: round-robin
    file_sd:
      directory: ${dir}
  - name: b
    algorithm: ring-hash
    targets:
      - target: ${ups[2]!.target}
      - target: ${ups[3]!.target}
`);
    node = await spawnFulcrum(file, { startTimeoutMs: 20_000 });
  });

  after(async () => {
    await node?.stop();
    await Promise.all(ups.map((u) => u.close()));
  });

  it('rebuilds only upstream a and what stands on it when discovery changes a', async () => {
    const { logs, built } = await change(() =>
      writeFileSync(join(dir, 'a.json'), JSON.stringify([{ targets: [ups[0]!.target, ups[1]!.target] }])),
    );
    for (const l of logs) assert.deepEqual(l.rebuilt, ONLY_A);
    for (const d of built) {
      assert.equal(d.get('upstream/built'), 1);
      assert.equal(d.get('upstream/kept'), 1);
      assert.equal(d.get('plugins/built'), 0);
      assert.equal(d.get('router/built'), 0);
    }
    assert.equal((await getFresh(`${node.url}/b`)).status, 200);
  });

  it('rebuilds only upstream a when the file changes a alone', async () => {
    const { logs } = await change(() => {
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace('algorithm: round-robin', 'algorithm: least-connections'),
      );
      node.signal('SIGHUP');
    });
    for (const l of logs) assert.deepEqual(l.rebuilt, ONLY_A);
  });

  it('rebuilds nothing for the same file again (SIGHUP)', async () => {
    const { logs, built } = await change(() => node.signal('SIGHUP'));
    for (const l of logs) {
      assert.equal(l.changed, false);
      assert.deepEqual(l.rebuilt, NOTHING);
    }
    for (const d of built) for (const [k, n] of d) if (k.endsWith('/built')) assert.equal(n, 0, k);
  });
});
