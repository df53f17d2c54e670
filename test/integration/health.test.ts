/**
 * Health checks through a running proxy, against real failing upstreams on 127.0.0.1: active HTTP
 * and TCP checks, passive ejection and its return, the panic threshold, and the checkers' lifecycle
 * across reloads and stop.
 */
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { request } from 'undici';
import { type FaultyUpstream, startFaultyUpstream, waitFor } from '../helpers/faulty-upstream.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';

const started: { f: TestNode | null; ups: FaultyUpstream[] } = { f: null, ups: [] };

async function rig(
  n: number,
  upstreamYaml: (ups: FaultyUpstream[]) => string,
  serviceYaml = '',
): Promise<TestNode> {
  for (let i = 0; i < n; i++) started.ups.push(await startFaultyUpstream(String.fromCharCode(97 + i)));
  started.f = await startFulcrum(`
services:
  - name: s
    host: u
${serviceYaml}    routes: [{ paths: ["/"] }]
upstreams:
  - name: u
${upstreamYaml(started.ups)}    targets:
${started.ups.map((u) => `      - target: ${u.target}\n`).join('')}`);
  return started.f;
}

afterEach(async () => {
  await started.f?.stop();
  started.f = null;
  for (const u of started.ups.splice(0)) await u.close();
});

function health(f: TestNode, u: FaultyUpstream) {
  const t = f.node.runtime.live.targets.get(`u/${u.target}`);
  assert.ok(t, `no target state for ${u.target}`);
  return t;
}

/** Send `n` GETs one after the other; the statuses and which upstream answered each. */
async function send(f: TestNode, n: number): Promise<{ statuses: number[]; by: Record<string, number> }> {
  const statuses: number[] = [];
  const by: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = await request(`${f.url}/x`);
    // A response cut short by a dying target rejects its body: it still counts as answered.
    await r.body.text().catch(() => '');
    statuses.push(r.statusCode);
    const who = String(r.headers['x-upstream'] ?? 'proxy');
    by[who] = (by[who] ?? 0) + 1;
  }
  return { statuses, by };
}

async function metrics(f: TestNode): Promise<string> {
  const r = await request(`${f.adminUrl}/metrics`);
  return r.body.text();
}

describe('active health checks', () => {
  it('marks a target answering 503 unhealthy after N failures, avoids it, and takes it back on 200', async () => {
    const f = await rig(
      3,
      () => `    healthchecks:
      active:
        http_path: /health
        timeout: 1
        healthy: { interval: 0.05, successes: 2 }
        unhealthy: { interval: 0.05, http_failures: 2 }
`,
    );
    const [, b] = started.ups as [FaultyUpstream, FaultyUpstream, FaultyUpstream];
    await waitFor(() => b.counts.probes >= 1, 'a first probe');
    assert.equal(health(f, b).health, 'healthy');
    await b.set('status', 503);
    await waitFor(() => health(f, b).health === 'unhealthy', 'b unhealthy');
    assert.equal(health(f, b).healthy, false, 'no panic with 2 of 3 healthy: b takes no traffic');
    const before = b.counts.requests;
    const { statuses, by } = await send(f, 30);
    assert.equal(b.counts.requests, before, 'b got no proxied request while unhealthy');
    assert.deepEqual([...new Set(statuses)], [200]);
    assert.equal((by.a ?? 0) + (by.c ?? 0), 30);
    const m = await metrics(f);
    assert.match(m, new RegExp(`fulcrum_target_healthy\\{upstream="u",target="${b.target}"\\} 0`));
    assert.match(
      m,
      new RegExp(
        `fulcrum_health_checks_total\\{upstream="u",target="${b.target}",result="http_failure"\\} [1-9]`,
      ),
    );
    const status = (await (await request(`${f.adminUrl}/status`)).body.json()) as {
      upstreams: { name: string; panic: boolean; targets: { target: string; health: string }[] }[];
    };
    const su = status.upstreams.find((x) => x.name === 'u')!;
    assert.equal(su.panic, false);
    assert.equal(su.targets.find((t) => t.target === b.target)!.health, 'unhealthy');

    await b.set('ok');
    await waitFor(() => health(f, b).health === 'healthy', 'b healthy again');
    const back = await send(f, 30);
    assert.ok((back.by.b ?? 0) > 0, `b takes traffic again: ${JSON.stringify(back.by)}`);
  });

  it('tcp checks detect a closed port and its return', async () => {
    const f = await rig(
      2,
      () => `    healthchecks:
      active:
        type: tcp
        timeout: 0.5
        healthy: { interval: 0.05, successes: 1 }
        unhealthy: { interval: 0.05, tcp_failures: 1 }
      threshold: 0
`,
    );
    const [a, b] = started.ups as [FaultyUpstream, FaultyUpstream];
    await b.set('refuse');
    await waitFor(() => health(f, b).health === 'unhealthy', 'b unhealthy');
    assert.equal(health(f, a).health, 'healthy');
    const { statuses, by } = await send(f, 10);
    assert.deepEqual(by, { a: 10 });
    assert.deepEqual([...new Set(statuses)], [200]);
    assert.match(await metrics(f), /result="tcp_failure"/);
    await b.set('ok');
    await waitFor(() => health(f, b).health === 'healthy', 'b healthy again');
    assert.equal(b.counts.probes, 0, 'tcp checks send no HTTP request');
  });
});

