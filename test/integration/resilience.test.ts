/**
 * Retries, timeouts, hedging and circuit breakers against real failing upstreams on 127.0.0.1
 * (test/helpers/faulty-upstream.ts), through a running proxy.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { serviceOverUpstream } from '../helpers/config.ts';
import { type FaultyUpstream, startFaultyUpstream, waitFor } from '../helpers/faulty-upstream.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';

const started: { f: TestNode | null; ups: FaultyUpstream[]; agents: Agent[] } = {
  f: null,
  ups: [],
  agents: [],
};

/** `n` faulty upstreams (a, b, c...) behind one upstream `u` and one service `s` on `/`. */
async function rig(n: number, service: string, upstream = '', route = ''): Promise<TestNode> {
  for (let i = 0; i < n; i++) started.ups.push(await startFaultyUpstream(String.fromCharCode(97 + i)));
  started.f = await startFulcrum(
    serviceOverUpstream(
      started.ups.map((u) => u.target),
      { service, upstream, route },
    ),
  );
  return started.f;
}

afterEach(async () => {
  for (const a of started.agents.splice(0)) await a.close();
  await started.f?.stop();
  started.f = null;
  for (const u of started.ups.splice(0)) await u.close();
});

async function get(f: TestNode, path = '/x', init: Parameters<typeof request>[1] = {}) {
  const t0 = performance.now();
  const r = await request(`${f.url}${path}`, init);
  const body = await r.body.text().catch(() => '<cut>');
  return {
    status: r.statusCode,
    body,
    who: String(r.headers['x-upstream'] ?? 'proxy'),
    ms: performance.now() - t0,
  };
}

async function metrics(f: TestNode): Promise<string> {
  return (await request(`${f.adminUrl}/metrics`)).body.text();
}

/** `n` GETs one after the other, each answered 200 by upstream `who`, quickly. */
async function allFrom(f: TestNode, who: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const r = await get(f);
    assert.deepEqual([r.status, r.who], [200, who]);
    // Far below read_timeout (60 s): the try was given up, not waited out (generous for loaded machines).
    assert.ok(r.ms < 3000, `answered in ${r.ms.toFixed(0)} ms`);
  }
}

function guard(f: TestNode) {
  return f.node.runtime.live.guards.get('u')!;
}

describe('retries on statuses', () => {
  it('retries an idempotent request that got a 503 on another target, and counts the retry', async () => {
    const f = await rig(2, '');
    const [, b] = started.ups as [FaultyUpstream, FaultyUpstream];
    await b.set('status', 503);
    for (let i = 0; i < 6; i++) {
      const r = await get(f);
      assert.deepEqual([r.status, r.who], [200, 'a']);
    }
    assert.equal(b.counts.requests, 3, 'round-robin sent every other request to b first');
    assert.match(await metrics(f), /fulcrum_upstream_retries_total\{upstream="u",reason="http-status"\} 3/);
  });

  it('relays the last answer when every try got a retryable status', async () => {
    const f = await rig(3, '    retries: 2\n');
    for (const u of started.ups) await u.set('status', 503);
    const r = await get(f);
    assert.equal(r.status, 503);
    assert.match(r.body, /^[abc] 503$/, 'the upstream’s own answer, not a proxy error');
    const tries = started.ups.reduce((n, u) => n + u.counts.requests, 0);
    assert.equal(tries, 3, 'one try and two retries, each on another target');
    assert.deepEqual(
      started.ups.map((u) => u.counts.requests),
      [1, 1, 1],
    );
  });

  it('does not retry a POST unless the route allows it; replays a buffered body when it does', async () => {
    let f = await rig(2, '');
    let [a, b] = started.ups as [FaultyUpstream, FaultyUpstream];
    await b.set('status', 503);
    const post = (path: string) =>
      get(f, path, { method: 'POST', body: 'payload-123', headers: { 'x-echo': '1' } });
    const statuses = [(await post('/p')).status, (await post('/p')).status].sort();
    assert.deepEqual(statuses, [200, 503], 'the POST to b is answered with b’s 503');

    await started.f!.stop();
    for (const u of started.ups.splice(0)) await u.close();
    f = await rig(2, '', '', ', retry_non_idempotent: true');
    [a, b] = started.ups as [FaultyUpstream, FaultyUpstream];
    await b.set('status', 503);
    for (let i = 0; i < 4; i++) {
      const r = await post('/p');
      assert.deepEqual([r.status, r.body], [200, 'a:payload-123'], 'the body was replayed whole to a');
    }
    assert.equal(b.counts.requests, 2);
    assert.equal(a.counts.requests, 4);
  });

  it('retries a reset (target dies mid-request) for GET, with statuses off', async () => {
    const f = await rig(2, '    retry_policy: { retry_on: [connect-failure, reset] }\n');
    const [, b] = started.ups as [FaultyUpstream, FaultyUpstream];
    b.delayMs = 30;
    const pending = get(f);
    const second = get(f);
    await waitFor(() => b.concurrency.now === 1, 'a request waiting on b');
    await b.set('refuse');
    const rs = await Promise.all([pending, second]);
    assert.deepEqual(
      rs.map((r) => [r.status, r.who]),
      [
        [200, 'a'],
        [200, 'a'],
      ],
    );
    assert.match(await metrics(f), /fulcrum_upstream_retries_total\{upstream="u",reason="reset"\} 1/);
  });
});

