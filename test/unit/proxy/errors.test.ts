import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERRORS, type ErrorCode, errorBody, FulcrumError } from '../../../src/core/errors.ts';
import { classifyUpstreamError, retryKind } from '../../../src/proxy/errors.ts';
import { UpstreamError, type UpstreamFailure } from '../../../src/upstreams/upstream-call.ts';

const fail = (failure: UpstreamFailure, code = '') => new UpstreamError(failure, failure, code);

describe('classifyUpstreamError', () => {
  const cases: [UpstreamFailure, string, ErrorCode][] = [
    ['connect', 'ECONNREFUSED', 'FULCRUM_ERR_UPSTREAM_CONNECT'],
    ['connect', 'ENOTFOUND', 'FULCRUM_ERR_UPSTREAM_CONNECT'],
    ['connect', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'FULCRUM_ERR_UPSTREAM_CONNECT'],
    ['connect-timeout', '', 'FULCRUM_ERR_UPSTREAM_TIMEOUT'],
    ['timeout', '', 'FULCRUM_ERR_UPSTREAM_TIMEOUT'],
    ['write-timeout', '', 'FULCRUM_ERR_UPSTREAM_TIMEOUT'],
    ['reset', 'ECONNRESET', 'FULCRUM_ERR_UPSTREAM_RESET'],
    ['reset', 'EPIPE', 'FULCRUM_ERR_UPSTREAM_RESET'],
    ['reset', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'FULCRUM_ERR_UPSTREAM_CONNECT'],
    ['bad-response', '', 'FULCRUM_ERR_UPSTREAM_BAD_RESPONSE'],
    ['aborted', '', 'FULCRUM_ERR_CLIENT_ABORTED'],
    ['closed', '', 'FULCRUM_ERR_UPSTREAM_CONNECT'],
  ];
  for (const [failure, code, want] of cases)
    it(`${failure} ${code} → ${want}`, () => assert.equal(classifyUpstreamError(fail(failure, code)), want));

  it('keeps the code of a FulcrumError, and takes any other error for a reset', () => {
    assert.equal(
      classifyUpstreamError(new FulcrumError('FULCRUM_ERR_PAYLOAD_TOO_LARGE')),
      'FULCRUM_ERR_PAYLOAD_TOO_LARGE',
    );
    assert.equal(classifyUpstreamError(new Error('x')), 'FULCRUM_ERR_UPSTREAM_RESET');
  });
});

describe('retryKind', () => {
  const kind = (e: UpstreamError) => retryKind(e, classifyUpstreamError(e));

  it('files a failed connection (refused, or timed out, or a TLS handshake refused) under connect-failure', () => {
    assert.equal(kind(fail('connect', 'ECONNREFUSED')), 'connect-failure');
    assert.equal(kind(fail('connect-timeout')), 'connect-failure');
    assert.equal(kind(fail('reset', 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA')), 'connect-failure');
  });

  it('files resets and read timeouts under reset and timeout', () => {
    assert.equal(kind(fail('reset', 'ECONNRESET')), 'reset');
    assert.equal(kind(fail('timeout')), 'timeout');
  });

  it('never retries a bad response, a client failure or the proxy’s own', () => {
    assert.equal(kind(fail('bad-response')), null);
    assert.equal(kind(fail('aborted')), null);
    assert.equal(kind(fail('write-timeout')), null);
    assert.equal(
      retryKind(new FulcrumError('FULCRUM_ERR_PAYLOAD_TOO_LARGE'), 'FULCRUM_ERR_PAYLOAD_TOO_LARGE'),
      null,
    );
  });
});

describe('error table', () => {
  it('codes are FULCRUM_ERR_* with a 4xx/5xx status and a message', () => {
    for (const [code, e] of Object.entries(ERRORS)) {
      assert.match(code, /^FULCRUM_ERR_[A-Z_]+$/);
      assert.ok(e.status >= 400 && e.status < 600, code);
      assert.ok(e.message.length > 0, code);
    }
  });

  it('FulcrumError carries the code and status', () => {
    const e = new FulcrumError('FULCRUM_ERR_UPSTREAM_TIMEOUT');
    assert.equal(e.code, 'FULCRUM_ERR_UPSTREAM_TIMEOUT');
    assert.equal(e.status, 504);
    assert.equal(e.message, ERRORS.FULCRUM_ERR_UPSTREAM_TIMEOUT.message);
  });

  it('errorBody is {message, code, request_id}', () => {
    assert.deepEqual(JSON.parse(errorBody('FULCRUM_ERR_NO_ROUTE', 'r1')), {
      message: ERRORS.FULCRUM_ERR_NO_ROUTE.message,
      code: 'FULCRUM_ERR_NO_ROUTE',
      request_id: 'r1',
    });
  });

  it('docs/errors.md lists every code with its status and message', () => {
    // dist/test/unit/proxy/ → the repository root
    const doc = readFileSync(new URL('../../../../docs/errors.md', import.meta.url), 'utf8');
    const rows = new Map<string, string[]>();
    for (const line of doc.split('\n')) {
      const m = /^\|\s*`(FULCRUM_ERR_[A-Z_]+)`\s*\|\s*(\d{3})\s*\|\s*([^|]+?)\s*\|/.exec(line);
      if (m) rows.set(m[1]!, [m[2]!, m[3]!.trim()]);
    }
    for (const [code, e] of Object.entries(ERRORS)) {
      assert.ok(rows.has(code), `${code} has a row in docs/errors.md`);
      assert.deepEqual(rows.get(code), [String(e.status), e.message], code);
    }
    for (const code of rows.keys()) assert.ok(code in ERRORS, `${code} in docs/errors.md exists in ERRORS`);
  });
});
