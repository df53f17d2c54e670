import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

describe('pools', () => {
  it("reaches into no package's internal files (undici's Pool was once loaded by path)", () => {
    for (const f of ['src/upstreams/pools.ts', 'src/upstreams/upstream-tls.ts', 'src/upstreams/h1-pool.ts']) {
      const text = readFileSync(f, 'utf8');
      assert.doesNotMatch(text, /undici\/lib\//, f);
    }
  });
});