describe('passive health checks', () => {
  it('ejects a target after consecutive 503s and takes it back after the ejection time', async () => {
    const f = await rig(
      2,
      () => `    healthchecks:
      passive:
        unhealthy: { http_failures: 3 }
        base_ejection_time: 0.2
      threshold: 0
`,
      // 503s reach the client (and the passive counters) instead of being retried.
      '    retry_policy: { retry_on: [connect-failure] }\n',
    );
    const [a, b] = started.ups as [FaultyUpstream, FaultyUpstream];
    await b.set('status', 503);
    // Round-robin alternates, so b sees its third 503 within six requests.
    const first = await send(f, 6);
    assert.equal(first.by.b, 3);
    assert.equal(health(f, b).health, 'unhealthy');
    assert.equal(health(f, b).ejections, 1);
    const during = await send(f, 10);
    assert.deepEqual(during.by, { a: 10 }, 'an ejected target takes no traffic');
    await b.set('ok');
    await waitFor(() => health(f, b).health === 'healthy', 'b back after the ejection time', 3000);
    const after = await send(f, 10);
    assert.ok((after.by.b ?? 0) > 0, JSON.stringify(after.by));
    assert.ok(a.counts.requests > 0);
  });

  it('ejects a target whose connections are refused, with retries hiding the failures', async () => {
    const f = await rig(
      2,
      () => `    healthchecks:
      passive:
        unhealthy: { tcp_failures: 2 }
        base_ejection_time: 30
      threshold: 0
`,
    );
    const [, b] = started.ups as [FaultyUpstream, FaultyUpstream];
    await b.set('refuse');
    const { statuses, by } = await send(f, 10);
    assert.deepEqual([...new Set(statuses)], [200], 'connect failures are retried on a');
    assert.deepEqual(by, { a: 10 });
    assert.equal(health(f, b).health, 'unhealthy');
    assert.ok(health(f, b).failures <= 2, `b was tried ${health(f, b).failures} times, at most 2`);
  });
});

describe('passive health checks: timeouts and responses cut short', () => {
  it('ejects a hanging target on a timeout and one dying mid-response after 2 cut responses', async () => {
    const f = await rig(
      3,
      () => `    healthchecks:
      passive:
        unhealthy: { timeouts: 1, tcp_failures: 2 }
      threshold: 0
`,
      '    read_timeout: 150\n    retries: 0\n',
    );
    const [a, b, c] = started.ups as [FaultyUpstream, FaultyUpstream, FaultyUpstream];
    await b.set('hang');
    await c.set('die');
    const statuses: number[] = [];
    for (let i = 0; i < 20 && health(f, c).health === 'healthy'; i++)
      statuses.push(...(await send(f, 1)).statuses);
    assert.equal(health(f, c).health, 'unhealthy');
    // A cut response first arrives with its 200 head: it must count as a failure, not a success
    // that resets the count, or a target dying mid-response would never be ejected.
    assert.equal(c.counts.requests, 2, 'c ejected after exactly 2 responses cut short');
    assert.equal(health(f, b).health, 'unhealthy');
    assert.equal(b.counts.requests, 1, 'b ejected after its first timeout');
    assert.equal(statuses.filter((s) => s === 504).length, 1);
    assert.equal(health(f, a).health, 'healthy');
    const rest = await send(f, 10);
    assert.deepEqual(rest.by, { a: 10 });
  });
});

