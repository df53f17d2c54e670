import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Pool as IndexPool } from 'undici';
import { Pool } from '../../../src/upstreams/pools.ts';

describe('pools', () => {
  it("loads undici's Pool by file, and it is the class undici's index exports", () => {
    assert.equal(Pool, IndexPool);
  });
});
