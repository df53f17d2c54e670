/**
 * proxy-cache's `strategy: redis` configuration: docs/plugins.md's example (Kong Enterprise's
 * proxy-cache-advanced field names) loads and means what the page says; Redis topologies Fulcrum
 * does not speak (Sentinel, Redis Cluster) are refused, naming the field.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/config/load.ts';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { type ProxyCacheConfig, proxyCache } from '../../../src/plugins/proxy-cache.ts';
import type { ConfigProblem } from '../../../src/plugins/types.ts';
import { REPO_ROOT } from '../../helpers/child.ts';
import { markedBlock } from '../../helpers/doc-examples.ts';

const HEAD =
  '_format_version: "3.0"\nservices:\n  - name: s\n    url: http://127.0.0.1:1\n    routes:\n      - name: catalog\n        paths: [/]\n';
const DOC = readFileSync(join(REPO_ROOT, 'docs', 'plugins.md'), 'utf8');

function configOf(yaml: string): ProxyCacheConfig {
  const s = loadSnapshotText(`${HEAD}${yaml}`, 'p.yaml');
  const problems: ConfigProblem[] = [];
  const c = proxyCache.check({ ...s.plugins[0]!.config }, problems);
  assert.deepEqual(problems, []);
  return c;
}

describe('proxy-cache strategy redis configuration', () => {
  it("loads docs/plugins.md's example, read_timeout as the lookup timeout", () => {
    const c = configOf(markedBlock(DOC, 'example: proxy-cache-redis-host', 'yaml'));
    assert.equal(c.strategy, 'redis');
    assert.deepEqual(c.redis, {
      host: 'redis.internal',
      port: 6379,
      username: null,
      password: 's3cret',
      database: 2,
      timeout: 200,
      ssl: false,
      ssl_verify: false,
      server_name: null,
    });
  });

  it('defaults to memory, and to the cluster Redis (host unset) with a 2 s timeout', () => {
    assert.equal(configOf('plugins:\n  - name: proxy-cache\n').strategy, 'memory');
    const c = configOf(
      'plugins:\n  - name: proxy-cache\n    config: { strategy: redis, bypass_on_err: true }\n',
    );
    assert.equal(c.redis.host, null);
    assert.equal(c.redis.timeout, 2000);
  });

  it('refuses Sentinel and Redis Cluster fields, and unknown strategies', () => {
    for (const [yaml, path] of [
      ['{ strategy: redis, redis: { sentinel_master: m } }', /plugins\[0\]\.config\.redis\.sentinel_master/],
      ['{ strategy: redis, redis: { cluster_nodes: [] } }', /plugins\[0\]\.config\.redis\.cluster_nodes/],
      ['{ strategy: disk }', /plugins\[0\]\.config\.strategy/],
    ] as const)
      assert.throws(
        () => configOf(`plugins:\n  - name: proxy-cache\n    config: ${yaml}\n`),
        (e: unknown) => e instanceof ConfigError && path.test(e.message),
      );
  });
});
