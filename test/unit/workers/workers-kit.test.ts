/** The pure parts of src/workers/: which listen mode a Node offers, and merging /metrics texts. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PrimaryCounters } from '../../../src/workers/counters.ts';
import { reusePortAvailable } from '../../../src/workers/listen-mode.ts';
import { mergeMetrics } from '../../../src/workers/metrics-merge.ts';

describe('worker listen mode', () => {
  it('offers reuseport from Node 22.12 and 23.1, on Linux only', () => {
    assert.equal(reusePortAvailable('20.20.2', 'linux'), false);
    assert.equal(reusePortAvailable('22.11.0', 'linux'), false);
    assert.equal(reusePortAvailable('22.12.0', 'linux'), true);
    assert.equal(reusePortAvailable('23.0.0', 'linux'), false);
    assert.equal(reusePortAvailable('23.1.0', 'linux'), true);
    assert.equal(reusePortAvailable('24.21.0', 'linux'), true);
    assert.equal(reusePortAvailable('24.21.0', 'darwin'), false);
  });
});

describe('metrics of a node with workers', () => {
  it('keeps one HELP and TYPE per family and labels each worker sample first', () => {
    const own = '# HELP up Up.\n# TYPE up gauge\nup 1\n';
    const w =
      '# HELP up Up.\n# TYPE up gauge\nup 1\n# HELP req Requests.\n# TYPE req counter\nreq{code="2xx"} 5\n';
    const out = mergeMetrics(
      [
        { worker: 1, text: w },
        { worker: 2, text: w.replace(' 5', ' 7') },
      ],
      own,
    );
    assert.equal(
      out,
      [
        '# HELP up Up.',
        '# TYPE up gauge',
        'up 1',
        'up{worker="1"} 1',
        'up{worker="2"} 1',
        '# HELP req Requests.',
        '# TYPE req counter',
        'req{worker="1",code="2xx"} 5',
        'req{worker="2",code="2xx"} 7',
        '',
      ].join('\n'),
    );
  });
});

describe('rate-limit counts in the primary', () => {
  it('admits exactly the limit whichever worker asks', () => {
    let now = 1_000_000;
    const c = new PrimaryCounters(() => now);
    c.handle({ t: 'rl-def', key: 'k', longestMs: 1000, limits: [[1000, 10]] });
    let admitted = 0;
    for (let i = 0; i < 30; i++) {
      const a = c.handle({ t: 'rl', q: [[i, 'k', '10.0.0.1']] });
      admitted += a!.a[0]![1]!;
    }
    assert.equal(admitted, 10);
    now += 2000;
    assert.equal(c.handle({ t: 'rl', q: [[99, 'k', '10.0.0.1']] })!.a[0]![1], 1);
  });
});
