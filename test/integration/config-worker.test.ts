/**
 * Configuration changes go through the config worker (src/runtime/config-pipeline.ts): a document
 * big enough to travel in several pieces arrives whole and frozen, errors still name entity paths,
 * and a stopped worker is started again by the next change.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { parse } from 'yaml';
import { immediateScheduler } from '../../src/core/pace.ts';
import { WorkerPipeline } from '../../src/runtime/config-pipeline.ts';
import { admin, type ManagedNode, startManaged } from '../helpers/admin.ts';
import { TEST_NODE_HEADER } from '../helpers/fulcrum.ts';
import { manyServices } from '../helpers/hostile-inputs.ts';
import { startUpstream, type TestUpstream } from '../helpers/upstream.ts';

describe('the config worker', () => {
  let up: TestUpstream;
  let f: ManagedNode;
  let pipeline: WorkerPipeline;
  before(async () => {
    up = await startUpstream('w');
    f = await startManaged({
      seedBody: `services:\n  - name: first\n    url: http://${up.target}\n    routes: [{ paths: ["/first"] }]\n`,
    });
    assert.ok(f.node.control.pipeline instanceof WorkerPipeline);
    pipeline = f.node.control.pipeline;
  });
  after(async () => {
    await f?.stop();
    await up?.close();
  });

  const status = async (path: string) => {
    const r = await request(`${f.url}${path}`);
    await r.body.dump();
    return r.statusCode;
  };

  it('takes POST /config of 600 services in pieces; the snapshot in service is whole and frozen', async () => {
    const doc = parse(TEST_NODE_HEADER + manyServices(600, up.target));
    const r = await admin(f.adminUrl, 'POST', '/config', doc);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.body.counts.services, 600);
    const snap = f.node.runtime.current.snapshot;
    assert.equal(snap.services.length, 600);
    assert.equal(snap.routes.length, 600);
    assert.ok(
      Object.isFrozen(snap) && Object.isFrozen(snap.routes) && Object.isFrozen(snap.routes[599]!.paths),
    );
    assert.equal(await status('/s599'), 200);
    assert.equal(await status('/first'), 404);
    assert.ok(pipeline.started >= 1 && pipeline.jobs >= 1);
  });

  it('names a bad field of an entity relative to it, across 600 others', async () => {
    const r = await admin(f.adminUrl, 'POST', '/services/s10/routes', {
      name: 'bad',
      paths: ['/x'],
      bogus: 1,
    });
    assert.equal(r.status, 400, r.text);
    assert.deepEqual(Object.keys(r.body.fields), ['bogus']);
  });

  it('starts a new worker for the next change once the old one is gone', async () => {
    const started = pipeline.started;
    await pipeline.close();
    const r = await admin(f.adminUrl, 'POST', '/services/s10/routes', { name: 'again', paths: ['/again'] });
    assert.equal(r.status, 201, r.text);
    assert.equal(pipeline.started, started + 1);
    assert.equal(await status('/again'), 200);
  });

  it('re-reads the state file through the worker on a reload', async () => {
    const jobs = pipeline.jobs;
    const r = await f.node.reload();
    assert.equal(r.ok, true);
    assert.equal(pipeline.jobs, jobs + 1);
    assert.equal(f.node.runtime.current.snapshot.routes.length, 601);
    assert.equal(await status('/again'), 200);
  });
});

describe('the config worker out of memory', () => {
  it('refuses a document that needs more than its heap; the next job gets a new worker', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fulcrum-oom-'));
    const file = join(dir, 'big.yaml');
    writeFileSync(file, `${TEST_NODE_HEADER}${manyServices(20_000, '127.0.0.1:9')}`);
    // 48 MB: what the worker needs for its own code and a small document on Node 20 and 24 (at
    // 16 MB Node 24's worker could not read 200 services), far below 20,000 services' needs.
    const p = new WorkerPipeline(immediateScheduler, { heapMb: 48 });
    try {
      const r = await p.run({ kind: 'file', file, nowSeconds: 0, previous: null });
      assert.equal(r.ok, false);
      assert.ok(!r.ok);
      assert.match(
        r.issues[0]!.message,
        /needs more than the config worker's 48 MB heap \(CONFIG_WORKER_HEAP_MB\)/,
      );
      assert.equal(r.issues[0]!.file, file);
      writeFileSync(file, `${TEST_NODE_HEADER}${manyServices(200, '127.0.0.1:9')}`);
      const again = await p.run({ kind: 'file', file, nowSeconds: 0, previous: null });
      assert.equal(again.ok, true);
      assert.equal(p.started, 2);
    } finally {
      await p.close();
    }
  });
});
