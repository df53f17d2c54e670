/**
 * Readiness and secrets through a running node (issue 16): `GET /status/ready` answers 200 once
 * loaded and bound, without the admin token, and 503 while the node drains; `{vault://env/NAME}`
 * (Kong's env vault) and `${NAME}` in node keys are resolved at load, never shown by the admin
 * API, and a missing variable refuses the file with its path and line.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, afterEach, before, describe, it } from 'node:test';
import { request } from 'undici';
import { ConfigError } from '../../src/config/load.ts';
import { loadSnapshotText } from '../../src/config/validate.ts';
import { BIN, writeConfig } from '../helpers/child.ts';
import { startFulcrum, TEST_NODE_HEADER, testHeader } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

/** Node settings on 127.0.0.1:0 with extra admin keys. */
const header = (admin: string) => testHeader({ admin });

describe('GET /status/ready', () => {
  let up: TestUpstream;
  let release: (() => void) | null = null;
  let arrived: (() => void) | null = null;

  before(async () => {
    up = await startUpstream('up', (req, res) => {
      if (req.url === '/hold') {
        release = () => res.end('held');
        arrived?.();
      } else res.end('up');
    });
  });
  after(async () => {
    release?.();
    await up?.close();
  });

  it('is 200 without the token once bound, and 503 while the node drains', async () => {
    const f = await startFulcrum(
      `services:
  - name: web
    url: http://${up.target}
    routes: [{ paths: ["/"] }]
`,
      { header: header('  token: t0ken\n') },
    );
    const ready = await request(`${f.adminUrl}/status/ready`);
    assert.equal(ready.statusCode, 200);
    assert.deepEqual(await ready.body.json(), { message: 'ready' });
    const status = await request(`${f.adminUrl}/status`);
    assert.equal(status.statusCode, 401, 'the rest of the admin API still wants the token');
    await status.body.text();

    // A request in flight holds the drain open; the admin listener answers until it ends.
    const held = new Promise<void>((r) => {
      arrived = r;
    });
    const inflight = request(`${f.url}/hold`).then((r) => r.body.text());
    await held;
    const stopped = f.stop();
    const draining = await request(`${f.adminUrl}/status/ready`);
    assert.equal(draining.statusCode, 503);
    assert.deepEqual(await draining.body.json(), { message: 'draining: the node is stopping' });
    release!();
    assert.equal(await inflight, 'held');
    await stopped;
  });
});

describe('secrets outside the file', () => {
  let up: TestUpstream;
  const saved = { ...process.env };

  before(async () => {
    up = await startUpstream('up');
  });
  afterEach(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
  });
  after(async () => {
    await up?.close();
  });

  it('resolves {vault://env/...} and $-braced names, and the admin API shows the references', async () => {
    process.env.FULCRUM_TEST_API_KEY = 'key-from-the-environment';
    process.env.FULCRUM_TEST_ADMIN_TOKEN = 'token-from-the-environment';
    process.env.FULCRUM_TEST_CREDS = JSON.stringify({ password: 'pw-from-json' });
    const f = await startFulcrum(
      `services:
  - name: web
    url: http://${up.target}
    plugins: [{ name: key-auth }]
    routes: [{ name: web, paths: ["/"] }]
  - name: basic
    url: http://${up.target}
    plugins: [{ name: basic-auth }]
    routes: [{ name: basic, paths: ["/basic"] }]
consumers:
  - username: alice
    keyauth_credentials: [{ key: "{vault://env/fulcrum-test-api-key}" }]
    basicauth_credentials: [{ username: alice, password: "{vault://env/fulcrum-test-creds/password}" }]
`,
      { header: header(`  token: "\${FULCRUM_TEST_ADMIN_TOKEN}"\n`) },
    );
    try {
      const ok = await request(`${f.url}/`, { headers: { apikey: 'key-from-the-environment' } });
      assert.equal(ok.statusCode, 200);
      assert.equal(await ok.body.text(), 'up');
      const literal = await request(`${f.url}/`, {
        headers: { apikey: '{vault://env/fulcrum-test-api-key}' },
      });
      assert.equal(literal.statusCode, 401, 'the reference itself is no key');
      await literal.body.text();
      const basic = await request(`${f.url}/basic`, {
        headers: { authorization: `Basic ${Buffer.from('alice:pw-from-json').toString('base64')}` },
      });
      assert.equal(basic.statusCode, 200);
      await basic.body.text();

      const auth = { authorization: 'Bearer token-from-the-environment' };
      const denied = await request(`${f.adminUrl}/config`);
      assert.equal(denied.statusCode, 401);
      await denied.body.text();
      const config = await request(`${f.adminUrl}/config?format=yaml`, { headers: auth });
      assert.equal(config.statusCode, 200);
      const text = await config.body.text();
      assert.match(text, /key: "?\{vault:\/\/env\/fulcrum-test-api-key\}"?/);
      assert.match(text, /token: \$\{FULCRUM_TEST_ADMIN_TOKEN\}/);
      assert.doesNotMatch(text, /key-from-the-environment|token-from-the-environment/);
    } finally {
      await f.stop();
    }
  });

  it('refuses a missing variable with its path and line, and never quotes a secret', () => {
    delete process.env.FULCRUM_TEST_NOPE;
    const text = `${TEST_NODE_HEADER}consumers:
  - username: bob
    keyauth_credentials:
      - key: "{vault://env/fulcrum-test-nope}"
`;
    assert.throws(
      () => loadSnapshotText(text, 'f.yaml'),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.deepEqual(
          e.issues.map((i) => [i.path, i.line, i.message]),
          [
            [
              'consumers[0].keyauth_credentials[0].key',
              12,
              'vault reference {vault://env/fulcrum-test-nope}: environment variable FULCRUM_TEST_NOPE is not set',
            ],
          ],
        );
        return true;
      },
    );
    process.env.FULCRUM_TEST_HOST = 'not a host!';
    const bad = header(`  allowed_hosts: ["\${FULCRUM_TEST_HOST}"]\n`);
    assert.throws(
      () => loadSnapshotText(bad, 'f.yaml'),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(e.message, /admin\.allowed_hosts\[0\]: expected a string matching .*, got "<secret>"/);
        assert.doesNotMatch(e.message, /not a host!/);
        return true;
      },
    );
  });

  it('fulcrum validate names the missing variable', () => {
    const file = writeConfig('', header(`  token: "\${FULCRUM_TEST_UNSET_TOKEN}"\n`));
    const r = spawnSync(process.execPath, [BIN, 'validate', file], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    });
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /:9:\d+: admin\.token: \$\{FULCRUM_TEST_UNSET_TOKEN\}: environment variable FULCRUM_TEST_UNSET_TOKEN is not set/,
    );
  });
});
