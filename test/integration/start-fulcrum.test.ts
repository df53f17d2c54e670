/**
 * startFulcrum (the package's main entry) from a file: serves, reloads the file (a refused one keeps
 * the running configuration), stops; and the options it refuses.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { startFulcrum } from '../../src/index.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

const ups: TestUpstream[] = [];
after(async () => {
  for (const u of ups) await u.close();
});

const yaml = (target: string, path: string) => `_format_version: "3.0"
listeners: [{ name: proxy, address: 127.0.0.1, port: 0 }]
admin: { address: 127.0.0.1, port: 0 }
services:
  - name: s
    url: http://${target}
    routes: [{ paths: ["${path}"] }]
`;

describe('startFulcrum', () => {
  it('from a file: serves, reloads the file, keeps serving through a refused one, stops', async () => {
    const u = await startUpstream('u');
    ups.push(u);
    const file = join(mkdtempSync(join(tmpdir(), 'fulcrum-start-')), 'fulcrum.yaml');
    writeFileSync(file, yaml(u.target, '/a'));
    const f = await startFulcrum({ file, logLevel: 'silent', accessLog: 'off' });
    const base = `http://127.0.0.1:${f.proxyAddresses()[0]!.port}`;
    assert.equal((await request(`${base}/a`)).statusCode, 200);
    assert.ok(f.adminAddress() !== null);

    writeFileSync(file, yaml(u.target, '/b'));
    const ok = await f.reload();
    assert.equal(ok.ok, true);
    assert.equal((await request(`${base}/b`)).statusCode, 200);

    writeFileSync(file, 'services: [{ name: s, port: 70000 }]\n');
    const refused = await f.reload();
    assert.equal(refused.ok, false);
    assert.equal((await request(`${base}/b`)).statusCode, 200, 'the running configuration still serves');
    const cannot = await f.reload({ _format_version: '3.0' });
    assert.equal(cannot.ok, false, 'a file node reloads its file only');
    assert.equal((f.status().config as { generation: number }).generation, 2);
    await f.close();
  });

  it('wants exactly one of config and file, and refuses a bad configuration with its issues', async () => {
    await assert.rejects(startFulcrum({}), /either `config` or `file`/);
    await assert.rejects(
      startFulcrum({ config: { _format_version: '3.0', services: [{ name: 's', port: 70000 }] } }),
      (err: Error & { issues?: { path: string }[] }) => err.issues?.[0]?.path === 'services[0].port',
    );
  });
});
