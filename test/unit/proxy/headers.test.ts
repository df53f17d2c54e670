import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import {
  downstreamResponseHeaders,
  type ForwardFacts,
  trailerPairs,
  upstreamRequestHeaders,
} from '../../../src/proxy/headers.ts';

const FACTS: ForwardFacts = {
  host: 'service.internal',
  clientIp: '192.0.2.7',
  trusted: false,
  proto: 'http',
  listenerPort: 8000,
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

function raw(...pairs: string[]): Buffer[] {
  return pairs.map((p) => Buffer.from(p, 'latin1'));
}

describe('downstreamResponseHeaders', () => {
  it('removes hop-by-hop fields and those named by Connection, keeping the rest in order', () => {
    const { headers } = downstreamResponseHeaders(
      raw(
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
      ),
      false,
      false,
    );
    assert.deepEqual(headers, ['Content-Type', 'text/plain', 'X-End', 'e']);
  });

  it('appends to Via (merging repeated ones), or adds it', () => {
    assert.deepEqual(downstreamResponseHeaders(raw(), true, false).headers, ['via', '1.1 fulcrum']);
    assert.deepEqual(downstreamResponseHeaders(raw('Via', '1.0 a', 'via', '1.1 b'), true, false).headers, [
      'via',
      '1.0 a, 1.1 b, 1.1 fulcrum',
    ]);
    assert.deepEqual(downstreamResponseHeaders(raw('Via', '1.0 a'), false, false).headers, ['via', '1.0 a']);
  });

  it('keeps Trailer only when asked (chunked response with trailers), and reports it', () => {
    const kept = downstreamResponseHeaders(raw('Trailer', 'x-sum'), false, true);
    assert.deepEqual(kept, { headers: ['Trailer', 'x-sum'], trailers: true });
    const dropped = downstreamResponseHeaders(raw('Trailer', 'x-sum'), false, false);
    assert.deepEqual(dropped, { headers: [], trailers: true });
    assert.equal(downstreamResponseHeaders(raw('X', 'y'), false, true).trailers, false);
  });
});

describe('trailerPairs', () => {
  it('pairs the raw list, or returns null when empty', () => {
    assert.equal(trailerPairs(null), null);
    assert.equal(trailerPairs([]), null);
    assert.deepEqual(trailerPairs(raw('x-sum', '1', 'x-b', '2')), [
      ['x-sum', '1'],
      ['x-b', '2'],
    ]);
  });
});
