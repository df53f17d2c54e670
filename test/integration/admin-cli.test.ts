/**
 * `fulcrum start --managed --state FILE` as a user runs it: seeded from -c on the first start,
 * admin writes persisted and audited in the log, the same entities after a restart without -c.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { admin } from '../helpers/admin.ts';
import { BIN, spawnFulcrum, writeConfig } from '../helpers/child.ts';

describe('fulcrum start --managed', () => {
  it('persists admin writes to the state file, audits them, and restarts from it', async () => {
    const state = join(mkdtempSync(join(tmpdir(), 'fulcrum-managed-')), 'state.json');
    const seed = writeConfig('');
    const first = await spawnFulcrum(null, { args: ['start', '--managed', '--state', state, '-c', seed] });
    let id: string;
    try {
      const adminUrl = `http://127.0.0.1:${first.adminPort}`;
      const created = await admin(adminUrl, 'POST', '/upstreams', 'name=persisted&tags[]=cli');
      assert.equal(created.status, 201, created.text);
      id = created.body.id;
      const line = await first.waitForLog((l) => typeof l.audit === 'object' && l.audit !== null);
      const audit = line.audit as Record<string, unknown>;
      assert.equal(audit.method, 'POST');
      assert.equal(audit.path, '/upstreams');
      assert.equal(audit.entity, `upstreams/${id}`);
      assert.equal(audit.token, false);
      assert.equal(audit.after, (audit.before as number) + 1);
    } finally {
      assert.equal((await first.stop()).code, 0);
    }
    const second = await spawnFulcrum(null, { args: ['start', '--managed', '--state', state] });
    try {
      const got = await admin(`http://127.0.0.1:${second.adminPort}`, 'GET', '/upstreams/persisted');
      assert.equal(got.status, 200);
      assert.equal(got.body.id, id);
      assert.deepEqual(got.body.tags, ['cli']);
    } finally {
      await second.stop();
    }
  });

  it('refuses --state without --managed', () => {
    const r = spawnSync(process.execPath, [BIN, 'start', '--state', 'x.json'], {
      encoding: 'utf8',
      timeout: 15000,
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--state needs --managed/);
  });
});
