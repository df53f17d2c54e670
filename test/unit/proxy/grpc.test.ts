import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERRORS, type ErrorCode } from '../../../src/core/errors.ts';
import { headerListBytes, looksLikePreface } from '../../../src/listeners/http2.ts';
import {
  encodeGrpcMessage,
  GRPC_STATUS,
  grpcStatusOf,
  grpcTimeoutMs,
  isGrpcRequest,
  isTrailersOnly,
} from '../../../src/proxy/grpc.ts';

describe('grpc helpers', () => {
  it('parses grpc-timeout in every unit, and refuses malformed values', () => {
    assert.equal(grpcTimeoutMs('1H'), 3600000);
    assert.equal(grpcTimeoutMs('2M'), 120000);
    assert.equal(grpcTimeoutMs('3S'), 3000);
    assert.equal(grpcTimeoutMs('200m'), 200);
    assert.equal(grpcTimeoutMs('1500u'), 2);
    assert.equal(grpcTimeoutMs('5n'), 1, 'rounded up to a whole millisecond, never 0');
    for (const bad of [undefined, '', 'm', '10', '10x', '-1S', '123456789S', '1.5S'])
      assert.equal(grpcTimeoutMs(bad), -1, String(bad));
  });

  it('tells gRPC from gRPC-Web and other types', () => {
    assert.equal(isGrpcRequest('application/grpc'), true);
    assert.equal(isGrpcRequest('application/grpc+proto'), true);
    assert.equal(isGrpcRequest('application/grpc;charset=utf-8'), true);
    assert.equal(isGrpcRequest('application/grpc-web'), false);
    assert.equal(isGrpcRequest('application/json'), false);
    assert.equal(isGrpcRequest(undefined), false);
  });

  it('maps every stable code to a gRPC status (no route → UNIMPLEMENTED, timeouts → DEADLINE_EXCEEDED)', () => {
    for (const code of Object.keys(ERRORS) as ErrorCode[]) assert.equal(typeof grpcStatusOf(code), 'number');
    assert.equal(grpcStatusOf('FULCRUM_ERR_NO_ROUTE'), GRPC_STATUS.UNIMPLEMENTED);
    assert.equal(grpcStatusOf('FULCRUM_ERR_NO_HEALTHY_TARGET'), GRPC_STATUS.UNAVAILABLE);
    assert.equal(grpcStatusOf('FULCRUM_ERR_UPSTREAM_CONNECT'), GRPC_STATUS.UNAVAILABLE);
    assert.equal(grpcStatusOf('FULCRUM_ERR_UPSTREAM_TIMEOUT'), GRPC_STATUS.DEADLINE_EXCEEDED);
  });

  it('percent-encodes grpc-message outside printable ASCII, and %', () => {
    assert.equal(encodeGrpcMessage('ok 100% ✓'), 'ok 100%25 %E2%9C%93');
  });

  it('tells a trailers-only answer by grpc-status in its head', () => {
    assert.equal(isTrailersOnly(['content-type', 'application/grpc', 'Grpc-Status', '5']), true);
    assert.equal(isTrailersOnly(['content-type', 'application/grpc']), false);
  });
});

describe('http2 listener helpers', () => {
  it('recognizes the connection preface from its first bytes, and not PROPFIND or POST', () => {
    assert.equal(looksLikePreface(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), true);
    assert.equal(looksLikePreface(Buffer.from('PRI ')), true);
    assert.equal(looksLikePreface(Buffer.from('PROPFIND / HTTP/1.1')), false);
    assert.equal(looksLikePreface(Buffer.from('POST / HTTP/1.1')), false);
    assert.equal(looksLikePreface(Buffer.from('GET / HTTP/1.1')), false);
  });

  it('sizes a header list as SETTINGS_MAX_HEADER_LIST_SIZE does (name + value + 32 per field)', () => {
    assert.equal(headerListBytes([':path', '/', 'x-a', 'bc']), 5 + 1 + 32 + 3 + 2 + 32);
  });
});