describe('timeouts', () => {
  it('per_try_timeout abandons a hanging try and retries it elsewhere', async () => {
    const f = await rig(2, '    retry_policy: { per_try_timeout: 100, backoff_base: 0 }\n');
    const [a] = started.ups as [FaultyUpstream, FaultyUpstream];
    await a.set('hang');
    await allFrom(f, 'b', 4);
    assert.match(await metrics(f), /fulcrum_upstream_retries_total\{upstream="u",reason="timeout"\} 2/);
    await waitFor(() => a.concurrency.now === 0, 'abandoned tries closed at the target');
  });

  it('request_timeout caps every try and backoff together: 504 on time, nothing left running', async () => {
    const f = await rig(
      3,
      '    request_timeout: 300\n    retry_policy: { per_try_timeout: 120, backoff_base: 0 }\n',
    );
    for (const u of started.ups) await u.set('hang');
    const r = await get(f);
    assert.equal(r.status, 504);
    assert.match(r.body, /FULCRUM_ERR_UPSTREAM_TIMEOUT/);
    assert.ok(r.ms >= 280 && r.ms < 1500, `504 after ${r.ms.toFixed(0)} ms`);
    const count = () => started.ups.reduce((n, u) => n + u.counts.requests, 0);
    // Tries leave at 0, 120 and 240 ms (the last may be cut before it reaches its target on a
    // loaded machine); none may start after the deadline.
    const tries = count();
    assert.ok(tries >= 2 && tries <= 3, `${tries} tries`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(count(), tries, 'no try after the deadline');
    await waitFor(() => started.ups.every((u) => u.concurrency.now === 0), 'every try closed');
    assert.equal(guard(f).active, 0);
    assert.equal(guard(f).retries, 0);
  });

  it("a timeout is not retried on the target that timed out: one hung target, Kong's 5 retries, one try", async () => {
    // Before: read_timeout × (retries + 1), six minutes with the defaults; nginx waits one read_timeout.
    const f = await rig(1, '    read_timeout: 200\n');
    await started.ups[0]!.set('hang');
    const r = await get(f);
    assert.equal(r.status, 504);
    assert.match(r.body, /FULCRUM_ERR_UPSTREAM_TIMEOUT/);
    assert.equal(started.ups[0]!.counts.requests, 1, 'one try');
  });

  it('a timeout is retried on another target', async () => {
    // read_timeout is kept by undici's coarse timers (up to a second late): 2 s keeps its expiry
    // well inside the default deadline of twice that.
    const f = await rig(
      2,
      '    read_timeout: 2000\n    retry_policy: { backoff_base: 0 }\n',
      '    algorithm: round-robin\n',
    );
    await started.ups[0]!.set('hang');
    for (let i = 0; i < 2; i++) {
      const r = await get(f);
      assert.deepEqual([r.status, r.who], [200, 'b']);
    }
    assert.equal(started.ups[0]!.counts.requests, 1, 'a, hung, was asked once');
  });

  it('request_timeout runs from the end of the request: a slow upload is not cut off', async () => {
    const f = await rig(1, '    request_timeout: 300\n');
    // The body arrives over 600 ms, twice the deadline; the target answers once it has it all.
    async function* slowBody() {
      for (let i = 0; i < 6; i++) {
        yield Buffer.from(`part-${i};`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const r = await get(f, '/x', {
      method: 'POST',
      body: Readable.from(slowBody()),
      headers: { 'x-echo': '1' },
    });
    assert.deepEqual([r.status, r.body], [200, 'a:part-0;part-1;part-2;part-3;part-4;part-5;']);
  });

  it('a hung upstream answers 504 within read_timeout when retries are off', async () => {
    const f = await rig(1, '    read_timeout: 200\n    retries: 0\n');
    await started.ups[0]!.set('hang');
    const r = await get(f);
    assert.equal(r.status, 504);
    assert.ok(r.ms >= 190 && r.ms < 2500, `504 after ${r.ms.toFixed(0)} ms`);
  });
});

describe('hedging', () => {
  it('sends a second try after hedge_delay and takes the first answer, cancelling the other', async () => {
    const f = await rig(2, '    retry_policy: { hedge_delay: 50 }\n');
    const [a] = started.ups as [FaultyUpstream, FaultyUpstream];
    await a.set('hang');
    await allFrom(f, 'b', 4);
    assert.match(await metrics(f), /fulcrum_upstream_retries_total\{upstream="u",reason="hedge"\} 2/);
    await waitFor(() => a.concurrency.now === 0, 'the hedged-over tries were cancelled at a');
    assert.equal(f.node.runtime.live.targets.get(`u/${a.target}`)!.inflight, 0);
  });
});

describe('circuit breakers', () => {
  it('max_requests: one request more than the limit gets 503 at once', async () => {
    const f = await rig(1, '    retries: 0\n', '    circuit_breaker: { max_requests: 2 }\n');
    await started.ups[0]!.set('hang');
    const held = [get(f), get(f)];
    await waitFor(() => started.ups[0]!.concurrency.now === 2, 'two requests held');
    const r = await get(f);
    assert.equal(r.status, 503);
    assert.match(r.body, /FULCRUM_ERR_UPSTREAM_OVERFLOW/);
    assert.ok(r.ms < 500, `refused in ${r.ms.toFixed(0)} ms`);
    assert.match(
      await metrics(f),
      /fulcrum_upstream_overflows_total\{upstream="u",breaker="max_requests"\} 1/,
    );
    await started.ups[0]!.set('ok');
    await Promise.all(held);
    assert.equal((await get(f)).status, 200, 'closed again once requests finish');
  });

  it('max_connections with max_pending_requests: queue one, refuse the next', async () => {
    const f = await rig(
      1,
      '    retries: 0\n',
      '    circuit_breaker: { max_connections: 1, max_pending_requests: 1 }\n',
    );
    const up = started.ups[0]!;
    await up.set('hang');
    const first = get(f);
    await waitFor(() => up.concurrency.now === 1, 'first request at the target');
    const second = get(f);
    await waitFor(() => guard(f).pending === 1, 'second request waiting for the connection');
    const third = await get(f);
    assert.equal(third.status, 503);
    assert.match(third.body, /FULCRUM_ERR_UPSTREAM_OVERFLOW/);
    assert.equal(up.concurrency.peak, 1, 'never a second connection');
    // Back to `ok` drops the held request's connection (502, retries are off); the queued one then goes.
    await up.set('ok');
    const rs = await Promise.all([first, second]);
    assert.deepEqual(
      rs.map((r) => r.status),
      [502, 200],
    );
    assert.match(
      await metrics(f),
      /fulcrum_upstream_overflows_total\{upstream="u",breaker="max_pending_requests"\} 1/,
    );
  });

  it('refuses max_pending_requests without max_connections', async () => {
    await assert.rejects(
      rig(1, '', '    circuit_breaker: { max_pending_requests: 5 }\n'),
      /max_pending_requests.*max_connections/s,
    );
  });
});

describe('retry budget', () => {
  it('with every target failing, retries in flight stay within the budget and answers come fast', async (t) => {
    const f = await rig(
      3,
      '    retries: 5\n    retry_policy: { backoff_base: 0 }\n',
      '    retry_budget: { percent: 20, min_concurrency: 2 }\n',
    );
    let peakRetries = 0;
    let peakRequests = 0;
    for (const u of started.ups) {
      await u.set('status', 503);
      u.delayMs = 20;
    }
    const g = guard(f);
    const sampler = setInterval(() => {
      peakRetries = Math.max(peakRetries, g.retries);
      peakRequests = Math.max(peakRequests, g.requests);
    }, 1);
    const agent = new Agent({ connections: 50 });
    started.agents.push(agent);
    const t0 = performance.now();
    const rs = await Promise.all(Array.from({ length: 50 }, () => get(f, '/x', { dispatcher: agent })));
    const wall = performance.now() - t0;
    clearInterval(sampler);
    const tries = started.ups.reduce((n, u) => n + u.counts.requests, 0);
    const budget = Math.max(2, Math.floor(0.2 * 50));
    t.diagnostic(
      `50 requests, ${tries} tries (${(tries / 50 - 1).toFixed(2)} retries per request; 5 without a budget), peak retries in flight ${peakRetries} (budget ${budget}), wall ${wall.toFixed(0)} ms`,
    );
    assert.ok(rs.every((r) => r.status === 503));
    assert.ok(peakRetries <= budget, `peak ${peakRetries} retries in flight, budget ${budget}`);
    assert.ok(tries < 50 * 6, 'the budget cut retries short');
    assert.ok(wall < 3000, `answered in ${wall.toFixed(0)} ms, not queued`);
    assert.match(
      await metrics(f),
      /fulcrum_upstream_overflows_total\{upstream="u",breaker="retry_budget"\} \d+/,
    );
    assert.equal(g.retries, 0);
    assert.equal(g.requests, 0);
  });
});
