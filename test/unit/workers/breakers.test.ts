/**
 * The node's circuit-breaker counts kept by a primary for its workers (src/workers/breakers.ts),
 * and a worker's side of them (worker-breakers.ts), on virtual time: tries and retries admitted
 * against the node's counts, the retry budget fed by every worker, connection slots handed out
 * first asked first served, and everything a dead worker held given back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CircuitBreakerSpec, DEFAULT_CIRCUIT_BREAKER } from '../../../src/config/resilience.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { UpstreamGuard } from '../../../src/upstreams/guard.ts';
import { type BreakerAnswer, type BreakerAsk, PrimaryBreakers } from '../../../src/workers/breakers.ts';
import { REQUESTS_FLUSH_MS, WorkerBreakers } from '../../../src/workers/worker-breakers.ts';

const limits = (o: Partial<CircuitBreakerSpec>): CircuitBreakerSpec => ({ ...DEFAULT_CIRCUIT_BREAKER, ...o });

/** A primary on a ManualClock whose answers are kept per worker. */
function primary(spec: Map<string, CircuitBreakerSpec>) {
  const clock = new ManualClock();
  const sent = new Map<number, BreakerAnswer[]>();
  const p = new PrimaryBreakers({
    nowMs: () => clock.monoMs(),
    limits: (u) => spec.get(u),
    send: (w, m) => {
      const list = sent.get(w) ?? [];
      list.push(m);
      sent.set(w, list);
    },
  });
  /** The answers sent to worker `w` since last asked. */
  const to = (w: number): BreakerAnswer[] => {
    const list = sent.get(w) ?? [];
    sent.delete(w);
    return list;
  };
  return { p, clock, to };
}

/** Ask `n` tries of `kind` for worker `w` (ids from `first`); the refusals, by id. */
function ask(
  p: PrimaryBreakers,
  to: (w: number) => BreakerAnswer[],
  w: number,
  first: number,
  n: number,
  kind = '',
) {
  const q = Array.from({ length: n }, (_, i) => [first + i, 'u', kind] as const);
  p.handle(w, { t: 'cb', q } as BreakerAsk);
  const a = to(w).flatMap((m) => m.a ?? []);
  assert.equal(a.length, n);
  return {
    granted: a.filter(([, r]) => r === '').map(([id]) => id),
    refused: a.filter(([, r]) => r !== '').map(([, r]) => r),
  };
}

