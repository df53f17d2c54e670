/**
 * `workers: 2`: circuit breakers are the node's, not each worker's (src/workers/breakers.ts).
 * `max_connections` per target holds at the target however the connections spread over the
 * workers; `max_requests` admits exactly that many tries in flight across both, the rest get 503
 * FULCRUM_ERR_UPSTREAM_OVERFLOW; one retry budget serves both; tries that end by a timeout or a
 * client leaving, and a worker killed while it holds tries, give their places back.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { type ChildFulcrum, spawnFulcrum, writeConfig } from '../../helpers/child.ts';
import { waitFor } from '../../helpers/faulty-upstream.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';
import { getFresh, metricTotal, requestsByWorker, workersOf } from '../../helpers/workers.ts';

/** An upstream that holds every response until told, and knows how many are held. */
interface Holding {
  readonly up: TestUpstream;
  /** Responses held, their client still connected. */
  readonly held: Set<ServerResponse>;
  releaseAll(): void;
}

async function holdingUpstream(name: string): Promise<Holding> {
  const held = new Set<ServerResponse>();
  const up = await startUpstream(name, (req, res) => {
    held.add(res);
    req.socket.on('close', () => held.delete(res));
  });
  return {
    up,
    held,
    releaseAll() {
      for (const res of held) res.end(name);
      held.clear();
    },
  };
}

