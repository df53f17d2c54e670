import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ERRORS, type ErrorCode, errorBody, FulcrumError } from '../../../src/core/errors.ts';
import { classifyUpstreamError, retryKind } from '../../../src/proxy/errors.ts';

function err(code: string): Error {
  return Object.assign(new Error(code), { code });
}

describe('classifyUpstreamError', () => {
  const cases: [string, ErrorCode][] = [
    ['ECONNREFUSED', 'FULCRUM_ERR_UPSTREAM_CONNECT'],
    ['EHOSTUNREACH', 'FULCRUM_ERR_UPSTREAM_CONNECT'],
    ['ENETUNREACH', 'FULCRUM_ERR_UPSTREAM_CONNECT'],
    ['ENOTFOUND', 'FULCRUM_ERR_UPSTREAM_CONNECT'],
    ['EAI_AGAIN', 'FULCRUM_ERR_UPSTREAM_CONNECT'],
    ['EADDRNOTAVAIL', 'FULCRUM_ERR_UPSTREAM_CONNECT'],
    ['UND_ERR_CONNECT_TIMEOUT', 'FULCRUM_ERR_UPSTREAM_TIMEOUT'],
    ['UND_ERR_HEADERS_TIMEOUT', 'FULCRUM_ERR_UPSTREAM_TIMEOUT'],
    ['UND_ERR_BODY_TIMEOUT', 'FULCRUM_ERR_UPSTREAM_TIMEOUT'],
    ['ETIMEDOUT', 'FULCRUM_ERR_UPSTREAM_TIMEOUT'],
    ['UND_ERR_SOCKET', 'FULCRUM_ERR_UPSTREAM_RESET'],
    ['ECONNRESET', 'FULCRUM_ERR_UPSTREAM_RESET'],
    ['EPIPE', 'FULCRUM_ERR_UPSTREAM_RESET'],
    ['UND_ERR_CLOSED', 'FULCRUM_ERR_UPSTREAM_RESET'],
    ['HPE_INVALID_CONSTANT', 'FULCRUM_ERR_UPSTREAM_BAD_RESPONSE'],
    ['UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'FULCRUM_ERR_UPSTREAM_BAD_RESPONSE'],
    ['UND_ERR_HEADERS_OVERFLOW', 'FULCRUM_ERR_UPSTREAM_BAD_RESPONSE'],
    ['UND_ERR_ABORTED', 'FULCRUM_ERR_CLIENT_ABORTED'],
    ['UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'FULCRUM_ERR_CLIENT_ABORTED'],
    ['SOMETHING_ELSE', 'FULCRUM_ERR_UPSTREAM_RESET'],
    // undici refused the request the proxy built (e.g. a header value with CR/LF): nothing was sent.
    ['UND_ERR_INVALID_ARG', 'FULCRUM_ERR_INTERNAL'],
  ];
  for (const [code, want] of cases)
    it(`${code} → ${want}`, () => assert.equal(classifyUpstreamError(err(code)), want));

  it('treats an error without a code as a reset', () => {
    assert.equal(classifyUpstreamError(new Error('x')), 'FULCRUM_ERR_UPSTREAM_RESET');
  });
});

describe('retryKind', () => {
  it('files a failed connection (refused, or timed out) under connect-failure', () => {
    assert.equal(retryKind(err('ECONNREFUSED'), 'FULCRUM_ERR_UPSTREAM_CONNECT'), 'connect-failure');
    assert.equal(
      retryKind(err('UND_ERR_CONNECT_TIMEOUT'), 'FULCRUM_ERR_UPSTREAM_TIMEOUT'),
      'connect-failure',
    );
  });

  it('files resets and read timeouts under reset and timeout', () => {
    assert.equal(retryKind(err('ECONNRESET'), 'FULCRUM_ERR_UPSTREAM_RESET'), 'reset');
    assert.equal(retryKind(err('UND_ERR_HEADERS_TIMEOUT'), 'FULCRUM_ERR_UPSTREAM_TIMEOUT'), 'timeout');
  });

  it('never retries a bad response, a client failure or the proxy’s own', () => {
    assert.equal(retryKind(err('HPE_INVALID_CONSTANT'), 'FULCRUM_ERR_UPSTREAM_BAD_RESPONSE'), null);
    assert.equal(retryKind(err('UND_ERR_ABORTED'), 'FULCRUM_ERR_CLIENT_ABORTED'), null);
    assert.equal(retryKind(err('UND_ERR_INVALID_ARG'), 'FULCRUM_ERR_INTERNAL'), null);
    assert.equal(retryKind(err('x'), 'FULCRUM_ERR_PAYLOAD_TOO_LARGE'), null);
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
