import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  SERVING_STATUS,
} from '../../../src/health/probe-grpc.ts';

const frame = (msg: number[]) => Buffer.from([0, 0, 0, 0, msg.length, ...msg]);

describe('grpc health: hand-written protobuf', () => {
  it('encodes HealthCheckRequest{service} in a gRPC frame', () => {
    assert.deepEqual(encodeHealthCheckRequest(''), Buffer.from([0, 0, 0, 0, 0]));
    assert.deepEqual(
      encodeHealthCheckRequest('orders'),
      Buffer.from([0, 0, 0, 0, 8, 0x0a, 6, ...Buffer.from('orders')]),
    );
    // A name of 200 bytes needs a two-byte varint length (200 = 0xc8 0x01).
    const long = encodeHealthCheckRequest('x'.repeat(200));
    assert.deepEqual([...long.subarray(0, 8)], [0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01]);
  });

  it('decodes HealthCheckResponse{status}, the omitted zero, and skips unknown fields', () => {
    assert.equal(decodeHealthCheckResponse(frame([0x08, 1])), SERVING_STATUS.SERVING);
    assert.equal(decodeHealthCheckResponse(frame([0x08, 2])), SERVING_STATUS.NOT_SERVING);
    assert.equal(decodeHealthCheckResponse(frame([0x08, 3])), SERVING_STATUS.SERVICE_UNKNOWN);
    assert.equal(decodeHealthCheckResponse(frame([])), SERVING_STATUS.UNKNOWN);
    // field 2 (length-delimited "ab"), field 3 (fixed32), then status.
    assert.equal(
      decodeHealthCheckResponse(frame([0x12, 2, 0x61, 0x62, 0x1d, 1, 2, 3, 4, 0x08, 1])),
      SERVING_STATUS.SERVING,
    );
  });

  it('refuses what is not a complete, uncompressed message', () => {
    assert.equal(decodeHealthCheckResponse(Buffer.alloc(0)), undefined);
    assert.equal(decodeHealthCheckResponse(Buffer.from([1, 0, 0, 0, 2, 0x08, 1])), undefined, 'compressed');
    assert.equal(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 3, 0x08, 1])), undefined, 'cut short');
    assert.equal(decodeHealthCheckResponse(frame([0x08])), undefined, 'varint cut');
    assert.equal(decodeHealthCheckResponse(frame([0x12, 5, 0x61])), undefined, 'length past the end');
  });
});
