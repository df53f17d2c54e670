/**
 * src/http1/intern.ts: a cached string is handed out only for exactly the same bytes, whatever
 * collides in its slot, and runs past the cache's bound are made as usual.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import { latin1 } from '../../../src/http1/intern.ts';

const read = (s: string, pad = 0): string => {
  // Somewhere inside a larger buffer, as a field value is.
  const b = Buffer.from(`${'x'.repeat(pad)}${s}\r\n`, 'latin1');
  return latin1(b, pad, pad + Buffer.byteLength(s, 'latin1'));
};

describe('latin1 interning', () => {
  it('reads the same string as toString, the first time and again', () => {
    for (const s of ['127.0.0.1:8080', 'OK', 'Not Found', 'a', 'é', 'x'.repeat(64)]) {
      assert.equal(read(s, 3), s);
      assert.equal(read(s, 7), s);
    }
    assert.equal(read(''), '');
  });

  it('never hands out a cached string for other bytes', () => {
    // Many runs of one length differing in one inner byte: their slots collide, their hashes
    // (first, middle, last bytes) often alike; each read must still be its own bytes.
    const seen: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const s = `host-${String(i).padStart(4, '0')}.example:80`;
      seen.push(s);
      assert.equal(read(s), s);
    }
    for (const s of seen.reverse()) assert.equal(read(s, 1), s);
  });

  it('makes runs longer than it caches as toString does', () => {
    const s = `${'y'.repeat(100)}z`;
    assert.equal(read(s, 2), s);
  });
});
