/**
 * The cluster's verdicts hash (src/cluster/verdicts.ts): what an event records, and the events a
 * joining node applies from what it reads.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { verdictEntry, verdictEvents, verdictField } from '../../../src/cluster/verdicts.ts';
import { REPO_ROOT } from '../../helpers/child.ts';

const NOW = 1_800_000_000_000;
const healthy = { health: 'healthy', draining: false, ejectedForMs: null } as const;
const active = { kind: 'active', upstream: 'u', target: 't:1', outcome: 500 } as const;

describe('the verdicts in force, for nodes that join', () => {
  it('records a verdict out of the default state, and nothing (a deletion) for the default', () => {
    assert.equal(verdictEntry(active, healthy, 'n1', NOW), '');
    const down = JSON.parse(verdictEntry(active, { ...healthy, health: 'unhealthy' }, 'n1', NOW));
    assert.deepEqual(down, { health: 'unhealthy', draining: false, source: 'active', node: 'n1', at: NOW });
    const state = { kind: 'state', upstream: 'u', target: 't:1', health: 'healthy', draining: true } as const;
    // A state set through the admin API is the event's own, whatever the node holds.
    assert.equal(JSON.parse(verdictEntry(state, null, 'n2', NOW)).source, 'admin');
    const eject = { kind: 'eject', upstream: 'u', target: 't:1', reason: 'x' } as const;
    const e = JSON.parse(
      verdictEntry(eject, { health: 'unhealthy', draining: false, ejectedForMs: 30_000 }, 'n3', NOW),
    );
    assert.deepEqual([e.source, e.until], ['passive', NOW + 30_000]);
  });

  it('turns entries into state events, an ejection not over into an eject first, and skips the rest', () => {
    const entry = (v: object) => JSON.stringify({ node: 'n1', at: NOW, ...v });
    const flat = [
      verdictField('u', 'a:1'),
      entry({ health: 'unhealthy', draining: false, source: 'admin' }),
      verdictField('u', 'b:1'),
      entry({ health: 'unhealthy', draining: false, source: 'passive', until: NOW + 5 }),
      verdictField('u', 'c:1'),
      entry({ health: 'unhealthy', draining: false, source: 'passive', until: NOW }),
      verdictField('u', 'd:1'),
      '{not json',
      'not a field',
      entry({ health: 'unhealthy' }),
      verdictField('u', 'e:1'),
      entry({ health: 'sick' }),
    ];
    assert.deepEqual(verdictEvents(flat, NOW), [
      { kind: 'state', upstream: 'u', target: 'a:1', health: 'unhealthy', draining: false },
      {
        kind: 'eject',
        upstream: 'u',
        target: 'b:1',
        reason: "passive checks on n1 (the cluster's verdicts)",
      },
      { kind: 'state', upstream: 'u', target: 'b:1', health: 'unhealthy', draining: false },
    ]);
  });

  it('reads the entry docs/cluster.md shows as what verdictEntry writes', () => {
    const page = readFileSync(join(REPO_ROOT, 'docs', 'cluster.md'), 'utf8');
    const section = page.slice(page.indexOf('### A node that joins'));
    const shown = /```json\n(.*)\n```/.exec(section)![1]!;
    const doc = JSON.parse(shown);
    const written = JSON.parse(
      verdictEntry(
        active,
        { health: 'unhealthy', draining: false, ejectedForMs: doc.until - doc.at },
        doc.node,
        doc.at,
      ),
    );
    assert.deepEqual(written, doc);
    assert.deepEqual(
      verdictEvents([verdictField('u', 't:1'), shown], doc.at).map((e) => e.kind),
      ['eject', 'state'],
    );
  });
});