describe('the primary keeps the node circuit breakers', () => {
  it('admits max_requests across workers, and takes back what a dead worker held', () => {
    const { p, to } = primary(new Map([['u', limits({ maxRequests: 3 })]]));
    assert.equal(ask(p, to, 1, 1, 2).granted.length, 2);
    const second = ask(p, to, 2, 1, 2);
    assert.deepEqual(second.granted, [1]);
    assert.deepEqual(second.refused, ['max_requests']);
    // A release of worker 2 frees one place; releasing it again changes nothing.
    p.handle(2, { t: 'cb', rel: [1, 1] });
    assert.equal(p.counts('u')?.active, 2);
    p.gone(1);
    assert.equal(p.counts('u')?.active, 0);
    assert.equal(ask(p, to, 2, 10, 4).granted.length, 3);
  });

  it('counts a try pending until it is connected (max_pending_requests)', () => {
    const { p, to } = primary(new Map([['u', limits({ maxConnections: 1, maxPendingRequests: 2 })]]));
    assert.equal(ask(p, to, 1, 1, 3).refused.length, 1);
    p.handle(1, { t: 'cb', conn: [1] });
    assert.deepEqual(ask(p, to, 2, 1, 2).refused, ['max_pending_requests']);
    assert.deepEqual(p.counts('u'), { active: 3, pending: 2, retries: 0, requests: 0 });
  });

  it('keeps one retry budget, fed by every worker requests (percent + reserve over ttl)', () => {
    const { p, clock, to } = primary(
      new Map([['u', limits({ budgetPercent: 20, budgetMinRetriesPerSec: 1, budgetTtlMs: 10_000 })]]),
    );
    // Worker 1 served 50 requests; worker 2 retries: 10 (1/s over 10 s) + 20% of 50.
    p.handle(1, { t: 'cb', req: [['u', 50, 50]] });
    const r = ask(p, to, 2, 1, 25, 'reset');
    assert.equal(r.granted.length, 20);
    assert.deepEqual(new Set(r.refused), new Set(['retry_budget']));
    // Retries after a connect failure are charged to no budget.
    assert.equal(ask(p, to, 2, 100, 5, 'connect-failure').granted.length, 5);
    assert.equal(p.counts('u')?.retries, 25);
    p.handle(2, { t: 'cb', rel: [...r.granted, 100, 101, 102, 103, 104] });
    assert.equal(p.counts('u')?.retries, 0);
    // The window moves on: the requests and the retries fall out of it, the reserve is whole again.
    clock.advance(10_000);
    assert.equal(ask(p, to, 1, 1, 12, 'reset').granted.length, 10);
  });

  it('applies max_retries across workers, and new limits from the next question on', () => {
    const spec = new Map([['u', limits({ maxRetries: 2 })]]);
    const { p, to } = primary(spec);
    assert.equal(ask(p, to, 1, 1, 1, 'reset').granted.length, 1);
    assert.deepEqual(ask(p, to, 2, 1, 2, 'hedge').refused, ['max_retries']);
    spec.set('u', limits({ maxRetries: 4 }));
    assert.equal(ask(p, to, 2, 5, 3, 'reset').granted.length, 2);
  });

  it('forgets an upstream no longer configured once nothing is counted on it', () => {
    const spec = new Map([['u', limits({ maxRequests: 1 })]]);
    const { p, to } = primary(spec);
    ask(p, to, 1, 1, 1);
    spec.delete('u');
    assert.equal(p.counts('u')?.active, 1);
    p.handle(1, { t: 'cb', rel: [1] });
    assert.equal(p.counts('u'), null);
  });

  it('hands connection slots out first asked first served, and asks an idle one to close', () => {
    const { p, to } = primary(new Map());
    p.handle(1, {
      t: 'cb',
      slot: [
        [7, 'k', 2],
        [7, 'k', 2],
      ],
    });
    assert.deepEqual(to(1), [{ t: 'cb', s: [7, 7] }]);
    p.handle(2, { t: 'cb', slot: [[3, 'k', 2]] });
    assert.deepEqual(to(2), []);
    // Worker 1 holds both: it is asked to close an idle connection.
    assert.deepEqual(to(1), [{ t: 'cb', y: [7] }]);
    assert.deepEqual(p.connections('k'), { held: 2, waiting: 1 });
    p.handle(1, { t: 'cb', give: [[7, 1]] });
    assert.deepEqual(to(2), [{ t: 'cb', s: [3] }]);
    // Worker 2 dies holding its slot, worker 1 waits for one: it gets it.
    p.handle(1, { t: 'cb', slot: [[7, 'k', 2]] });
    assert.deepEqual(p.connections('k'), { held: 2, waiting: 1 });
    p.gone(2);
    assert.deepEqual(to(1), [{ t: 'cb', s: [7] }]);
    assert.deepEqual(p.connections('k'), { held: 2, waiting: 0 });
    p.gone(1);
    assert.deepEqual(p.connections('k'), { held: 0, waiting: 0 });
  });
});

describe("a worker's side of the breakers", () => {
  it('tells the primary of requests within REQUESTS_FLUSH_MS, and at once with a question', async () => {
    const clock = new ManualClock();
    const out: BreakerAsk[] = [];
    const w = new WorkerBreakers((m) => out.push(m), clock);
    const g = new UpstreamGuard('u', DEFAULT_CIRCUIT_BREAKER, w);
    g.requestStarted(0);
    g.requestStarted(0);
    g.requestEnded();
    assert.equal(out.length, 0);
    clock.advance(REQUESTS_FLUSH_MS);
    assert.deepEqual(out, [{ t: 'cb', req: [['u', 2, 1]] }]);
    g.requestStarted(0);
    const answer = new Promise<[number, string | null]>((resolve) =>
      w.admit(g, null, (grant, refused) => resolve([grant, refused])),
    );
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(out[1], { t: 'cb', req: [['u', 1, 0]], q: [[1, 'u', '']] });
    w.answer({ t: 'cb', a: [[1, '']] });
    assert.deepEqual(await answer, [1, null]);
    w.connected(1);
    w.release(1);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(out[2], { t: 'cb', conn: [1], rel: [1] });
    // Once the primary is gone, what waits is admitted and nothing more is sent.
    const late = new Promise<[number, string | null]>((resolve) =>
      w.admit(g, 'reset', (grant, refused) => resolve([grant, refused])),
    );
    w.close();
    assert.deepEqual(await late, [0, null]);
  });
});
