/**
 * The dashboard over HTTP (the browser test is dashboard-browser.test.ts): the page and its files,
 * one event stream whose figures are built once per tick for every viewer, the configuration sent
 * again after a reload, and the login a browser can use when the admin API has a token (form or
 * `?token=` once, then a cookie that opens the dashboard and nothing else), behind the admin API's
 * cross-origin refusals.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { DASHBOARD_COOKIE, sessionValue } from '../../src/admin/dashboard.ts';
import { startFulcrum, type TestNode, testHeader } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

interface Sse {
  events: { event: string; data: string }[];
  /** Resolves once `n` events named `event` have arrived (rejects after 10 s). */
  waitFor(event: string, n: number): Promise<{ event: string; data: string }[]>;
  close(): void;
}

/** An event-stream client: parses `event:`/`data:` blocks as they arrive. */
async function openStream(url: string, headers: Record<string, string> = {}): Promise<Sse> {
  const ac = new AbortController();
  const r = await request(url, { headers, signal: ac.signal });
  assert.equal(r.statusCode, 200);
  assert.match(String(r.headers['content-type']), /^text\/event-stream/);
  const events: { event: string; data: string }[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  r.body.setEncoding('utf8');
  r.body.on('data', (chunk: string) => {
    buf += chunk;
    let end = buf.indexOf('\n\n');
    while (end >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      end = buf.indexOf('\n\n');
      let event = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data !== '') events.push({ event, data });
      for (const w of waiters.splice(0)) w();
    }
  });
  r.body.on('error', () => {});
  return {
    events,
    waitFor(event, n) {
      const have = () => events.filter((e) => e.event === event);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${n} ${event} events: ${JSON.stringify(events)}`)),
          10000,
        );
        const check = () => {
          if (have().length >= n) {
            clearTimeout(timer);
            resolve(have());
          } else waiters.push(check);
        };
        check();
      });
    },
    close: () => ac.abort(),
  };
}

describe('dashboard without an admin token', () => {
  let up: TestUpstream;
  let f: TestNode;
  const body = (extra = '') => `services:
  - name: web
    host: pool
    routes: [{ name: root, paths: ["/"] }]
upstreams:
  - name: pool
    targets: [{ target: "${up.target}" }]
${extra}`;

  before(async () => {
    up = await startUpstream('up');
    f = await startFulcrum(body());
  });
  after(async () => {
    await f?.stop();
    await up?.close();
  });

  it('serves the page, its script and style, with a policy that loads nothing from elsewhere', async () => {
    const page = await request(`${f.adminUrl}/dashboard`);
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'none'; script-src 'self'/);
    assert.equal(page.headers['x-frame-options'], 'DENY');
    const html = await page.body.text();
    assert.match(html, /<script type="module" src="\/dashboard\/app\.js"><\/script>/);
    assert.doesNotMatch(html, /https?:\/\//, 'no outside resource');
    for (const [file, type] of [
      ['app.js', /^text\/javascript/],
      ['app.css', /^text\/css/],
    ] as const) {
      const r = await request(`${f.adminUrl}/dashboard/${file}`);
      assert.equal(r.statusCode, 200);
      assert.match(String(r.headers['content-type']), type);
      assert.ok((await r.body.text()).length > 1000);
    }
  });

  it('streams the configuration, then figures every tick built once for every viewer', async () => {
    for (let i = 0; i < 5; i++) await (await request(`${f.url}/`)).body.text();
    const a = await openStream(`${f.adminUrl}/dashboard/events`);
    const b = await openStream(`${f.adminUrl}/dashboard/events`);
    try {
      const [config] = await a.waitFor('config', 1);
      const c = JSON.parse(config!.data);
      assert.equal(c.generation, 1);
      assert.equal(c.login, false);
      assert.deepEqual(
        c.routes.map((r: { name: string; service: string; paths: string[] }) => [r.name, r.service, r.paths]),
        [['root', 'web', ['/']]],
      );
      assert.deepEqual(c.upstreams[0].targets, [up.target]);
      const sa = await a.waitFor('stats', 3);
      const sb = await b.waitFor('stats', 3);
      const s = JSON.parse(sa.at(-1)!.data);
      const t = s.upstreams[0].targets[0];
      assert.equal(t.target, up.target);
      assert.equal(t.health, 'unchecked');
      assert.equal(t.requests, 5);
      assert.ok(t.rps > 0, `rps ${t.rps}`);
      assert.equal(t.error_rate, 0);
      assert.ok(t.p50_ms > 0 && t.p99_ms >= t.p50_ms);
      assert.equal(s.listeners[0].name, 'proxy');
      assert.equal(s.ready, true);
      // A tick's payload is one string written to both streams (the connect events are per viewer).
      const shared = sa.map((e) => e.data).filter((d) => sb.some((x) => x.data === d));
      assert.ok(shared.length >= 1, 'both viewers got the same tick');
    } finally {
      a.close();
      b.close();
    }
  });

  it('sends the configuration again when a reload puts a new generation in service', async () => {
    const s = await openStream(`${f.adminUrl}/dashboard/events`);
    try {
      await s.waitFor('config', 1);
      f.write(body(`  - name: spare\n    targets: [{ target: "127.0.0.1:9" }]\n`));
      const r = await f.node.reload();
      assert.equal(r.ok, true);
      const configs = await s.waitFor('config', 2);
      const c = JSON.parse(configs[1]!.data);
      assert.equal(c.generation, 2);
      assert.deepEqual(
        c.upstreams.map((u: { name: string }) => u.name),
        ['pool', 'spare'],
      );
      const stats = JSON.parse((await s.waitFor('stats', 2)).at(-1)!.data);
      assert.deepEqual(
        stats.generations.map((g: { id: number }) => g.id),
        [1, 2],
      );
    } finally {
      s.close();
    }
  });
});

describe('dashboard with an admin token', () => {
  let f: TestNode;
  const token = 'dashboard-t0ken';

  before(async () => {
    f = await startFulcrum('', { header: testHeader({ admin: `  token: ${token}\n` }) });
  });
  after(async () => {
    await f?.stop();
  });

  const form = (t: string, headers: Record<string, string> = {}) =>
    request(`${f.adminUrl}/dashboard/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: `token=${encodeURIComponent(t)}`,
    });

  /** `name=value` of a Set-Cookie header. */
  const cookieOf = (h: string | string[] | undefined) => String(h).split(';')[0]!;

  it('shows a login page instead of the dashboard and its data', async () => {
    const page = await request(`${f.adminUrl}/dashboard`);
    assert.equal(page.statusCode, 401);
    const html = await page.body.text();
    assert.match(html, /<form method="post" action="\/dashboard\/login">/);
    assert.match(html, /<p id="failed" hidden>/);
    for (const path of ['/dashboard/events', '/dashboard/data']) {
      const r = await request(`${f.adminUrl}${path}`);
      assert.equal(r.statusCode, 401, path);
      await r.body.text();
    }
  });

  it('logs in with the form: a cookie for the dashboard only, never the token', async () => {
    const wrong = await form('nope');
    assert.equal(wrong.statusCode, 401);
    assert.match(await wrong.body.text(), /<p id="failed">That is not the admin token/);
    const ok = await form(token);
    assert.equal(ok.statusCode, 303);
    assert.equal(ok.headers.location, '/dashboard');
    const set = String(ok.headers['set-cookie']);
    assert.match(
      set,
      new RegExp(
        `^${DASHBOARD_COOKIE}=\\d+\\.[A-Za-z0-9_-]+; Path=/dashboard; Max-Age=43200; HttpOnly; SameSite=Strict$`,
      ),
    );
    assert.doesNotMatch(set, new RegExp(token));
    const cookie = cookieOf(set);
    const page = await request(`${f.adminUrl}/dashboard`, { headers: { cookie } });
    assert.equal(page.statusCode, 200);
    assert.match(await page.body.text(), /src="\/dashboard\/app\.js"/);
    const data = await request(`${f.adminUrl}/dashboard/data`, { headers: { cookie } });
    assert.equal(data.statusCode, 200);
    assert.ok((await data.body.json()) !== null);
    const status = await request(`${f.adminUrl}/status`, { headers: { cookie } });
    assert.equal(status.statusCode, 401, 'the cookie opens the dashboard, not the admin API');
    await status.body.text();
    const out = await request(`${f.adminUrl}/dashboard/logout`, { method: 'POST', headers: { cookie } });
    assert.equal(out.statusCode, 303);
    assert.match(
      String(out.headers['set-cookie']),
      new RegExp(`^${DASHBOARD_COOKIE}=; Path=/dashboard; Max-Age=0`),
    );
  });

  it('trades ?token= once for the cookie and drops it from the address', async () => {
    const r = await request(`${f.adminUrl}/dashboard?token=${token}`);
    assert.equal(r.statusCode, 303);
    assert.equal(r.headers.location, '/dashboard');
    assert.match(String(r.headers['set-cookie']), new RegExp(`^${DASHBOARD_COOKIE}=`));
    const bad = await request(`${f.adminUrl}/dashboard?token=nope`);
    assert.equal(bad.statusCode, 401);
    await bad.body.text();
  });

  it('accepts the Authorization header, and refuses expired and forged cookies', async () => {
    const bearer = await request(`${f.adminUrl}/dashboard/data`, {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(bearer.statusCode, 200);
    await bearer.body.text();
    const now = Math.floor(Date.now() / 1000);
    for (const value of [
      sessionValue(token, now - 1),
      sessionValue('another-token', now + 3600),
      `${now + 3600}.AAAA`,
    ]) {
      const r = await request(`${f.adminUrl}/dashboard/data`, {
        headers: { cookie: `${DASHBOARD_COOKIE}=${value}` },
      });
      assert.equal(r.statusCode, 401, value);
      await r.body.text();
    }
    const valid = await request(`${f.adminUrl}/dashboard/data`, {
      headers: { cookie: `${DASHBOARD_COOKIE}=${sessionValue(token, now + 3600)}` },
    });
    assert.equal(valid.statusCode, 200);
    await valid.body.text();
  });

  it('refuses other web pages: a cross-origin login or stream is 403', async () => {
    const csrf = await form(token, { origin: 'http://evil.example' });
    assert.equal(csrf.statusCode, 403);
    await csrf.body.text();
    const cross = await request(`${f.adminUrl}/dashboard/events`, {
      headers: { authorization: `Bearer ${token}`, 'sec-fetch-site': 'cross-site' },
    });
    assert.equal(cross.statusCode, 403);
    await cross.body.text();
  });
});
