/**
 * src/http1/head-writer.ts: contentLength() writes the digits String() would, field() checks what it did not make, and the bytes it keeps for long
 * values it has checked are those values' own, whatever the shared scratch buffer holds since.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeadValueError, headWriter } from '../../../src/http1/head-writer.ts';

const line = (name: string, value: string): string =>
  headWriter.reset().field(name, value).finish().toString('latin1');

describe('HeadWriter.contentLength', () => {
  it('writes the decimal length as String() does', () => {
    for (const n of [0, 2, 9, 10, 99, 100, 65535, 1048576, 1234567890123, Number.MAX_SAFE_INTEGER])
      assert.equal(
        headWriter.reset().text('x').contentLength(n).finish().toString('latin1'),
        `xcontent-length: ${n}\r\n`,
      );
  });
});

describe('HeadWriter.field', () => {
  it('writes a checked line, short or long, the first time and again', () => {
    const id = '4a3f1c2e-9b7d-4e21-8a60-2f5d7c9e1b33';
    for (let round = 0; round < 3; round++) {
      assert.equal(line('x-consumer-id', id), `x-consumer-id: ${id}\r\n`);
      assert.equal(line('x-short', 'ok'), 'x-short: ok\r\n');
      // The scratch buffer is written over in between: a kept value must not be a view of it.
      headWriter.reset().text('z'.repeat(200)).finish();
    }
  });

  it('keeps every long value apart, past the bound of what it keeps', () => {
    const values = Array.from({ length: 3000 }, (_, i) => `value-${String(i).padStart(12, '0')}`);
    for (const v of values) assert.equal(line('x-v', v), `x-v: ${v}\r\n`);
    for (const v of values.reverse()) assert.equal(line('x-v', v), `x-v: ${v}\r\n`);
  });

  it('refuses a long or short value with a control character every time, and a bad name', () => {
    for (const v of ['bad\r\nx-injected: 1 and then some', 'a\nb', 'nul\u0000byte-in-a-long-value', 'é€']) {
      assert.throws(() => line('x-h', v), HeadValueError);
      assert.throws(() => line('x-h', v), HeadValueError);
    }
    assert.throws(() => line('bad name', 'v'), HeadValueError);
  });
});
