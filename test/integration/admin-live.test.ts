/**
 * The proof for live configuration: continuous load through the proxy (keep-alive and new
 * connections, small bodies, streamed uploads and downloads) while 200 admin changes are applied
 * (targets added and removed, weights changed, routes added and removed, the whole configuration
 * replaced). No request to a route every configuration keeps may fail, and each change must be in
 * effect (in the generation in service) before the next is sent. Invalid changes in between are
 * refused and change nothing. How soon changes are visible is a wall-clock figure, measured by
 * bench/admin/live-changes.ts (docs/benchmarks.md); this test prints it without judging it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { liveSummary, runLiveChanges, startLiveNode } from '../helpers/admin-live-load.ts';

const CHANGES = 200;

describe('live admin changes under load', () => {
  let live: Awaited<ReturnType<typeof startLiveNode>>;
  before(async () => {
    live = await startLiveNode();
  });
  after(async () => {
    await live.close();
  });

  it(`applies ${CHANGES} changes with zero failed requests, each in effect before the next`, async () => {
    const r = await runLiveChanges(live.f, live.ups, CHANGES);
    console.log(`# ${liveSummary(r, CHANGES)}`);
    assert.deepEqual(r.failures.slice(0, 10), []);
    const c = r.counts;
    assert.ok(c.keepalive > 0 && c.fresh > 0 && c.upload > 0 && c.download > 0);
    assert.equal(r.visibleMs.length, CHANGES);
    assert.equal(live.f.node.control.version, 1 + CHANGES);
  });
});
