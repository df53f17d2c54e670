import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { StringFields } from '../../../src/http1/fields.ts';
import { listTokens } from '../../../src/http1/syntax.ts';
import {
  FlatSink,
  type ForwardFacts,
  forwardRequestFields,
  mergedVia,
  responseFieldList,
} from '../../../src/proxy/headers.ts';

const FACTS: ForwardFacts = {
  host: 'service.internal',
  clientIp: '192.0.2.7',
  trusted: false,
  proto: 'http',
  listenerPort: 8000,
  clientHost: 'client.example',
  requestIdHeader: 'x-request-id',
  requestId: 'rid-1',
  via: true,
  forwarded: false,
};

/** The flat [name, value, ...] list as name → values (in order). */
function asMap(flat: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (let i = 0; i < flat.length; i += 2) {
    const list = m.get(flat[i]!) ?? [];
    list.push(flat[i + 1]!);
    m.set(flat[i]!, list);
  }
  return m;
}

/** Fields as a client would send them (arrays are repeated fields). */
function fieldsOf(h: IncomingHttpHeaders): StringFields {
  const flat: string[] = [];
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) flat.push(k, x);
  }
  return new StringFields(flat);
}

/** The Connection field's named tokens, as the parser reports them. */
function namedOf(h: IncomingHttpHeaders): string[] | null {
  const c = h.connection;
  if (typeof c !== 'string') return null;
  const b = Buffer.from(c, 'latin1');
  const out = listTokens(b, 0, b.length).filter((t) => t !== 'close' && t !== 'keep-alive');
  return out.length === 0 ? null : out;
}

function upstreamRequestHeaders(h: IncomingHttpHeaders, f: ForwardFacts): string[] {
  const sink = new FlatSink();
  const facts = { ...f, clientHost: h.host ?? '' };
  forwardRequestFields(sink, fieldsOf(h), facts, namedOf(h), null);
  return sink.out;
}

function up(h: IncomingHttpHeaders, f: Partial<ForwardFacts> = {}): Map<string, string[]> {
  return asMap(upstreamRequestHeaders(h, { ...FACTS, ...f }));
}

describe('upstreamRequestHeaders', () => {
  it('sends the given Host first and drops the client one', () => {
    const flat = upstreamRequestHeaders({ host: 'client.example' }, FACTS);
    assert.deepEqual(flat.slice(0, 2), ['host', 'service.internal']);
    assert.deepEqual(up({ host: 'client.example' }).get('host'), ['service.internal']);
  });

  it('removes hop-by-hop fields and those named by Connection', () => {
    const m = up({
      host: 'c',
      connection: 'keep-alive, X-Listed, x-other',
      'x-listed': '1',
      'x-other': '2',
      'keep-alive': 'timeout=5',
      trailer: 'x-t',
      'transfer-encoding': 'chunked',
      upgrade: 'websocket',
      'proxy-authorization': 'Basic x',
      'proxy-connection': 'keep-alive',
      'proxy-anything': 'y',
      'x-keep': 'k',
    });
    for (const name of [
      'connection',
      'x-listed',
      'x-other',
      'keep-alive',
      'trailer',
      'transfer-encoding',
      'upgrade',
      'proxy-authorization',
      'proxy-connection',
      'proxy-anything',
    ])
      assert.equal(m.has(name), false, name);
    assert.deepEqual(m.get('x-keep'), ['k']);
  });

  it('keeps TE only as `trailers`, and only when offered', () => {
    assert.deepEqual(up({ te: 'gzip, trailers;q=1' }).get('te'), ['trailers']);
    assert.deepEqual(up({ te: 'Trailers' }).get('te'), ['trailers']);
    assert.equal(up({ te: 'gzip' }).has('te'), false);
    assert.equal(up({ te: 'trailersx' }).has('te'), false);
  });

  it('keeps repeated end-to-end fields', () => {
    assert.deepEqual(up({ 'set-cookie': ['a=1', 'b=2'] }).get('set-cookie'), ['a=1', 'b=2']);
  });

  it('replaces X-Forwarded-*, X-Real-IP and Forwarded from an untrusted client', () => {
    const m = up(
      {
        host: 'client.example',
        'x-forwarded-for': '203.0.113.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'spoof',
        'x-forwarded-port': '1',
        'x-real-ip': '203.0.113.2',
        forwarded: 'for=203.0.113.1',
      },
      { forwarded: true },
    );
    assert.deepEqual(m.get('x-forwarded-for'), ['192.0.2.7']);
    assert.deepEqual(m.get('x-forwarded-proto'), ['http']);
    assert.deepEqual(m.get('x-forwarded-host'), ['client.example']);
    assert.deepEqual(m.get('x-forwarded-port'), ['8000']);
    assert.deepEqual(m.get('x-real-ip'), ['192.0.2.7']);
    assert.deepEqual(m.get('forwarded'), ['for=192.0.2.7;host="client.example";proto=http']);
  });

  it('appends to X-Forwarded-For and Forwarded and keeps the rest from a trusted client', () => {
    const m = up(
      {
        host: 'client.example',
        'x-forwarded-for': '203.0.113.1, 198.51.100.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'original.example',
        'x-forwarded-port': '443',
        forwarded: 'for=203.0.113.1;proto=https',
      },
      { trusted: true, forwarded: true },
    );
    assert.deepEqual(m.get('x-forwarded-for'), ['203.0.113.1, 198.51.100.1, 192.0.2.7']);
    assert.deepEqual(m.get('x-forwarded-proto'), ['https']);
    assert.deepEqual(m.get('x-forwarded-host'), ['original.example']);
    assert.deepEqual(m.get('x-forwarded-port'), ['443']);
    assert.deepEqual(m.get('x-real-ip'), ['192.0.2.7']);
    assert.deepEqual(m.get('forwarded'), [
      'for=203.0.113.1;proto=https, for=192.0.2.7;host="client.example";proto=http',
    ]);
  });

  it('fills X-Forwarded-* from the connection for a trusted client that sent none', () => {
    const m = up({ host: 'client.example' }, { trusted: true });
    assert.deepEqual(m.get('x-forwarded-for'), ['192.0.2.7']);
    assert.deepEqual(m.get('x-forwarded-proto'), ['http']);
    assert.deepEqual(m.get('x-forwarded-host'), ['client.example']);
    assert.deepEqual(m.get('x-forwarded-port'), ['8000']);
  });

  it('quotes an IPv6 node in Forwarded (RFC 7239 §6) and leaves IPv4 bare', () => {
    const v6 = up({ host: 'h' }, { clientIp: '2001:db8::1', forwarded: true });
    assert.deepEqual(v6.get('forwarded'), ['for="[2001:db8::1]";host="h";proto=http']);
    assert.deepEqual(v6.get('x-forwarded-for'), ['2001:db8::1']);
    const v4 = up({ host: 'h' }, { forwarded: true });
    assert.match(v4.get('forwarded')![0]!, /^for=192\.0\.2\.7;/);
  });

  it('adds no Forwarded unless enabled', () => {
    assert.equal(up({ forwarded: 'for=1.2.3.4' }).has('forwarded'), false);
  });

  it('adds Via, appends to an existing one, and adds none when off', () => {
    assert.deepEqual(up({}).get('via'), ['1.1 fulcrum']);
    assert.deepEqual(up({ via: '1.0 edge' }).get('via'), ['1.0 edge, 1.1 fulcrum']);
    assert.equal(up({}, { via: false }).has('via'), false);
  });

  it('sets the request id header to the given id, once', () => {
    assert.deepEqual(up({ 'x-request-id': 'client-id' }, { requestId: 'chosen' }).get('x-request-id'), [
      'chosen',
    ]);
    const off = up({ 'x-request-id': 'client-id' }, { requestIdHeader: '' });
    assert.deepEqual(off.get('x-request-id'), ['client-id']);
  });
});

