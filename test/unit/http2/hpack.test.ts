/**
 * HPACK (src/http2/hpack.ts, huffman.ts) against RFC 7541 Appendix C: the request and response
 * examples, with and without Huffman coding, decoded block after block on one decoder (so the
 * dynamic table, its evictions and its size are checked too); the Huffman code itself against
 * Appendix B; the encoder by round trip through the decoder; and the refusals of §2.3, §4.2,
 * §5.2 and §6 that h2spec's HPACK cases probe.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import { DECODE_FAILED, HpackDecoder, HpackEncoder } from '../../../src/http2/hpack.ts';
import { CODES, codeLength, huffmanDecode, huffmanEncode } from '../../../src/http2/huffman.ts';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decode(d: HpackDecoder, block: Buffer, max = 1 << 20): [string, string][] {
  const out: string[] = [];
  const n = d.decode(block, 0, block.length, out, max);
  assert.notEqual(n, DECODE_FAILED, `block ${block.toString('hex')} refused`);
  const pairs: [string, string][] = [];
  for (let i = 0; i < out.length; i += 2) pairs.push([out[i]!, out[i + 1]!]);
  return pairs;
}

const REQ1: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'www.example.com'],
];
const REQ2: [string, string][] = [...REQ1, ['cache-control', 'no-cache']];
const REQ3: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
];
const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const LOC = 'https://www.example.com';
const RES1: [string, string][] = [
  [':status', '302'],
  ['cache-control', 'private'],
  ['date', DATE1],
  ['location', LOC],
];
const RES2: [string, string][] = [
  [':status', '307'],
  ['cache-control', 'private'],
  ['date', DATE1],
  ['location', LOC],
];
const RES3: [string, string][] = [
  [':status', '200'],
  ['cache-control', 'private'],
  ['date', DATE2],
  ['location', LOC],
  ['content-encoding', 'gzip'],
  ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
];

/** A dynamic table size update to 256, as the response examples of C.5 and C.6 assume. */
const SIZE_256 = hex('3fe101');

describe('HPACK decoder: RFC 7541 Appendix C', () => {
  it('C.2: literal fields with and without indexing, never indexed, indexed', () => {
    assert.deepEqual(
      decode(new HpackDecoder(4096), hex('400a637573746f6d2d6b65790d637573746f6d2d686561646572')),
      [['custom-key', 'custom-header']],
    );
    assert.deepEqual(decode(new HpackDecoder(4096), hex('040c2f73616d706c652f70617468')), [
      [':path', '/sample/path'],
    ]);
    assert.deepEqual(decode(new HpackDecoder(4096), hex('100870617373776f726406736563726574')), [
      ['password', 'secret'],
    ]);
    assert.deepEqual(decode(new HpackDecoder(4096), hex('82')), [[':method', 'GET']]);
  });

  it('C.3: requests without Huffman coding, on one connection', () => {
    const d = new HpackDecoder(4096);
    assert.deepEqual(decode(d, hex('828684410f7777772e6578616d706c652e636f6d')), REQ1);
    assert.deepEqual(decode(d, hex('828684be58086e6f2d6361636865')), REQ2);
    assert.deepEqual(decode(d, hex('828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565')), REQ3);
  });

  it('C.4: requests with Huffman coding, on one connection', () => {
    const d = new HpackDecoder(4096);
    assert.deepEqual(decode(d, hex('828684418cf1e3c2e5f23a6ba0ab90f4ff')), REQ1);
    assert.deepEqual(decode(d, hex('828684be5886a8eb10649cbf')), REQ2);
    assert.deepEqual(decode(d, hex('828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf')), REQ3);
  });

  it('C.5: responses without Huffman coding, a 256-byte table evicting as it goes', () => {
    const d = new HpackDecoder(4096);
    assert.deepEqual(decode(d, SIZE_256), []);
    assert.deepEqual(
      decode(
        d,
        hex(`4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d54
             6e1768747470733a2f2f7777772e6578616d706c652e636f6d`),
      ),
      RES1,
    );
    assert.deepEqual(decode(d, hex('4803333037c1c0bf')), RES2);
    assert.deepEqual(
      decode(
        d,
        hex(`88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a6970
             7738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d
             333630303b2076657273696f6e3d31`),
      ),
      RES3,
    );
  });

  it('C.6: responses with Huffman coding', () => {
    const d = new HpackDecoder(4096);
    decode(d, SIZE_256);
    assert.deepEqual(
      decode(
        d,
        hex(
          `488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3`,
        ),
      ),
      RES1,
    );
    assert.deepEqual(decode(d, hex('4883640effc1c0bf')), RES2);
    assert.deepEqual(
      decode(
        d,
        hex(
          `88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007`,
        ),
      ),
      RES3,
    );
  });

  it('gives the same string objects for a name or value found in a table', () => {
    const d = new HpackDecoder(4096);
    const a = decode(d, hex('828684410f7777772e6578616d706c652e636f6d'));
    const b = decode(d, hex('828684be'));
    assert.ok(Object.is(a[3]![1], b[3]![1]));
    assert.ok(Object.is(a[0]![0], b[0]![0]));
  });
});

