import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextRequestId } from '../../../src/core/request-id.ts';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('nextRequestId', () => {
  it('makes version-4-shaped UUIDs, all different, counting in the last 48 bits', () => {
    const ids = Array.from({ length: 10_000 }, nextRequestId);
    for (const id of ids) assert.match(id, UUID_V4);
    assert.equal(new Set(ids).size, ids.length);
    const last = (id: string) => Number.parseInt(id.slice(24), 16);
    assert.equal(last(ids[9_999]!) - last(ids[0]!), 9_999);
    assert.equal(ids[0]!.slice(0, 24), ids[9_999]!.slice(0, 24));
  });
});
