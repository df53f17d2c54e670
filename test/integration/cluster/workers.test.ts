/**
 * `workers: 2`: both workers serve the one port, a rate limit holds exactly across them (the
 * primary counts), a change reaches both as one generation, and a killed worker is replaced while
 * the other keeps serving its connections.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ChildFulcrum, spawnFulcrum, writeConfig } from '../../helpers/child.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';
import { Agent, getFresh, getWith, requestsByWorker, workersOf } from '../../helpers/workers.ts';

describe('a node with two workers', { timeout: 60_000 }, () => {
  let up: TestUpstream;
  const shop: TestUpstream[] = [];
  let node: ChildFulcrum;

  before(async () => {
    up = await startUpstream('a');
    for (const n of ['s1', 's2', 's3', 's4']) shop.push(await startUpstream(n));
    // `shop` signs its sticky cookies with the default key (no `secret`): the workers must share it.
    const file = writeConfig(`workers: 2
upstreams:
  - name: shop
    algorithm: round-robin
    sticky: { mode: cookie, cookie: { name: SRV } }
    targets:
${shop.map((u) => `      - target: ${u.target}`).join('\n')}
services:
  - name: sticky
    host: shop
    routes: [{ name: sticky, paths: ["/sticky"] }]
  - name: s
    url: http://${up.target}/
    routes:
      - name: r
        paths: ["/"]
      - name: limited
        paths: ["/limited"]
        plugins:
          - name: rate-limiting
            config: { hour: 20, limit_by: ip }
`);
    node = await spawnFulcrum(file, { startTimeoutMs: 20_000 });
  });

  after(async () => {
    await node?.stop();
    await up?.close();
    await Promise.all(shop.map((u) => u.close()));
  });

  it('serves the port from both workers', async () => {
    for (let i = 0; i < 40; i++) assert.equal((await getFresh(`${node.url}/`)).status, 200);
    const byWorker = await requestsByWorker(node.adminPort);
    assert.deepEqual([...byWorker.keys()].sort(), [1, 2]);
    for (const n of byWorker.values()) assert.ok(n >= 5, `every worker served: ${[...byWorker]}`);
    const workers = await workersOf(node.adminPort);
    assert.deepEqual(
      workers.map((w) => [w.worker, w.state, w.generation]),
      [
        [1, 'serving', 1],
        [2, 'serving', 1],
      ],
    );
  });

  it('keeps a sticky cookie one worker signed on the other, without a configured secret', async () => {
    const before = await requestsByWorker(node.adminPort);
    const first = await getFresh(`${node.url}/sticky`);
    const pin = /^SRV=[^;]+/.exec(String(first.headers['set-cookie']?.[0] ?? ''))?.[0];
    assert.ok(pin !== undefined, 'the first visit got a cookie');
    for (let i = 0; i < 12; i++)
      assert.equal((await getFresh(`${node.url}/sticky`, { cookie: pin })).body, first.body);
    const afterCount = await requestsByWorker(node.adminPort);
    for (const w of [1, 2])
      assert.ok((afterCount.get(w) ?? 0) - (before.get(w) ?? 0) > 0, `worker ${w} served some of them`);
  });

  it('admits exactly the limit across both workers', async () => {
    const before = await requestsByWorker(node.adminPort);
    const statuses = await Promise.all(
      Array.from({ length: 60 }, () => getFresh(`${node.url}/limited`).then((r) => r.status)),
    );
    assert.equal(statuses.filter((s) => s === 200).length, 20);
    assert.equal(statuses.filter((s) => s === 429).length, 40);
    const afterCount = await requestsByWorker(node.adminPort);
    for (const w of [1, 2])
      assert.ok(
        (afterCount.get(w) ?? 0) - (before.get(w) ?? 0) > 0,
        `worker ${w} took part in the limited burst`,
      );
  });

  it('replaces a killed worker while the other keeps its connections', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 6 });
    // Six kept connections, spread over both workers.
    await Promise.all(Array.from({ length: 6 }, () => getWith(`${node.url}/`, agent)));
    const [w1, w2] = await workersOf(node.adminPort);
    assert.ok(w1?.pid);
    // What each worker holds of the six (the rest of this test's connections closed after use).
    const held = w1.connections ?? -1;
    assert.equal(held + (w2?.connections ?? 0), 6);
    process.kill(w1.pid, 'SIGKILL');
    // Once the primary has reaped it, the dead worker's sockets are closed: its listening socket
    // too, so no new connection can land in its accept queue and be reset with it (with
    // reuseport, the kernel hashes connections to every socket of the group until it is closed).
    await node.waitForLog((l) => l.msg === 'worker exited: starting a replacement' && l.pid === w1.pid);
    const replaced = node.waitForLog(
      (l) => l.msg === 'worker serving' && l.worker === 1 && l.pid !== w1.pid,
      20_000,
    );
    // Requests go on through the kept connections: a request on a connection of the dead worker
    // may fail once (its socket is gone); the agent then opens a new one.
    let failed = 0;
    let ok = 0;
    const until = Date.now() + 1500;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        while (Date.now() < until) {
          try {
            const r = await getWith(`${node.url}/`, agent);
            if (r.status === 200) ok++;
            else failed++;
          } catch {
            failed++;
          }
        }
      }),
    );
    await replaced;
    agent.destroy();
    assert.ok(ok > 50, `requests went on: ${ok}`);
    assert.ok(
      failed <= held,
      `only the dead worker's ${held} connections failed, at most once each: ${failed}`,
    );
    const workers = await workersOf(node.adminPort);
    assert.equal(workers[0]!.restarts, 1);
    assert.equal(workers[0]!.state, 'serving');
    assert.notEqual(workers[0]!.pid, w1.pid);
    // The replacement serves too.
    for (let i = 0; i < 10; i++) assert.equal((await getFresh(`${node.url}/`)).status, 200);
  });

  it('applies a change in both workers as one generation (SIGHUP)', async () => {
    const gen = (await workersOf(node.adminPort))[1]!.generation;
    node.signal('SIGHUP');
    await node.waitForLog(
      (l) => l.msg === 'configuration applied' && l.worker === undefined && Number(l.generation) > gen,
    );
    const workers = await workersOf(node.adminPort);
    assert.equal(workers[0]!.generation, gen + 1);
    assert.equal(workers[1]!.generation, gen + 1);
  });

  it('drains both workers on SIGTERM', async () => {
    const exit = await node.stop();
    assert.equal(exit.code, 0);
    const stopped = node.logs.filter((l) => l.msg === 'fulcrum stopped');
    assert.equal(stopped.length, 3, 'both workers and the primary stopped');
  });
});
