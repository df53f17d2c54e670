/** The access log's line (src/observability/access-log.ts): every field, escaped, in a fixed order. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AccessEntry, accessLine, millis } from '../../../src/observability/access-log.ts';

const base: AccessEntry = {
  request_id: 'r1',
  client_ip: '127.0.0.1',
  method: 'GET',
  path: '/a',
  status: 401,
  route: 'api',
  service: 'api',
  target: null,
  tries: 0,
  upstream_ms: null,
  total_ms: 0.5,
  bytes_in: 0,
  bytes_out: 26,
  error: null,
};

describe('access log line', () => {
  it('carries host, user agent, consumer and the plugin reason, escaped; null when absent', () => {
    const full = JSON.parse(
      accessLine('2026-01-01T00:00:00.000Z', {
        ...base,
        host: 'shop.example.com',
        user_agent: 'curl/8 "quoted"\n',
        consumer: 'alice',
        reason: 'key-auth: invalid-credentials',
      }),
    );
    assert.deepEqual(Object.keys(full).slice(-4), ['host', 'user_agent', 'consumer', 'reason']);
    assert.equal(full.user_agent, 'curl/8 "quoted"\n');
    assert.equal(full.reason, 'key-auth: invalid-credentials');
    const none = JSON.parse(accessLine('2026-01-01T00:00:00.000Z', base));
    assert.deepEqual([none.host, none.user_agent, none.consumer, none.reason], [null, null, null, null]);
  });

  it('writes every string as JSON.stringify would, whatever it holds', () => {
    const tricky = [
      '',
      '/plain/path?q=1',
      'quote " inside',
      'back\\slash',
      'tab\tand\u0000nul and \u007f del',
      'caf\u00e9 \u4e2d\u6587',
      'pair \ud83d\ude00',
      'lone \ud83d high',
      'lone \ude00 low',
      '\u2028 line separator',
    ];
    for (const s of tricky) {
      const line = accessLine('2026-01-01T00:00:00.000Z', { ...base, path: s, user_agent: s });
      assert.ok(line.includes(`"path":${JSON.stringify(s)},`), s);
      assert.equal(JSON.parse(line).user_agent, s);
    }
  });

  it('writes durations as JSON.stringify writes them, to the microsecond', () => {
    const samples = [
      0, 0.001, 0.01, 0.1, 0.5, 1, 1.005, 2.25, 9.999, 10, 12.345, 999.999, 1000, 86_400_000.001,
    ];
    let seed = 7;
    for (let i = 0; i < 5000; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      samples.push((seed % 50_000_000) / 1000, seed / 7);
    }
    for (const x of samples) {
      const logged = Math.round(x * 1000) / 1000;
      assert.equal(millis(logged), JSON.stringify(logged), String(x));
    }
    assert.equal(millis(null), 'null');
    const line = JSON.parse(
      accessLine('2026-01-01T00:00:00.000Z', { ...base, upstream_ms: 1.25, total_ms: 3 }),
    );
    assert.deepEqual([line.upstream_ms, line.total_ms], [1.25, 3]);
  });
});
