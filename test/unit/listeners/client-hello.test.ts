/**
 * The ClientHello SNI parser: real hellos from node:tls, hand-built ones split across records and
 * segments, and malformed, truncated, oversized and fuzzed input (it must never throw).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';
import { describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { MAX_CLIENT_HELLO_BYTES, parseClientHello } from '../../../src/listeners/client-hello.ts';

/** The first bytes node:tls sends when connecting with this servername (undefined: none). */
async function realHello(servername: string | undefined): Promise<Buffer> {
  const server = createServer();
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s) => {
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        const all = Buffer.concat(chunks);
        if (parseClientHello(all).kind !== 'need-more') {
          s.destroy();
          resolve(all);
        }
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const c = tlsConnect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function ext(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data]);
}

function sniExt(...names: string[]): Buffer {
  const entries = Buffer.concat(
    names.map((n) => Buffer.concat([Buffer.from([0]), u16(n.length), Buffer.from(n)])),
  );
  return ext(0, Buffer.concat([u16(entries.length), entries]));
}

/** A ClientHello handshake message (type, 3-byte length, body) with these extensions. */
function helloMessage(exts: Buffer[] | null): Buffer {
  const body = [
    Buffer.from([3, 3]),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    u16(2),
    Buffer.from([0x13, 0x01]),
    Buffer.from([1, 0]),
  ];
  if (exts !== null) {
    const all = Buffer.concat(exts);
    body.push(u16(all.length), all);
  }
  const b = Buffer.concat(body);
  return Buffer.concat([Buffer.from([1, b.length >> 16, (b.length >> 8) & 0xff, b.length & 0xff]), b]);
}

/** Wrap a handshake message in records of at most `size` bytes each. */
function records(msg: Buffer, size = 16384): Buffer {
  const out: Buffer[] = [];
  for (let off = 0; off < msg.length; off += size) {
    const frag = msg.subarray(off, off + size);
    out.push(Buffer.from([22, 3, 1]), u16(frag.length), frag);
  }
  return Buffer.concat(out);
}

describe('parseClientHello', () => {
  it('reads the SNI of a real node:tls ClientHello, and none when the client sends none', async () => {
    assert.deepEqual(parseClientHello(await realHello('Api.Example.COM')), {
      kind: 'ok',
      sni: 'api.example.com',
    });
    assert.deepEqual(parseClientHello(await realHello(undefined)), { kind: 'ok', sni: null });
  });

  it('asks for more at every prefix of a real hello, byte by byte', async () => {
    const h = await realHello('svc.internal');
    for (let n = 0; n < h.length; n++)
      assert.equal(parseClientHello(h.subarray(0, n)).kind, 'need-more', `at ${n}`);
    assert.deepEqual(parseClientHello(h), { kind: 'ok', sni: 'svc.internal' });
  });

  it('reassembles a hello split over several records', () => {
    const msg = helloMessage([
      ext(10, Buffer.alloc(300, 1)),
      sniExt('split.example'),
      ext(13, Buffer.alloc(200, 2)),
    ]);
    const wire = records(msg, 100);
    assert.deepEqual(parseClientHello(wire), { kind: 'ok', sni: 'split.example' });
    assert.equal(parseClientHello(wire.subarray(0, wire.length - 1)).kind, 'need-more');
  });

  it('accepts a hello without extensions, and one with a trailing-dot name', () => {
    assert.deepEqual(parseClientHello(records(helloMessage(null))), { kind: 'ok', sni: null });
    assert.deepEqual(parseClientHello(records(helloMessage([sniExt('dot.example.')]))), {
      kind: 'ok',
      sni: 'dot.example',
    });
  });

  const refuse = (name: string, wire: Buffer, why: RegExp) =>
    it(`refuses ${name}`, () => {
      const r = parseClientHello(wire);
      assert.equal(r.kind, 'error');
      assert.match((r as { reason: string }).reason, why);
    });

  refuse('plain HTTP', Buffer.from('GET / HTTP/1.1\r\n\r\n'), /not a TLS handshake/);
  refuse('a handshake that is not a ClientHello', records(Buffer.from([2, 0, 0, 1, 0])), /not a ClientHello/);
  refuse(
    'a hello larger than the bound',
    Buffer.concat([Buffer.from([22, 3, 1]), u16(4), Buffer.from([1, 0x01, 0x00, 0x00])]),
    /too large/,
  );
  refuse('a zero-length record', Buffer.from([22, 3, 1, 0, 0]), /record length/);
  refuse('two server_name extensions', records(helloMessage([sniExt('a.b'), sniExt('c.d')])), /duplicate/);
  refuse('two host names in one extension', records(helloMessage([sniExt('a.b', 'c.d')])), /two host_name/);
  refuse('a host name with a bad character', records(helloMessage([sniExt('a b.c')])), /character/);
  refuse('an empty label', records(helloMessage([sniExt('a..b')])), /bad host_name/);
  refuse(
    'an extension overrunning the message',
    (() => {
      const m = helloMessage([sniExt('over.run')]);
      // The server_name extension's own length, raised past the end.
      const i = m.indexOf(Buffer.from([0, 0, 0, 13]));
      m.writeUInt16BE(0x0fff, i + 2);
      return records(m);
    })(),
    /overruns|does not match/,
  );
  refuse(
    'a server_name list length that disagrees with the extension',
    records(helloMessage([ext(0, Buffer.concat([u16(50), Buffer.from([0]), u16(3), Buffer.from('a.b')]))])),
    /list length/,
  );
  refuse(
    'a truncated body (cipher suites cut short)',
    (() => {
      const b = Buffer.concat([Buffer.from([3, 3]), Buffer.alloc(32), Buffer.from([0]), u16(40)]);
      return records(Buffer.concat([Buffer.from([1, 0, 0, b.length]), b]));
    })(),
    /truncated|cipher/,
  );

  it(`bounds the wait: a stream of small records past ${MAX_CLIENT_HELLO_BYTES} bytes is refused`, () => {
    // A hello that claims 15 000 bytes, sent one byte per record: the records' overhead grows past the bound.
    const msg = Buffer.concat([Buffer.from([1, 0, 0x3a, 0x98]), Buffer.alloc(6000, 0)]);
    const r = parseClientHello(records(msg, 1));
    assert.equal(r.kind, 'error');
  });

  it('never throws on fuzzed input (seeded byte flips and cuts of a real hello)', async () => {
    const h = await realHello('fuzz.example.org');
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const kinds = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      const b = Buffer.from(h);
      const flips = 1 + Math.floor(rand() * 4);
      for (let k = 0; k < flips; k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      const cut = rand() < 0.3 ? Math.floor(rand() * b.length) : b.length;
      const r = parseClientHello(b.subarray(0, cut));
      kinds.add(r.kind);
      if (r.kind === 'ok' && r.sni !== null) assert.match(r.sni, /^[a-z0-9_.-]+$/);
    }
    assert.ok(kinds.has('error') && kinds.has('ok'), [...kinds].join());
  });
});
