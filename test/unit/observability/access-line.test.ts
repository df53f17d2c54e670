/** The access log's line (src/observability/access-log.ts): every field, escaped, in a fixed order. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AccessEntry, accessLine } from '../../../src/observability/access-log.ts';

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
});
