import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeEscapes } from '../../../src/core/escapes.ts';

describe('decodeEscapes', () => {
  it('reads text as UTF-8 and the escapes as bytes', () => {
    assert.deepEqual(decodeEscapes('PING'), Buffer.from('PING'));
    assert.deepEqual(decodeEscapes('PING\\r\\n'), Buffer.from('PING\r\n'));
    assert.deepEqual(decodeEscapes('a\\tb\\0\\\\'), Buffer.from([0x61, 0x09, 0x62, 0x00, 0x5c]));
    assert.deepEqual(decodeEscapes('\\xff\\x00\\x7F'), Buffer.from([0xff, 0x00, 0x7f]));
    assert.deepEqual(decodeEscapes('é\\n'), Buffer.from([0xc3, 0xa9, 0x0a]));
    // Control characters a YAML double-quoted string already turned into bytes pass through.
    assert.deepEqual(decodeEscapes('PING\r\n'), Buffer.from('PING\r\n'));
  });

  it('refuses an unknown or cut escape, naming where', () => {
    assert.match(decodeEscapes('ab\\q') as string, /bad escape at character 3/);
    assert.match(decodeEscapes('\\x4') as string, /bad escape at character 1/);
    assert.match(decodeEscapes('x\\') as string, /bad escape at character 2/);
  });
});
