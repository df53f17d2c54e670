import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { ConfigError } from '../../src/config/load.ts';
import { FulcrumNode } from '../../src/runtime/node.ts';
import { admin, startManaged } from '../helpers/admin.ts';
import { startFulcrum, TEST_NODE_HEADER, type TestNode } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

async function body(url: string): Promise<string> {
  const res = await request(url);
  return res.body.text();
}

describe('managed mode: persisted state', () => {
  let up: TestUpstream;
  before(async () => {
    up = await startUpstream('up');
  });
  after(() => up.close());

  it('starts empty without a state file, persists every write, and comes back the same after a restart', async () => {
    const f = await startManaged();
    assert.equal(existsSync(f.stateFile), true, 'the seed is written as the first state');
    const empty = await admin(f.adminUrl, 'GET', '/services');
    assert.deepEqual(empty.body.data, []);
    const s = await admin(f.adminUrl, 'POST', '/services', {
      name: 'keep',
      url: `http://127.0.0.1:${up.port}/base`,
    });
    assert.equal(s.status, 201);
    const r = await admin(f.adminUrl, 'POST', '/services/keep/routes', { name: 'keep-r', paths: ['/k'] });
    assert.equal(r.status, 201);
    const saved = JSON.parse(readFileSync(f.stateFile, 'utf8'));
    assert.equal(saved.format, 'fulcrum-state/1');
    assert.equal(saved.services[0].id, s.body.id);
    assert.deepEqual(
      readdirSync(f.dir).filter((n) => n.endsWith('.tmp')),
      [],
      'no temporary file is left behind',
    );
    const version = (await admin(f.adminUrl, 'GET', '/')).body.config_version;
    await f.stop();

    // Restart on the same state file: the seed file is not read again.
    writeFileSync(join(f.dir, 'seed.yaml'), 'not: [valid');
    const node = await FulcrumNode.start({
      configFile: join(f.dir, 'seed.yaml'),
      stateFile: f.stateFile,
      accessLog: 'off',
      logLevel: 'silent',
    });
    try {
      const adminUrl = `http://127.0.0.1:${node.adminAddress()!.port}`;
      const again = await admin(adminUrl, 'GET', '/routes/keep-r');
      assert.equal(again.body.id, r.body.id);
      assert.equal(again.body.created_at, r.body.created_at);
      assert.equal((await admin(adminUrl, 'GET', '/')).body.config_version, version);
      assert.equal(await body(`http://127.0.0.1:${node.proxyAddresses()[0]!.port}/k/x`), 'up');
      assert.equal(up.seen.at(-1)?.url, '/base/x');
    } finally {
      await node.stop();
    }
  });

  it('ignores the torn temporary file of a write that crashed, keeping the previous state', async () => {
    const f = await startManaged();
    const r = await admin(f.adminUrl, 'POST', '/upstreams', { name: 'before-crash' });
    assert.equal(r.status, 201);
    await f.stop();
    const previous = readFileSync(f.stateFile, 'utf8');
    // A crash between writing the temporary file and the rename leaves this behind.
    writeFileSync(join(f.dir, '.state.json.99999.tmp'), '{"format": "fulcrum-state/1", "upstreams": [{"na');
    const node = await FulcrumNode.start({ stateFile: f.stateFile, accessLog: 'off', logLevel: 'silent' });
    try {
      const adminUrl = `http://127.0.0.1:${node.adminAddress()!.port}`;
      assert.equal((await admin(adminUrl, 'GET', '/upstreams/before-crash')).body.id, r.body.id);
      assert.equal(readFileSync(f.stateFile, 'utf8'), previous);
    } finally {
      await node.stop();
    }
  });

  it('refuses to start over a state file it cannot parse, rather than starting empty', async () => {
    const f = await startManaged();
    await f.stop();
    writeFileSync(f.stateFile, '{"format": "fulcrum-state/1", "services": [');
    await assert.rejects(
      FulcrumNode.start({ stateFile: f.stateFile, accessLog: 'off', logLevel: 'silent' }),
      (err: unknown) => err instanceof ConfigError && /not valid JSON/.test(err.message),
    );
  });

  it('replaces the whole configuration with POST /config, validated first, and persists it', async () => {
    const f = await startManaged();
    try {
      const doc = {
        _format_version: '3.0',
        listeners: [{ name: 'proxy', address: '127.0.0.1', port: 0 }],
        admin: { address: '127.0.0.1', port: 0 },
        services: [
          { name: 'whole', url: `http://127.0.0.1:${up.port}`, routes: [{ name: 'w', paths: ['/w'] }] },
        ],
      };
      const bad = await admin(f.adminUrl, 'POST', '/config', {
        ...doc,
        services: [{ name: 'whole', host: 'x', routes: [{ paths: ['nope'] }], colour: 1 }],
      });
      assert.equal(bad.status, 400);
      assert.deepEqual(bad.body.issues.map((i: { path: string }) => i.path).sort(), ['services[0].colour']);
      assert.deepEqual((await admin(f.adminUrl, 'GET', '/services')).body.data, []);
      const ok = await admin(f.adminUrl, 'POST', '/config', doc);
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.counts.routes, 1);
      assert.equal(await body(`${f.url}/w`), 'up');
      const exported = await admin(f.adminUrl, 'GET', '/config');
      assert.equal(exported.body.services[0].routes[0].name, 'w');
      assert.equal(exported.body.services[0].host, '127.0.0.1');
      const yaml = await request(`${f.adminUrl}/config?format=yaml`);
      assert.match(await yaml.body.text(), /^_format_version: "3.0"/m);
      const saved = JSON.parse(readFileSync(f.stateFile, 'utf8'));
      assert.equal(saved.routes[0].name, 'w');
    } finally {
      await f.stop();
    }
  });
});

