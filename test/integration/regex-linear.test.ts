/**
 * Catastrophic backtracking (issue 12, item 5): a configuration may hold `(a+)+$`-shaped regexes in
 * a route path, a header matcher, a cors origin and a health check's http_body, and hostile input
 * against each is answered while other requests are served.
 *
 * Why this is deterministic without a clock: each hostile input is 4,000 characters against a
 * nested quantifier, about 2^4000 steps for a backtracking matcher, so a node that backtracks can
 * never answer it (nor anything after it: the event loop is held). The node runs as a child
 * process, so that the test process stays free to notice; the only time limit is the test's own
 * hang guard, which no correct run comes near.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { request } from 'undici';
import { type ChildFulcrum, spawnFulcrum, writeConfig } from '../helpers/child.ts';

const HOSTILE = `${'a'.repeat(4000)}!`;
/** A hang guard for each test: a backtracking node never answers, a correct one in milliseconds. */
const HANG_GUARD_MS = 60_000;

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function listen(body: string): Promise<number> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as AddressInfo).port;
}

async function start(body: string): Promise<ChildFulcrum> {
  const f = await spawnFulcrum(writeConfig(body));
  cleanup.push(() => f.stop());
  return f;
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** Send the hostile request, then a plain one; both must be answered. */
async function bothAnswered(f: ChildFulcrum, hostile: ReturnType<typeof get>) {
  const plain = get(`${f.url}/ok`);
  const [h, p] = await Promise.all([hostile, plain]);
  assert.equal(p.status, 200);
  return h;
}

const services = (port: number, extraRoutes: string) => `services:
  - name: s
    url: http://127.0.0.1:${port}
    routes:
      - name: ok
        paths: ["/ok"]
${extraRoutes}`;

/** A node whose service (a real upstream) has the route /ok and `route`, a YAML list item. */
async function withRoute(route: string): Promise<ChildFulcrum> {
  return start(services(await listen('up'), route));
}

describe('regexes from the configuration run in linear time', () => {
  it('a route path ~/(a+)+$ against /aaaa…a!', { timeout: HANG_GUARD_MS }, async () => {
    const f = await withRoute(`      - name: hostile
        paths: ["~/(a+)+$"]
`);
    const h = await bothAnswered(f, get(`${f.url}/${HOSTILE}`));
    assert.equal(h.status, 404, 'no route matches: the regex ran to its end');
    assert.equal((await get(`${f.url}/aaaa`)).status, 200, 'and it still matches what it should');
  });

  it('a case-insensitive header matcher ~*^(a+)+$', { timeout: HANG_GUARD_MS }, async () => {
    const f = await withRoute(`      - name: hostile
        paths: ["/h"]
        headers: { x-pattern: ["~*^(a+)+$"] }
`);
    const h = await bothAnswered(f, get(`${f.url}/h`, { 'x-pattern': HOSTILE }));
    assert.equal(h.status, 404);
    assert.equal((await get(`${f.url}/h`, { 'x-pattern': 'aAaA' })).status, 200, 'case-insensitive still');
  });

  it('a cors origin http://(a+)+\\.example', { timeout: HANG_GUARD_MS }, async () => {
    const f = await withRoute(`      - name: cors
        paths: ["/c"]
        plugins:
          - name: cors
            config: { origins: ["http://(a+)+\\\\.example"] }
`);
    const h = await bothAnswered(f, get(`${f.url}/c`, { origin: `http://${HOSTILE}.example` }));
    assert.equal(h.status, 200);
    assert.equal(h.headers['access-control-allow-origin'], undefined, 'the origin does not match');
    const ok = await get(`${f.url}/c`, { origin: 'http://aaa.example' });
    assert.equal(ok.headers['access-control-allow-origin'], 'http://aaa.example');
  });

  it("an active health check's http_body ~^(a+)+$", { timeout: HANG_GUARD_MS }, async () => {
    const port = await listen('up');
    const probed = await listen(HOSTILE);
    const f = await start(`${services(port, '')}upstreams:
  - name: u
    healthchecks:
      threshold: 0
      active:
        http_body: "~^(a+)+$"
        healthy: { interval: 0.05 }
        unhealthy: { interval: 0.05, http_failures: 1 }
    targets: [{ target: 127.0.0.1:${probed} }]
`);
    // The target turns unhealthy only once the probe's regex has run to its end (no match).
    for (;;) {
      const h = JSON.parse((await get(`http://127.0.0.1:${f.adminPort}/upstreams/u/health`)).text);
      if (h.data[0].health === 'UNHEALTHY') break;
    }
    assert.equal((await get(`${f.url}/ok`)).status, 200);
  });
});
