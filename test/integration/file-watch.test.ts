/** `fulcrum start --watch`: the file is reloaded when it changes, including by rename-over. */
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { FulcrumNode } from '../../src/runtime/node.ts';
import { waitFor } from '../helpers/faulty-upstream.ts';
import { TEST_NODE_HEADER } from '../helpers/fulcrum.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

describe('file watch', () => {
  let up: TestUpstream;
  let node: FulcrumNode;
  let dir: string;
  let file: string;
  const body = (path: string) => `${TEST_NODE_HEADER}
services:
  - name: s
    url: http://${up.target}
    routes: [{ paths: ["${path}"] }]
`;
  async function status(path: string): Promise<number> {
    const r = await request(`http://127.0.0.1:${node.proxyAddresses()[0]!.port}${path}`);
    await r.body.text();
    return r.statusCode;
  }

  before(async () => {
    up = await startUpstream('a');
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-watch-'));
    file = join(dir, 'fulcrum.yaml');
    writeFileSync(file, body('/one'));
    node = await FulcrumNode.start({ configFile: file, watch: true, accessLog: 'off', logLevel: 'silent' });
  });
  after(async () => {
    await node.stop();
    await up.close();
  });

  it('reloads on a write in place', async () => {
    assert.equal(await status('/one'), 200);
    writeFileSync(file, body('/two'));
    await waitFor(() => node.runtime.current.routes[0]?.spec.paths[0] === '/two', 'reload', 5000);
    assert.equal(await status('/two'), 200);
    assert.equal(await status('/one'), 404);
  });

  it('reloads when a new file is renamed over it (how editors save)', async () => {
    const tmp = join(dir, '.fulcrum.yaml.tmp');
    writeFileSync(tmp, body('/three'));
    renameSync(tmp, file);
    await waitFor(() => node.runtime.current.routes[0]?.spec.paths[0] === '/three', 'reload', 5000);
    assert.equal(await status('/three'), 200);
  });

  it('keeps serving the last good configuration when the new file is invalid', async () => {
    const gen = node.runtime.current.id;
    writeFileSync(file, `${TEST_NODE_HEADER}services: [{ name: 5 }]\n`);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(node.runtime.current.id, gen, 'no new generation');
    assert.equal(await status('/three'), 200);
    writeFileSync(file, body('/four'));
    await waitFor(
      () => node.runtime.current.routes[0]?.spec.paths[0] === '/four',
      'reload after the fix',
      5000,
    );
  });
});