describe('panic threshold', () => {
  it('with 2 of 3 targets down and threshold 50%, traffic goes to all three', async () => {
    const f = await rig(
      3,
      () => `    healthchecks:
      active:
        http_path: /health
        healthy: { interval: 0.05, successes: 1 }
        unhealthy: { interval: 0.05, http_failures: 1 }
      threshold: 50
`,
      '    retry_policy: { retry_on: [connect-failure] }\n',
    );
    const [, b, c] = started.ups as [FaultyUpstream, FaultyUpstream, FaultyUpstream];
    await b.set('status', 503);
    await waitFor(() => health(f, b).health === 'unhealthy', 'b unhealthy');
    assert.equal(f.node.runtime.health.get('u')!.panic, false, '2 of 3 healthy: no panic');
    assert.equal(health(f, b).healthy, false);
    await c.set('status', 503);
    await waitFor(() => health(f, c).health === 'unhealthy', 'c unhealthy');
    assert.equal(f.node.runtime.health.get('u')!.panic, true);
    const { by } = await send(f, 30);
    assert.deepEqual(Object.keys(by).sort(), ['a', 'b', 'c'], JSON.stringify(by));
    const m = await metrics(f);
    assert.match(m, /fulcrum_upstream_panic\{upstream="u"\} 1/);
    assert.match(m, new RegExp(`fulcrum_target_healthy\\{upstream="u",target="${c.target}"\\} 0`));
    await b.set('ok');
    await waitFor(() => health(f, b).health === 'healthy', 'b healthy');
    assert.equal(f.node.runtime.health.get('u')!.panic, false, '2 of 3 healthy: out of panic');
    assert.equal(health(f, c).healthy, false);
    const out = await send(f, 20);
    assert.equal(out.by.c, undefined, JSON.stringify(out.by));
  });
});

describe('checker lifecycle', () => {
  const checks = `    healthchecks:
      active:
        http_path: /health
        healthy: { interval: 0.05, successes: 1 }
        unhealthy: { interval: 0.05, http_failures: 1 }
`;
  it('survives an unrelated reload, picks up new targets, stops when the upstream goes and on stop', async () => {
    const f = await rig(1, () => checks);
    const [a] = started.ups as [FaultyUpstream];
    const extra = await startFaultyUpstream('extra');
    started.ups.push(extra);
    const h = f.node.runtime.health;
    await waitFor(() => a.counts.probes >= 2, 'probes of a');
    const checker = h.get('u');
    f.write(`
services:
  - name: s
    host: u
    routes: [{ paths: ["/"] }, { paths: ["/other"] }]
upstreams:
  - name: u
${checks}    targets:
      - target: ${a.target}
      - target: ${extra.target}
`);
    assert.equal((await f.node.reload()).ok, true);
    assert.equal(h.get('u'), checker, 'same checker after a reload that left the upstream alone');
    await waitFor(() => extra.counts.probes >= 1, 'probes of the added target');

    f.write(`
services:
  - name: s
    url: http://${a.target}
    routes: [{ paths: ["/"] }]
`);
    assert.equal((await f.node.reload()).ok, true);
    assert.equal(h.get('u'), undefined);
    assert.equal(h.pending(), 0, 'no timer or probe left once the upstream is gone');
    const probes = a.counts.probes;
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(a.counts.probes, probes, 'no probe after removal');

    f.write(`
services:
  - name: s
    host: u
    routes: [{ paths: ["/"] }]
upstreams:
  - name: u
${checks}    targets:
      - target: ${a.target}
`);
    assert.equal((await f.node.reload()).ok, true);
    await waitFor(() => a.counts.probes > probes, 'probes resume');
    assert.ok(h.pending() > 0);
    await f.stop();
    assert.equal(h.pending(), 0, 'no timer or probe left after stop');
    const last = a.counts.probes;
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(a.counts.probes, last, 'no probe after stop');
  });
});

after(async () => {
  await started.f?.stop();
});
