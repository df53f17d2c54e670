/**
 * The simulator builds its balancers with the runtime's stack, zones included: with a local zone
 * its targets take all the traffic while healthy, and spill what they lose when one dies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { simulate } from '../../../src/sim/engine.ts';
import { scenario, shareOf } from './support.ts';

const ZONED = `
seed: 2
duration: 10
rate: 400
zone: a
algorithms: [round-robin, least-request]
upstream: { healthchecks: { passive: { unhealthy: { tcp_failures: 1 } } } }
targets:
  - { name: a, count: 2, zone: a, latency: { distribution: constant, ms: 5 } }
  - { name: b, count: 2, zone: b, latency: { distribution: constant, ms: 5 } }
`;

describe('simulate: zones', () => {
  for (const algorithm of ['round-robin', 'least-request'])
    it(`${algorithm}: the local zone takes everything while healthy; without a node zone, both do`, () => {
      const local = simulate(scenario(ZONED), algorithm);
      assert.equal(shareOf(local, 'b-1') + shareOf(local, 'b-2'), 0);
      const flat = simulate(scenario(ZONED.replace('zone: a\n', '')), algorithm);
      assert.ok(Math.abs(shareOf(flat, 'b-1') + shareOf(flat, 'b-2') - 0.5) < 0.05);
    });

  it('a dead local target is ejected and its share spills to the other zone', () => {
    const r = simulate(scenario(`${ZONED}events: [{ at: 5, kind: die, target: a-1 }]\n`), 'round-robin');
    const spilled = shareOf(r, 'b-1') + shareOf(r, 'b-2');
    // Half the run with half the local capacity gone: a third of that half spills (zones.ts).
    assert.ok(spilled > 0.1 && spilled < 0.25, `spilled ${spilled}`);
    assert.equal(r.failed, 0, 'the failed try is retried');
  });
});
