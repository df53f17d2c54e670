/**
 * The client library against real servers on 127.0.0.1: requests spread by the algorithm's rules
 * through undici's request, stream, fetch and the global dispatcher; a killed server is ejected
 * without failing idempotent requests; the retry budget is honoured; a discovery source's lists are
 * followed (and a bad one refused); metrics reach a prom-client registry.
 */
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { type Dispatcher, fetch, getGlobalDispatcher, request, setGlobalDispatcher, stream } from 'undici';
import { type UpstreamDispatcher, upstreamDispatcher } from '../../src/client/index.ts';
import type { TargetConfig } from '../../src/config/file-types.ts';
import { type FaultyUpstream, startFaultyUpstream, waitFor } from '../helpers/faulty-upstream.ts';

const open: { ups: FaultyUpstream[]; d: UpstreamDispatcher[] } = { ups: [], d: [] };

afterEach(async () => {
  for (const d of open.d.splice(0)) await d.close();
  for (const u of open.ups.splice(0)) await u.close();
});

async function servers(n: number): Promise<FaultyUpstream[]> {
  for (let i = 0; i < n; i++) open.ups.push(await startFaultyUpstream(String.fromCharCode(97 + i)));
  return open.ups;
}

function client(options: Parameters<typeof upstreamDispatcher>[0]): UpstreamDispatcher {
  const d = upstreamDispatcher(options);
  open.d.push(d);
  return d;
}

async function get(d: Dispatcher, path = '/x', headers: Record<string, string> = {}) {
  const r = await request(`http://users${path}`, { dispatcher: d, headers });
  return { status: r.statusCode, body: await r.body.text() };
}

/** Every try and request has been accounted for: nothing left counted in flight. */
function settled(d: UpstreamDispatcher): void {
  const g = d.guard;
  assert.deepEqual(
    { requests: g.requests, active: g.active, pending: g.pending, retries: g.retries },
    { requests: 0, active: 0, pending: 0, retries: 0 },
  );
  for (const t of d.targets()) assert.equal(t.inflight, 0, t.target);
}

function tally(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

describe('client library: balancing', () => {
  it('round-robin spreads exactly by weight, through request, stream, fetch and the global dispatcher', async () => {
    const [a, b, c] = await servers(3);
    const d = client({
      upstream: {
        name: 'users',
        targets: [
          { target: a!.target, weight: 100 },
          { target: b!.target, weight: 200 },
          { target: c!.target, weight: 100 },
        ],
      },
    });
    let connects = 0;
    d.on('connect', (_origin, targets) => {
      if (targets[0] === d) connects++;
    });
    const names: string[] = [];
    for (let i = 0; i < 40; i++) names.push((await get(d)).body);
    assert.ok(connects >= 3, `every target's connections announced, as BalancedPool's are (${connects})`);
    assert.deepEqual(tally(names), { a: 10, b: 20, c: 10 });
    assert.equal(names.slice(0, 4).join(''), 'bacb', 'smooth weighted round robin');

    const chunks: Buffer[] = [];
    await stream(
      'http://users/s',
      { dispatcher: d, method: 'GET' },
      () =>
        new Writable({
          write(chunk: Buffer, _e, cb) {
            chunks.push(chunk);
            cb();
          },
        }),
    );
    const viaFetch = await (await fetch('http://users/f', { dispatcher: d })).text();
    const previous = getGlobalDispatcher();
    setGlobalDispatcher(d);
    try {
      const global = await (await fetch('http://anything.invalid/g')).text();
      assert.deepEqual(
        [Buffer.concat(chunks).toString(), viaFetch, global].sort(),
        ['a', 'b', 'c'],
        'the next cycle: b a c',
      );
    } finally {
      setGlobalDispatcher(previous);
    }
  });

  it('ring-hash keeps a key on one target (hash_on: header), and keys spread', async () => {
    await servers(3);
    const d = client({
      upstream: {
        name: 'users',
        algorithm: 'ring-hash',
        hash_on: 'header',
        hash_on_header: 'x-user',
        targets: open.ups.map((u) => ({ target: u.target })),
      },
    });
    const owner: Record<string, string> = {};
    for (let k = 0; k < 30; k++) owner[k] = (await get(d, '/x', { 'X-User': `user-${k}` })).body;
    for (let k = 0; k < 30; k++) assert.equal((await get(d, '/x', { 'x-user': `user-${k}` })).body, owner[k]);
    assert.equal(new Set(Object.values(owner)).size, 3, 'every target owns keys');
  });

  it('sticky by key: a key keeps its first target under round-robin', async () => {
    await servers(3);
    const d = client({
      upstream: {
        name: 'users',
        sticky: { mode: 'source-ip' },
        targets: open.ups.map((u) => ({ target: u.target })),
      },
      stickyKey: (opts) => String((opts.headers as Record<string, string>)['x-session'] ?? ''),
    });
    const first = (await get(d, '/', { 'x-session': 's1' })).body;
    for (let i = 0; i < 6; i++) assert.equal((await get(d, '/', { 'x-session': 's1' })).body, first);
    const other = tally(
      await Promise.all([1, 2, 3].map(async () => (await get(d, '/', { 'x-session': 'other' })).body)),
    );
    assert.equal(Object.keys(other).length, 1);
  });

  it('a controller-style handler (the newer undici interface) gets the response', async () => {
    await servers(1);
    const d = client({ upstream: { name: 'users', targets: [{ target: open.ups[0]!.target }] } });
    const got = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const parts: Buffer[] = [];
      let status = 0;
      d.dispatch(
        { origin: 'http://users', path: '/', method: 'GET' },
        {
          onRequestStart() {},
          onResponseStart(_c, s) {
            status = s;
          },
          onResponseData(_c, chunk) {
            parts.push(chunk);
          },
          onResponseEnd() {
            resolve({ status, body: Buffer.concat(parts).toString() });
          },
          onResponseError(_c, err) {
            reject(err);
          },
        },
      );
    });
    assert.deepEqual(got, { status: 200, body: 'a' });
  });
});

