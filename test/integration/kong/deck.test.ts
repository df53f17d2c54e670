/**
 * decK, the real binary (Debian's deck 1.4), against a managed node: `deck ping`, `deck sync` of
 * a file with services, routes, an upstream with targets, a consumer with key-auth, basic-auth
 * and jwt credentials and acls, and plugins; then `deck diff` shows no change, `deck dump` writes
 * a file that diffs clean too and that Fulcrum itself loads, a change and a deletion sync, and
 * the proxy serves what the file says. decK 1.4 compares without filling Kong's defaults, so it
 * is run with `--headers Fulcrum-Defaults:given` (docs/admin.md); the token lets it read secrets.
 * Skipped, saying so, when no `deck` binary is installed (.ci/run installs the package).
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { request } from 'undici';
import { loadSnapshotFile } from '../../../src/config/validate.ts';
import { admin, type ManagedNode, startManaged } from '../../helpers/admin.ts';
import { testHeader } from '../../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../../helpers/upstream.ts';

const run = promisify(execFile);
const TOKEN = 'deck-token';

function deckPath(): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v deck'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}
const DECK = deckPath();

function file(a: TestUpstream, b: TestUpstream, c: TestUpstream, extra = ''): string {
  return `_format_version: "1.1"
services:
- name: orders
  url: http://${a.target}/v1
  retries: 3
  tags: [team-a]
  routes:
  - name: orders-api
    paths: [/orders]
    methods: [GET, POST]
    strip_path: true
  plugins:
  - name: rate-limiting
    config:
      minute: 100
      policy: local
- name: billing
  host: billing.upstream
  port: 80
  protocol: http
  routes:
  - name: billing
    paths: [/billing]
    plugins:
    - name: basic-auth
upstreams:
- name: billing.upstream
  algorithm: round-robin
  targets:
  - target: ${b.target}
    weight: 100
  - target: ${c.target}
    weight: 100
consumers:
- username: alice
  custom_id: crm-1
  keyauth_credentials:
  - key: alice-key
  basicauth_credentials:
  - username: alice
    password: open-sesame
  jwt_secrets:
  - key: alice-iss
    algorithm: HS256
    secret: a-long-shared-secret-value
  acls:
  - group: admins
${extra}plugins:
- name: key-auth
  service: orders
  config:
    key_names: [apikey]
`;
}

describe('decK against a managed node', {
  skip: DECK === null ? 'no deck binary: apt-get install deck' : false,
}, () => {
  let m: ManagedNode;
  let a: TestUpstream;
  let b: TestUpstream;
  let c: TestUpstream;
  const deck = async (...args: string[]) => {
    const r = await run(
      DECK!,
      [
        ...args,
        '--kong-addr',
        m.adminUrl,
        '--headers',
        `Authorization:Bearer ${TOKEN}`,
        '--headers',
        'Fulcrum-Defaults:given',
      ],
      { cwd: m.dir },
    );
    return `${r.stdout}${r.stderr}`;
  };
  const summary = (out: string) => {
    const n = (what: string) => Number(new RegExp(`${what}: (\\d+)`).exec(out)?.[1] ?? -1);
    return { created: n('Created'), updated: n('Updated'), deleted: n('Deleted') };
  };
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const r = await request(`${m.url}${path}`, { headers });
    return { status: r.statusCode, text: await r.body.text() };
  };

  before(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    c = await startUpstream('c');
    m = await startManaged({ header: testHeader({ admin: `  token: ${TOKEN}\n` }) });
    writeFileSync(join(m.dir, 'kong.yaml'), file(a, b, c));
  });
  after(async () => {
    await m?.stop();
    await a?.close();
    await b?.close();
    await c?.close();
  });

  it('deck ping reaches the node', async () => {
    assert.match(await deck('ping'), /Successfully connected to Kong!/);
  });

  it('deck sync creates everything; a second diff shows no change', async () => {
    const sync = await deck('sync', '-s', 'kong.yaml');
    assert.deepEqual(summary(sync), { created: 15, updated: 0, deleted: 0 }, sync);
    const diff = await deck('diff', '-s', 'kong.yaml');
    assert.deepEqual(summary(diff), { created: 0, updated: 0, deleted: 0 }, diff);
  });

  it('the proxy serves what the file says', async () => {
    assert.equal((await get('/orders')).status, 401, 'key-auth on orders');
    assert.equal((await get('/orders', { apikey: 'alice-key' })).status, 200);
    assert.equal(a.seen.at(-1)!.url, '/v1');
    const basic = `Basic ${Buffer.from('alice:open-sesame').toString('base64')}`;
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await get('/billing', { authorization: basic })).text);
    assert.deepEqual([...seen].sort(), ['b', 'c'], 'balanced over both targets');
  });

  it('deck dump writes a file that diffs clean and that Fulcrum loads', async () => {
    await deck('dump', '-o', 'dump.yaml');
    const dumped = readFileSync(join(m.dir, 'dump.yaml'), 'utf8');
    assert.match(dumped, /name: orders/);
    assert.match(dumped, /key: alice-key/);
    assert.deepEqual(summary(await deck('diff', '-s', 'dump.yaml')), { created: 0, updated: 0, deleted: 0 });
    const snap = loadSnapshotFile(join(m.dir, 'dump.yaml'));
    assert.equal(snap.services.length, 2);
    assert.equal(snap.consumers[0]!.keyauthCredentials[0]!.key, 'alice-key');
  });

  it('a change and a deletion sync, then diff clean again', async () => {
    const changed = file(a, b, c, '- username: bob\n').replace('minute: 100', 'minute: 50');
    writeFileSync(join(m.dir, 'kong.yaml'), changed);
    const sync = await deck('sync', '-s', 'kong.yaml');
    assert.deepEqual(summary(sync), { created: 1, updated: 1, deleted: 0 }, sync);
    const rl = await admin(m.adminUrl, 'GET', '/plugins?name=rate-limiting', undefined, { token: TOKEN });
    assert.equal(rl.body.data[0].config.minute, 50);
    writeFileSync(join(m.dir, 'kong.yaml'), file(a, b, c));
    assert.deepEqual(summary(await deck('sync', '-s', 'kong.yaml')), { created: 0, updated: 1, deleted: 1 });
    assert.equal((await admin(m.adminUrl, 'GET', '/consumers/bob', undefined, { token: TOKEN })).status, 404);
    assert.deepEqual(summary(await deck('diff', '-s', 'kong.yaml')), { created: 0, updated: 0, deleted: 0 });
  });
});
