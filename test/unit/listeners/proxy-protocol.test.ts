/** The PROXY protocol parser and encoders (v1 and v2). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeV1, encodeV2, parseProxyHeader, V2_SIGNATURE } from '../../../src/listeners/proxy-protocol.ts';

const ok = (buf: Buffer) => {
  const r = parseProxyHeader(buf);
  assert.equal(r.kind, 'ok', JSON.stringify(r));
  return r as Extract<typeof r, { kind: 'ok' }>;
};
const bad = (buf: Buffer, why: RegExp) => {
  const r = parseProxyHeader(buf);
  assert.equal(r.kind, 'error');
  assert.match((r as { reason: string }).reason, why);
};

function v2(verCmd: number, fam: number, addr: Buffer, tlvs: Buffer = Buffer.alloc(0)): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(addr.length + tlvs.length);
  return Buffer.concat([V2_SIGNATURE, Buffer.from([verCmd, fam]), len, addr, tlvs]);
}

describe('PROXY protocol v1', () => {
  it('parses TCP4 and keeps what follows', () => {
    const r = ok(Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 5555 443\r\nhello'));
    assert.deepEqual(r.header, {
      version: 1,
      command: 'proxy',
      family: 'tcp4',
      sourceIp: '203.0.113.7',
      sourcePort: 5555,
      destIp: '10.0.0.1',
      destPort: 443,
      tlvs: [],
    });
    assert.equal(r.length, 42);
  });
  it('parses TCP6 and UNKNOWN', () => {
    assert.equal(ok(Buffer.from('PROXY TCP6 2001:db8::1 ::1 1 65535\r\n')).header.sourceIp, '2001:db8::1');
    assert.equal(ok(Buffer.from('PROXY UNKNOWN\r\n')).header.family, 'unknown');
    assert.equal(ok(Buffer.from('PROXY UNKNOWN ffff::1 ::1 1 2\r\n')).header.family, 'unknown');
  });
  it('asks for more until the CRLF, within 107 bytes', () => {
    const line = 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n';
    for (let n = 0; n < line.length; n++)
      assert.equal(parseProxyHeader(Buffer.from(line.slice(0, n))).kind, 'need-more');
    bad(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), /too long/);
  });
  it('refuses garbage, wrong families and bad ports', () => {
    bad(Buffer.from('GET / HTTP/1.1\r\n'), /not a PROXY/);
    bad(Buffer.from('PROXX TCP4'), /not a PROXY/);
    bad(Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n'), /does not match/);
    bad(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n'), /port/);
    bad(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n'), /port/);
    bad(Buffer.from('PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n'), /TCP4, TCP6 or UNKNOWN/);
    bad(Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n'), /two ports/);
  });
});

describe('PROXY protocol v2', () => {
  const inet = Buffer.from([203, 0, 113, 7, 10, 0, 0, 1, 0x15, 0xb3, 0x01, 0xbb]);
  it('parses PROXY over INET/STREAM with TLVs', () => {
    const tlv = Buffer.from([0x02, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_AUTHORITY "abc"
    const r = ok(Buffer.concat([v2(0x21, 0x11, inet, tlv), Buffer.from('rest')]));
    assert.equal(r.header.family, 'tcp4');
    assert.equal(r.header.sourceIp, '203.0.113.7');
    assert.equal(r.header.sourcePort, 5555);
    assert.equal(r.header.destPort, 443);
    assert.deepEqual(r.header.tlvs, [{ type: 2, value: Buffer.from('abc') }]);
    assert.equal(r.length, 16 + 12 + 6);
  });
  it('parses INET6 and LOCAL', () => {
    const a6 = Buffer.alloc(36);
    a6[0] = 0x20;
    a6[1] = 0x01;
    a6[15] = 1;
    a6[31] = 1;
    a6.writeUInt16BE(1234, 32);
    assert.equal(ok(v2(0x21, 0x21, a6)).header.sourceIp, '2001::1');
    const local = ok(v2(0x20, 0x00, Buffer.alloc(0))).header;
    assert.deepEqual([local.command, local.family], ['local', 'unknown']);
  });
  it('asks for more while truncated, refuses malformed', () => {
    const full = v2(0x21, 0x11, inet);
    for (let n = 0; n < full.length; n++)
      assert.equal(parseProxyHeader(full.subarray(0, n)).kind, 'need-more', `at ${n}`);
    bad(v2(0x31, 0x11, inet), /version/);
    bad(v2(0x22, 0x11, inet), /command/);
    bad(v2(0x21, 0x51, inet), /family/);
    bad(v2(0x21, 0x21, inet), /address block/);
    bad(v2(0x21, 0x11, inet, Buffer.from([1, 0, 9, 0])), /TLV overruns/);
    bad(v2(0x21, 0x11, inet, Buffer.from([1, 0])), /TLV header/);
    bad(Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0xff, 0xff])]), /too large/);
    bad(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01]), /not a PROXY/);
  });
});

describe('PROXY protocol encoders', () => {
  const a4 = { sourceIp: '::ffff:203.0.113.7', sourcePort: 5555, destIp: '10.0.0.1', destPort: 443 };
  it('v1 writes TCP4 (unmapping IPv4-mapped addresses), TCP6, or UNKNOWN for mixed families', () => {
    assert.equal(encodeV1(a4).toString(), 'PROXY TCP4 203.0.113.7 10.0.0.1 5555 443\r\n');
    assert.equal(
      encodeV1({ ...a4, sourceIp: '::1', destIp: '::1' }).toString(),
      'PROXY TCP6 ::1 ::1 5555 443\r\n',
    );
    assert.equal(encodeV1({ ...a4, destIp: '::1' }).toString(), 'PROXY UNKNOWN\r\n');
  });
  it('v2 round-trips through the parser', () => {
    const r4 = ok(encodeV2(a4)).header;
    assert.deepEqual(
      [r4.family, r4.sourceIp, r4.sourcePort, r4.destIp, r4.destPort],
      ['tcp4', '203.0.113.7', 5555, '10.0.0.1', 443],
    );
    const r6 = ok(
      encodeV2({ sourceIp: '2001:db8::7', sourcePort: 1, destIp: '::ffff:1.2.3.4:', destPort: 2 }),
    );
    assert.equal(r6.header.family, 'unknown');
    const r66 = ok(
      encodeV2({ sourceIp: '2001:db8::7', sourcePort: 1, destIp: 'fe80::1:2', destPort: 2 }),
    ).header;
    assert.deepEqual([r66.family, r66.sourceIp, r66.destIp], ['tcp6', '2001:db8::7', 'fe80::1:2']);
  });
});