describe('file mode: the file is the source of truth', () => {
  let up: TestUpstream;
  let f: TestNode;
  before(async () => {
    up = await startUpstream('file-up');
    f = await startFulcrum(`services:
  - name: s
    url: http://127.0.0.1:${up.port}
    routes:
      - name: r
        paths: [/r]
`);
  });
  after(async () => {
    await f.stop();
    await up.close();
  });

  it('reads entities with the ids the snapshot uses, and refuses entity writes with a pointer to POST /config', async () => {
    const s = await admin(f.adminUrl, 'GET', '/services/s');
    assert.equal(s.status, 200);
    assert.equal(s.body.id, f.node.runtime.current.snapshot.services[0]!.id);
    const routes = await admin(f.adminUrl, 'GET', '/services/s/routes');
    assert.equal(routes.body.data[0].id, f.node.runtime.current.snapshot.routes[0]!.id);
    const w = await admin(f.adminUrl, 'POST', '/services', { name: 'x', host: 'h' });
    assert.equal(w.status, 405);
    assert.match(w.body.message, /file mode/);
    assert.match(w.body.message, /POST \/config/);
    assert.equal((await admin(f.adminUrl, 'DELETE', '/services/s')).status, 405);
  });

  it('takes POST /config in memory; a reload goes back to the file and keeps created_at', async () => {
    const createdAt = (await admin(f.adminUrl, 'GET', '/services/s')).body.created_at;
    const doc = (await admin(f.adminUrl, 'GET', '/config')).body;
    doc.services[0].path = '/posted';
    const r = await admin(f.adminUrl, 'POST', '/config', doc);
    assert.equal(r.status, 200, r.text);
    assert.match(r.body.message, /in memory/);
    assert.equal(await body(`${f.url}/r`), 'file-up');
    assert.equal(up.seen.at(-1)?.url, '/posted');
    f.write(`services:
  - name: s
    url: http://127.0.0.1:${up.port}/from-file
    routes:
      - name: r
        paths: [/r]
`);
    assert.equal((await f.node.reload()).ok, true);
    const s = await admin(f.adminUrl, 'GET', '/services/s');
    assert.equal(s.body.path, '/from-file');
    assert.equal(s.body.created_at, createdAt);
  });
});

describe('admin security', () => {
  it('requires the token when one is set (Bearer or Kong-Admin-Token), compared in constant time', async () => {
    const f = await startFulcrum('', {
      header: TEST_NODE_HEADER.replace('admin:\n', 'admin:\n  token: s3cret\n'),
    });
    try {
      const none = await admin(f.adminUrl, 'GET', '/status');
      assert.equal(none.status, 401);
      assert.match(String(none.headers['www-authenticate']), /Bearer/);
      assert.equal((await admin(f.adminUrl, 'GET', '/status', undefined, { token: 'wrong' })).status, 401);
      assert.equal((await admin(f.adminUrl, 'GET', '/status', undefined, { token: 's3cret' })).status, 200);
      const kong = await request(`${f.adminUrl}/config`, { headers: { 'kong-admin-token': 's3cret' } });
      assert.equal(kong.statusCode, 200);
      await kong.body.text();
    } finally {
      await f.stop();
    }
  });

  it('refuses a non-loopback admin address without a token unless allow_insecure is set', async () => {
    const header = TEST_NODE_HEADER.replace('admin:\n  address: 127.0.0.1', 'admin:\n  address: 0.0.0.0');
    await assert.rejects(startFulcrum('', { header }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.issues[0]?.path, 'admin.address');
      assert.match(err.issues[0]!.message, /set admin.token/);
      return true;
    });
    const ok = await startFulcrum('', {
      header: header.replace('admin:\n', 'admin:\n  allow_insecure: true\n'),
    });
    await ok.stop();
    const tok = await startFulcrum('', { header: header.replace('admin:\n', 'admin:\n  token: t\n') });
    await tok.stop();
  });
});