describe('circuit breakers across two workers', { timeout: 90_000 }, () => {
  let slow: TestUpstream;
  /** Connections open at `slow` now, and the most seen at once. */
  let open = 0;
  let mostOpen = 0;
  let hold: Holding;
  /** A target that resets every request (each one a `reset` failure, retried). */
  let flaky: TestUpstream;
  let node: ChildFulcrum;

  before(async () => {
    slow = await startUpstream('slow', (_req, res) => {
      setTimeout(() => res.end('slow'), 40);
    });
    slow.server.on('connection', (socket) => {
      open++;
      // Counted once this turn of the event loop is over: a connection the proxy closed (its FIN
      // sent before it gave the slot back, so before the new connection's SYN) may be read in the
      // same epoll batch as the new connection's accept, and its 'end' handled after it.
      setImmediate(() => {
        mostOpen = Math.max(mostOpen, open);
      });
      let gone = false;
      const down = () => {
        if (gone) return;
        gone = true;
        open--;
      };
      // The proxy closing its side is the connection's end (the 'close' event may come after a
      // new connection's arrival, in the same turn of this process's event loop).
      socket.on('end', down);
      socket.on('error', down);
      socket.on('close', down);
    });
    hold = await holdingUpstream('hold');
    flaky = await startUpstream('flaky', (req) => req.socket.destroy());
    const file = writeConfig(`workers: 2
upstreams:
  - name: conns
    circuit_breaker: { max_connections: 2 }
    targets: [{ target: ${slow.target} }]
  - name: tries
    circuit_breaker: { max_requests: 3 }
    targets: [{ target: ${hold.up.target} }]
  - name: flaky
    # A reserve of 10 retries (1/s over 10 s), nothing per request: 10 retries for the node.
    retry_budget: { percent: 0, min_retries_per_sec: 1, ttl: 10000 }
    targets: [{ target: ${flaky.target} }]
services:
  - name: flaky
    host: flaky
    retries: 1
    routes: [{ name: flaky, paths: ["/flaky"] }]
  - name: conns
    host: conns
    retries: 0
    routes: [{ name: conns, paths: ["/conns"] }]
  - name: tries
    host: tries
    retries: 0
    routes: [{ name: tries, paths: ["/tries"] }]
  - name: tries-deadline
    host: tries
    retries: 0
    request_timeout: 300
    routes: [{ name: tries-deadline, paths: ["/deadline"] }]
`);
    node = await spawnFulcrum(file, { startTimeoutMs: 20_000 });
  });

  after(async () => {
    hold?.releaseAll();
    await node?.stop();
    await slow?.close();
    await hold?.up.close();
    await flaky?.close();
  });

  it('never opens more than max_connections to a target across the workers', async () => {
    const before = await requestsByWorker(node.adminPort);
    // Three rounds of 24 concurrent requests, each on a connection of its own (so both workers
    // take part), every one of them waiting its turn for one of the two connections.
    for (let round = 0; round < 3; round++) {
      const statuses = await Promise.all(
        Array.from({ length: 24 }, () => getFresh(`${node.url}/conns`).then((r) => r.status)),
      );
      assert.deepEqual(
        statuses.filter((s) => s !== 200),
        [],
      );
    }
    const afterCount = await requestsByWorker(node.adminPort);
    for (const w of [1, 2])
      assert.ok((afterCount.get(w) ?? 0) - (before.get(w) ?? 0) > 0, `worker ${w} took part`);
    assert.ok(mostOpen >= 1);
    assert.ok(mostOpen <= 2, `at most 2 connections open at the target at once: ${mostOpen}`);
  });

  it('admits exactly max_requests tries in flight across the workers, 503 for the rest', async () => {
    const before = await requestsByWorker(node.adminPort);
    const answers: { status: number; body: string }[] = [];
    const sent = Array.from({ length: 10 }, () =>
      getFresh(`${node.url}/tries`, {}, 60_000).then((r) => {
        answers.push(r);
        return r;
      }),
    );
    // Every request is either held at the target or answered.
    await waitFor(() => hold.held.size + answers.length === 10, 'every request held or answered', 15_000);
    assert.equal(hold.held.size, 3, 'exactly max_requests reached the target');
    assert.equal(answers.length, 7);
    for (const a of answers) {
      assert.equal(a.status, 503);
      assert.match(a.body, /FULCRUM_ERR_UPSTREAM_OVERFLOW/);
    }
    // Each worker counts its own refusals; /metrics sums them.
    const overflows = { upstream: 'tries', breaker: 'max_requests' };
    assert.equal(await metricTotal(node.adminPort, 'fulcrum_upstream_overflows_total', overflows), 7);
    hold.releaseAll();
    const all = await Promise.all(sent);
    assert.equal(all.filter((r) => r.status === 200).length, 3);
    const afterCount = await requestsByWorker(node.adminPort);
    for (const w of [1, 2])
      assert.ok((afterCount.get(w) ?? 0) - (before.get(w) ?? 0) > 0, `worker ${w} took part`);
    // Every try handed its place back: three more fit.
    const again = Array.from({ length: 3 }, () => getFresh(`${node.url}/tries`, {}, 60_000));
    await waitFor(() => hold.held.size === 3, 'three more held', 15_000);
    hold.releaseAll();
    for (const r of await Promise.all(again)) assert.equal(r.status, 200);
  });

  it('keeps one retry budget for the node', async () => {
    const before = await requestsByWorker(node.adminPort);
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () => getFresh(`${node.url}/flaky`).then((r) => r.status)),
    );
    assert.deepEqual(new Set(statuses), new Set([502]));
    // 20 first tries and the budget's 10 retries, whichever worker made them.
    assert.equal(flaky.seen.length, 30);
    const refused = { upstream: 'flaky', breaker: 'retry_budget' };
    assert.equal(await metricTotal(node.adminPort, 'fulcrum_upstream_overflows_total', refused), 10);
    const afterCount = await requestsByWorker(node.adminPort);
    for (const w of [1, 2])
      assert.ok((afterCount.get(w) ?? 0) - (before.get(w) ?? 0) > 0, `worker ${w} took part`);
  });

  it('gives back the places of tries that timed out and of clients that left', async () => {
    const ends = [
      getFresh(`${node.url}/deadline`, {}, 60_000).then((r) => r.status),
      getFresh(`${node.url}/deadline`, {}, 60_000).then((r) => r.status),
      // This client gives up after 300 ms without an answer: the proxy drops its try.
      getFresh(`${node.url}/tries`, {}, 300).then(
        (r) => r.status,
        () => 0,
      ),
    ];
    await waitFor(() => hold.held.size === 3, 'three held', 15_000);
    assert.deepEqual((await Promise.all(ends)).sort(), [0, 504, 504]);
    await waitFor(() => hold.held.size === 0, 'the target sees the three tries given up', 15_000);
    const answered: number[] = [];
    const more = Array.from({ length: 6 }, () =>
      getFresh(`${node.url}/tries`, {}, 60_000).then((r) => {
        answered.push(r.status);
        return r.status;
      }),
    );
    await waitFor(() => hold.held.size + answered.length === 6, 'every request held or answered', 15_000);
    assert.equal(hold.held.size, 3, 'the three places came back');
    assert.deepEqual(answered, [503, 503, 503]);
    hold.releaseAll();
    assert.deepEqual((await Promise.all(more)).sort(), [200, 200, 200, 503, 503, 503]);
  });

  it('gives back what a killed worker held', async () => {
    const answers: number[] = [];
    const first = Array.from({ length: 3 }, () =>
      getFresh(`${node.url}/tries`, {}, 60_000).then(
        (r) => answers.push(r.status),
        () => answers.push(0),
      ),
    );
    await waitFor(() => hold.held.size === 3, 'three held', 15_000);
    const workers = await workersOf(node.adminPort);
    const busy = workers.find((w) => (w.requests_in_flight ?? 0) > 0);
    assert.ok(busy?.pid, 'a worker holds tries');
    const killed = busy.requests_in_flight ?? 0;
    const replaced = node.waitForLog(
      (l) => l.msg === 'worker serving' && l.worker === busy.worker && l.pid !== busy.pid,
      20_000,
    );
    process.kill(busy.pid, 'SIGKILL');
    // Its connections to the target close with it.
    await waitFor(() => hold.held.size === 3 - killed, 'the dead worker tries gone', 15_000);
    await replaced;
    // The node holds what the survivor holds: exactly the places the dead worker had are free.
    const answered: number[] = [];
    const more = Array.from({ length: 8 }, () =>
      getFresh(`${node.url}/tries`, {}, 60_000).then((r) => {
        answered.push(r.status);
        return r.status;
      }),
    );
    await waitFor(
      () => hold.held.size + answered.length === 3 - killed + 8,
      'every request held or answered',
      15_000,
    );
    assert.equal(hold.held.size, 3, `the dead worker's ${killed} places came back, and no more`);
    hold.releaseAll();
    const statuses = await Promise.all(more);
    assert.equal(statuses.filter((s) => s === 200).length, killed);
    assert.equal(statuses.filter((s) => s === 503).length, 8 - killed);
    await Promise.all(first);
  });
});