describe('client library: failures', () => {
  it('ejects a killed server without failing idempotent requests', async (t) => {
    const ups = await servers(3);
    for (const u of ups) u.delayMs = 10;
    const d = client({
      upstream: {
        name: 'users',
        algorithm: 'least-request',
        healthchecks: { passive: { unhealthy: { tcp_failures: 1, timeouts: 1 } }, threshold: 0 },
        // Room for every request in flight to be retried at once (the default, 3, is less than 8).
        retry_budget: { min_concurrency: 8 },
        targets: ups.map((u) => ({ target: u.target })),
      },
      service: { retries: 2 },
    });
    const c = ups[2]!;
    let stop = false;
    let ok = 0;
    let failed = 0;
    const worker = async () => {
      while (!stop) {
        try {
          const r = await get(d);
          if (r.status === 200) ok++;
          else failed++;
        } catch {
          failed++;
        }
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    await waitFor(() => c.counts.requests >= 20, 'c serving');
    await c.set('refuse');
    const state = d.targets().find((t) => t.target === c.target)!;
    await waitFor(() => !state.healthy, 'c ejected');
    const servedAtEjection = c.counts.requests;
    const okAtEjection = ok;
    await waitFor(() => ok >= okAtEjection + 100, '100 more requests');
    stop = true;
    await Promise.all(workers);
    t.diagnostic(`${ok} ok, ${failed} failed, overflows ${JSON.stringify(d.guard.overflows)}`);
    assert.equal(failed, 0);
    assert.equal(c.counts.requests, servedAtEjection, 'nothing sent to c once ejected');
  });

  it('retries a 503 on another target, and relays it when no retry is left', async () => {
    const [a, b] = await servers(2);
    await a!.set('status', 503);
    const d = client({
      upstream: { name: 'users', targets: [{ target: a!.target }, { target: b!.target }] },
      service: { retry_policy: { retry_on: ['http-status'], backoff_base: 0 } },
    });
    for (let i = 0; i < 4; i++) assert.deepEqual(await get(d), { status: 200, body: 'b' });
    await b!.set('status', 503);
    const r = await get(d);
    assert.equal(r.status, 503, 'both answer 503: the last answer is relayed');
  });

  it('honours the retry budget: none when it is zero under concurrency, every one when there is room', async () => {
    const ups = await servers(2);
    for (const u of ups) await u.set('status', 503);
    const registry = new Registry();
    const make = (budget: { percent: number; min_concurrency: number }) =>
      client({
        upstream: { name: 'users', retry_budget: budget, targets: ups.map((u) => ({ target: u.target })) },
        service: { retries: 1, retry_policy: { retry_on: ['http-status'], backoff_base: 0 } },
        registry,
      });
    const tries = () => ups.reduce((n, u) => n + u.counts.requests, 0);

    const none = make({ percent: 0, min_concurrency: 0 });
    const statuses = await Promise.all(Array.from({ length: 6 }, async () => (await get(none)).status));
    assert.deepEqual(statuses, [503, 503, 503, 503, 503, 503]);
    assert.equal(tries(), 6, 'no retry sent');
    assert.equal(none.guard.overflows.retry_budget, 6);

    const room = make({ percent: 0, min_concurrency: 1 });
    for (let i = 0; i < 3; i++) assert.equal((await get(room)).status, 503);
    assert.equal(tries(), 6 + 3 * 2, 'one at a time: each retried once');
    const text = await registry.metrics();
    assert.match(text, /fulcrum_client_overflows_total\{upstream="users",breaker="retry_budget"\} 6/);
    assert.match(text, /fulcrum_client_retries_total\{upstream="users",reason="http-status"\} 3/);
  });

  it('fails with FULCRUM_ERR_NO_HEALTHY_TARGET when every target is down and no retry is left', async () => {
    const [a] = await servers(1);
    await a!.set('refuse');
    const d = client({
      upstream: { name: 'users', targets: [{ target: a!.target }] },
      service: { retries: 0 },
    });
    await assert.rejects(get(d), (err: Error & { code?: string }) => err.code === 'ECONNREFUSED');
    const down = client({
      upstream: {
        name: 'users',
        healthchecks: { passive: { unhealthy: { tcp_failures: 1 } }, threshold: 0 },
        targets: [{ target: a!.target }],
      },
      service: { retries: 0 },
    });
    await assert.rejects(get(down));
    await assert.rejects(
      get(down),
      (err: Error & { code?: string }) => err.code === 'FULCRUM_ERR_NO_HEALTHY_TARGET',
    );
  });
});

describe('client library: timeouts, aborts and bodies', () => {
  it('per_try_timeout gives up a hanging target and retries on another; request_timeout ends it all', async () => {
    const [a, b] = await servers(2);
    await a!.set('hang');
    const d = client({
      upstream: { name: 'users', targets: [{ target: a!.target }, { target: b!.target }] },
      service: { retry_policy: { per_try_timeout: 50, backoff_base: 0 } },
    });
    for (let i = 0; i < 4; i++) assert.deepEqual(await get(d), { status: 200, body: 'b' });
    await b!.set('hang');
    const all = client({
      upstream: { name: 'users', targets: [{ target: a!.target }, { target: b!.target }] },
      service: { request_timeout: 80 },
    });
    await assert.rejects(
      get(all),
      (err: Error & { code?: string }) => err.code === 'FULCRUM_ERR_UPSTREAM_TIMEOUT',
    );
    settled(d);
    settled(all);
  });

  it('an aborted request fails with its reason and leaves nothing counted', async () => {
    const [a] = await servers(1);
    await a!.set('hang');
    const d = client({ upstream: { name: 'users', targets: [{ target: a!.target }] } });
    const ac = new AbortController();
    const pending = request('http://users/', { dispatcher: d, signal: ac.signal });
    await waitFor(() => a!.concurrency.now === 1, 'the request reached the target');
    ac.abort();
    await assert.rejects(pending, { name: 'AbortError' });
    await waitFor(() => d.guard.active === 0, 'the try ended');
    settled(d);
  });

  it('replays a string body on a retry; never a stream body', async () => {
    const [a, b] = await servers(2);
    await a!.set('refuse');
    const d = client({
      upstream: { name: 'users', targets: [{ target: a!.target }, { target: b!.target }] },
      service: { retry_policy: { backoff_base: 0 } },
    });
    for (let i = 0; i < 2; i++) {
      const r = await request('http://users/', {
        dispatcher: d,
        method: 'POST',
        body: 'hi',
        headers: { 'x-echo': '1' },
      });
      assert.equal(await r.body.text(), 'b:hi', 'a connect failure is retried for any method');
    }
    const streamed = async () => {
      const r = await request('http://users/', {
        dispatcher: d,
        method: 'PUT',
        body: Readable.from([Buffer.from('s')]),
        headers: { 'x-echo': '1' },
      });
      return r.body.text();
    };
    const results = await Promise.allSettled([streamed(), streamed()]);
    assert.deepEqual(
      results.map((r) => r.status).sort(),
      ['fulfilled', 'rejected'],
      'round-robin sends one to the refusing target, and that one is not retried',
    );
    settled(d);
  });
});

describe('client library: health checks and slow start', () => {
  it('active checks take a failing target out before any request reaches it, and bring it back', async () => {
    const [a, b] = await servers(2);
    await b!.set('status', 503);
    const d = client({
      upstream: {
        name: 'users',
        healthchecks: {
          active: {
            http_path: '/health',
            healthy: { interval: 0.05, successes: 1 },
            unhealthy: { interval: 0.05, http_failures: 1 },
          },
          threshold: 0,
        },
        targets: [{ target: a!.target }, { target: b!.target }],
      },
    });
    const state = d.targets().find((t) => t.target === b!.target)!;
    await waitFor(() => !state.healthy, 'b unhealthy by its probes');
    for (let i = 0; i < 6; i++) assert.equal((await get(d)).body, 'a');
    assert.equal(b!.counts.requests, 0, 'no request reached b');
    await b!.set('ok');
    await waitFor(() => state.healthy, 'b healthy again');
    assert.deepEqual(tally([(await get(d)).body, (await get(d)).body]), { a: 1, b: 1 });
  });

  it('a target joining through the source ramps under slow start', async () => {
    const [a, b] = await servers(2);
    let push: (targets: readonly TargetConfig[]) => void = () => {};
    const d = client({
      upstream: { name: 'users', slow_start: 30 },
      targets: {
        subscribe(update) {
          push = update;
          update([{ target: a!.target }]);
        },
      },
    });
    push([{ target: a!.target }, { target: b!.target }]);
    const joined = d.targets().find((t) => t.target === b!.target)!;
    const first = d.targets().find((t) => t.target === a!.target)!;
    assert.equal(first.effectiveWeight, 100, 'the first list does not ramp');
    assert.ok(joined.effectiveWeight < 20, `the newcomer starts low: ${joined.effectiveWeight}`);
    const names = [];
    for (let i = 0; i < 20; i++) names.push((await get(d)).body);
    assert.ok((tally(names).b ?? 0) <= 4, JSON.stringify(tally(names)));
  });
});

describe('client library: targets from a source', () => {
  it('follows the lists a source delivers; a bad list is refused and the last good one kept', async () => {
    const [a, b] = await servers(2);
    let push: (targets: readonly TargetConfig[]) => void = () => {};
    let stopped = false;
    const registry = new Registry();
    const d = client({
      upstream: { name: 'users' },
      targets: {
        subscribe(update) {
          push = update;
          update([{ target: a!.target }]);
          return () => {
            stopped = true;
          };
        },
      },
      registry,
    });
    assert.equal((await get(d)).body, 'a');
    push([{ target: a!.target }, { target: b!.target }]);
    assert.deepEqual(tally([(await get(d)).body, (await get(d)).body]), { a: 1, b: 1 });
    push([{ target: b!.target }]);
    assert.equal((await get(d)).body, 'b');
    push([{ target: 'not a target:99999' }]);
    assert.equal((await get(d)).body, 'b', 'the refused list changed nothing');
    assert.match(
      await registry.metrics(),
      /fulcrum_client_target_updates_total\{upstream="users",result="refused"\} 1/,
    );
    await d.close();
    assert.equal(stopped, true, 'close unsubscribes');
  });
});

describe('client library: options', () => {
  it('refuses bad options with the path as written', () => {
    assert.throws(
      () => upstreamDispatcher({ upstream: { name: 'u', algorithm: 'fastest' as 'random', targets: [] } }),
      /upstream\.algorithm: expected one of/,
    );
    assert.throws(
      () => upstreamDispatcher({ upstream: { name: 'u', targets: [{ target: '127.0.0.1:1', weight: -1 }] } }),
      /upstream\.targets\[0\]\.weight/,
    );
    assert.throws(
      () => upstreamDispatcher({ upstream: { name: 'u', hash_on: 'ip', algorithm: 'maglev' } }),
      /upstream\.hash_on: "ip" needs a proxy's view/,
    );
    assert.throws(
      () => upstreamDispatcher({ upstream: { name: 'u' }, service: { retry_policy: { hedge_delay: 5 } } }),
      /service\.retry_policy\.hedge_delay/,
    );
  });
});
