import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { atTurnEnd } from '../../../src/core/turn-end.ts';

/** Resolves on the check phase after the next one: every held piece of work has run by then. */
const twoTurns = () => new Promise<void>((r) => setImmediate(() => setImmediate(r)));

describe('atTurnEnd', () => {
  it('runs held work after the code that asked for it, in the order asked', async () => {
    const log: string[] = [];
    atTurnEnd({ turnEnded: () => log.push('a') });
    atTurnEnd({ turnEnded: () => log.push('b') });
    log.push('sync');
    await Promise.resolve();
    log.push('microtask');
    await twoTurns();
    assert.deepEqual(log, ['sync', 'microtask', 'a', 'b']);
  });

  it('work asked for while held work runs waits for the next turn', async () => {
    const log: string[] = [];
    atTurnEnd({
      turnEnded: () => {
        log.push('first');
        atTurnEnd({ turnEnded: () => log.push('next turn') });
        setImmediate(() => log.push('immediate queued meanwhile'));
      },
    });
    atTurnEnd({ turnEnded: () => log.push('second') });
    await twoTurns();
    await twoTurns();
    assert.deepEqual(log, ['first', 'second', 'next turn', 'immediate queued meanwhile']);
  });
});