describe('HPACK decoder: refusals (h2spec HPACK 2.3, 4.2, 5.2, 6.1, 6.3)', () => {
  const refused = (block: Buffer, d = new HpackDecoder(4096)) =>
    assert.equal(d.decode(block, 0, block.length, [], 1 << 20), DECODE_FAILED, block.toString('hex'));

  it('2.3.3: an index past both tables', () => refused(hex('be')));
  it('4.2: a table size update above SETTINGS_HEADER_TABLE_SIZE', () => refused(hex('3fe21f')));
  it('4.2: a smaller setting acknowledged requires a size update in the next block', () => {
    const d = new HpackDecoder(1024);
    d.settingAcked(1024);
    refused(hex('82'), d);
    assert.deepEqual(decode(d, hex('3fe10782')), [[':method', 'GET']]);
  });
  // A name literal, Huffman-coded: EOS (30 one bits) then two bits of padding.
  it('5.2: Huffman with EOS inside', () => refused(hex('0084ffffffff0161')));
  // 'a' (00011) then 11 one bits.
  it('5.2: Huffman padding longer than 7 bits', () => refused(hex('00821fff0161')));
  // 'a' then three zero bits.
  it('5.2: Huffman padding that is not the most significant bits of EOS', () => refused(hex('0081180161')));
  it('6.1: index 0', () => refused(hex('80')));
  it('6.3: a size update after a field', () => refused(hex('8220')));
  it('a string literal longer than the block', () => refused(hex('000a61')));
  it('an integer that does not end', () => refused(hex('ffffffffffffff')));

  it('stops adding fields past the list limit, while keeping its table in step', () => {
    const d = new HpackDecoder(4096);
    const big = Buffer.concat([
      hex('400a637573746f6d2d6b6579'),
      Buffer.from([0x7f, 0xe9, 0x06]),
      Buffer.alloc(1000, 0x61),
    ]);
    const out: string[] = [];
    d.decode(big, 0, big.length, out, 100);
    assert.deepEqual(out, []);
    assert.ok(d.listBytes > 1000);
    // The entry was inserted all the same: index 62 now names it.
    assert.deepEqual(decode(d, hex('be'))[0]![0], 'custom-key');
  });

  it('flags a malformed field (upper case name, CR in a value) without failing the block', () => {
    const d = new HpackDecoder(4096);
    const out: string[] = [];
    const b = Buffer.concat([hex('0003'), Buffer.from('Abc'), hex('01'), Buffer.from('x')]);
    assert.equal(d.decode(b, 0, b.length, out, 1 << 20), 1);
    assert.equal(d.malformed, true);
    const c = Buffer.concat([hex('0003'), Buffer.from('abc'), hex('03'), Buffer.from('x\ry')]);
    assert.equal(d.decode(c, 0, c.length, [], 1 << 20), 1);
    assert.equal(d.malformed, true);
    assert.deepEqual(decode(d, hex('82')), [[':method', 'GET']]);
    assert.equal(d.malformed, false);
  });
});

describe('Huffman code (RFC 7541 Appendix B)', () => {
  it('derives the codes of Appendix B from the lengths', () => {
    assert.equal(CODES[48], 0x0); // '0'
    assert.equal(CODES[97], 0x3); // 'a'
    assert.equal(CODES[32], 0x14); // ' '
    assert.equal(CODES[0], 0x1ff8);
    assert.equal(CODES[255], 0x3ffffee);
    assert.equal(CODES[256], 0x3fffffff); // EOS
    assert.equal(codeLength(256), 30);
    let kraft = 0;
    for (let s = 0; s <= 256; s++) kraft += 2 ** -codeLength(s);
    assert.equal(kraft, 1);
  });

  it('round-trips every byte value', () => {
    let s = '';
    for (let i = 0; i < 256; i++) s += String.fromCharCode(i);
    s += s.split('').reverse().join('');
    const out: number[] = [];
    huffmanEncode(s, out);
    const b = Buffer.from(out);
    assert.equal(huffmanDecode(b, 0, b.length, Buffer.alloc(b.length * 2)), s);
  });
});

describe('HPACK encoder', () => {
  it('round-trips response blocks through a decoder, indexing what repeats', () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder(4096);
    const fields = [
      'content-type',
      'text/plain',
      'server',
      'fulcrum-test',
      'x-custom',
      'v1',
      'set-cookie',
      'a=b',
    ];
    let firstLen = 0;
    for (let round = 0; round < 3; round++) {
      enc.begin();
      enc.status(round === 1 ? 431 : 200);
      for (let i = 0; i < fields.length; i += 2) enc.field(fields[i]!, fields[i + 1]!);
      enc.field('x-request-id', `id-${round}`);
      const block = Buffer.from(enc.block());
      if (round === 0) firstLen = block.length;
      else if (round === 2) assert.ok(block.length < firstLen / 2, `${block.length} vs ${firstLen}`);
      assert.deepEqual(decode(dec, block), [
        [':status', round === 1 ? '431' : '200'],
        ['content-type', 'text/plain'],
        ['server', 'fulcrum-test'],
        ['x-custom', 'v1'],
        ['set-cookie', 'a=b'],
        ['x-request-id', `id-${round}`],
      ]);
    }
  });

  it('evicts in step with the decoder and signals a lowered table size', () => {
    const enc = new HpackEncoder();
    const dec = new HpackDecoder(4096);
    enc.setPeerLimit(200);
    for (let i = 0; i < 50; i++) {
      enc.begin();
      enc.field(`x-n${i % 7}`, `value-${i % 5}`);
      enc.field('x-same', 'same');
      assert.deepEqual(decode(dec, Buffer.from(enc.block())), [
        [`x-n${i % 7}`, `value-${i % 5}`],
        ['x-same', 'same'],
      ]);
    }
  });
});
