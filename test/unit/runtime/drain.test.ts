/**
 * A graceful stop's drain on virtual time (src/runtime/drain.ts): idle keep-alive connections are
 * closed every 50 ms while it waits, it ends as soon as the listeners have no connection left, and
 * at the drain timeout otherwise. The listeners here stand for real ones only in what the drain
 * calls; test/integration covers SIGTERM on real nodes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as turn } from 'node:timers/promises';
import { ManualClock } from '../../../src/core/clock.ts';
import type { ProxyListener } from '../../../src/listeners/index.ts';
import { drainListeners } from '../../../src/runtime/drain.ts';

/** A listener with `busy` connections, one of which falls idle (and is closed) per sweep. */
function listener(busy: number) {
  let left = busy;
  let done: () => void = () => {};
  const closed = new Promise<void>((r) => {
    done = r;
  });
  const l = {
    sweeps: 0,
    destroyed: false,
    stopAccepting: () => {
      if (left === 0) done();
      return closed;
    },
    closeIdle: () => {
      l.sweeps++;
      if (left > 0 && --left === 0) done();
    },
    destroyAll: () => {
      l.destroyed = true;
    },
  };
  return l;
}

async function settle(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(() => {
    settled = true;
  });
  await turn();
  return settled;
}

describe('drain', () => {
  it('closes idle connections every 50 ms and ends when none is left', async () => {
    const clock = new ManualClock(0);
    const l = listener(3);
    const p = drainListeners([l as unknown as ProxyListener], 10_000, clock);
    assert.equal(await settle(p), false);
    clock.advance(100);
    assert.equal(l.sweeps, 2);
    assert.equal(await settle(p), false);
    clock.advance(50);
    assert.equal(await p, 'drained');
    clock.advance(1000);
    assert.equal(l.sweeps, 3, 'no sweep after the drain ended');
    assert.equal(l.destroyed, false);
  });

  it('gives up at the drain timeout, leaving the closing of what remains to its caller', async () => {
    const clock = new ManualClock(0);
    const l = listener(1000);
    const p = drainListeners([l as unknown as ProxyListener], 500, clock);
    clock.advance(499);
    assert.equal(await settle(p), false);
    clock.advance(1);
    assert.equal(await p, 'timeout');
    assert.equal(l.sweeps, 9, 'every 50 ms before the deadline at 500');
  });

  it('ends at once when nothing is connected', async () => {
    const clock = new ManualClock(0);
    assert.equal(await drainListeners([listener(0) as unknown as ProxyListener], 500, clock), 'drained');
  });
});