/** The response fields a client gets (hop-by-hop and Connection-named ones dropped). */
function responseOf(flat: string[], keepTrailer: boolean, via: boolean): string[] {
  const f = new StringFields(flat);
  const ci = f.indexOf('connection');
  let named: string[] | null = null;
  if (ci >= 0) {
    const b = Buffer.from(f.value(ci), 'latin1');
    named = listTokens(b, 0, b.length).filter((t) => t !== 'close' && t !== 'keep-alive');
  }
  const hasVia = f.indexOf('via') >= 0;
  const list = responseFieldList(f, named, keepTrailer, true, via && hasVia);
  if (via) list.push('via', hasVia ? mergedVia(f) : '1.1 fulcrum');
  return list;
}

describe('response fields', () => {
  it('removes hop-by-hop fields and those named by Connection, keeping the rest in order', () => {
    const headers = responseOf(
      [
        'Content-Type',
        'text/plain',
        'Connection',
        'X-Hop, close',
        'X-Hop',
        '1',
        'Keep-Alive',
        'timeout=5',
        'Transfer-Encoding',
        'chunked',
        'Proxy-Authenticate',
        'Basic',
        'Upgrade',
        'h2c',
        'X-End',
        'e',
      ],
      false,
      false,
    );
    assert.deepEqual(headers, ['Content-Type', 'text/plain', 'X-End', 'e']);
  });

  it('appends to Via (merging repeated ones), or adds it', () => {
    assert.deepEqual(responseOf([], false, true), ['via', '1.1 fulcrum']);
    assert.deepEqual(responseOf(['Via', '1.0 a', 'via', '1.1 b'], false, true), [
      'via',
      '1.0 a, 1.1 b, 1.1 fulcrum',
    ]);
    assert.deepEqual(responseOf(['Via', '1.0 a'], false, false), ['Via', '1.0 a']);
  });

  it('keeps Trailer only when asked (a streamed response that may carry trailers)', () => {
    assert.deepEqual(responseOf(['Trailer', 'x-sum'], true, false), ['Trailer', 'x-sum']);
    assert.deepEqual(responseOf(['Trailer', 'x-sum'], false, false), []);
  });
});
