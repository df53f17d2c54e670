/** The rapid-reset rule of the HTTP/2 guard (src/listeners/h2-guard.ts), on virtual time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PrematureResets } from '../../../src/listeners/h2-guard.ts';

describe('PrematureResets (Envoy premature-reset rule)', () => {
  it('closes once premature resets pass the limit and are at least half of the ended streams', () => {
    const r = new PrematureResets(10, 10_000);
    for (let i = 0; i < 10; i++) assert.equal(r.streamEnded(true, 1), false, `reset ${i + 1}`);
    assert.equal(r.streamEnded(true, 2), true, 'the 11th premature reset, all streams premature');
  });

  it('never closes a connection whose premature resets are a minority, however many', () => {
    const r = new PrematureResets(10, 10_000);
    for (let i = 0; i < 1000; i++) {
      assert.equal(r.streamEnded(false, i), false);
      assert.equal(r.streamEnded(false, i), false);
      assert.equal(r.streamEnded(true, i), false, `round ${i}`);
    }
  });

  it('tips over when the premature share reaches one half', () => {
    const r = new PrematureResets(10, 10_000);
    for (let i = 0; i < 20; i++) r.streamEnded(false, 1);
    let closedAt = -1;
    for (let i = 1; i <= 40 && closedAt < 0; i++) if (r.streamEnded(true, 1)) closedAt = i;
    assert.equal(closedAt, 20, '20 premature of 40 ended');
  });

  it('starts counting again in each window', () => {
    const r = new PrematureResets(10, 1000);
    for (let i = 0; i < 10; i++) r.streamEnded(true, 0);
    assert.equal(r.streamEnded(true, 1000), false, 'a new window: 1 premature');
    for (let i = 0; i < 9; i++) assert.equal(r.streamEnded(true, 1500), false);
    assert.equal(r.streamEnded(true, 1999), true);
  });
});
