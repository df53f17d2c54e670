import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { routeSchema } from '../../src/config/schema.ts';
import { admin } from '../helpers/admin.ts';
import { startFulcrum, type TestNode } from '../helpers/fulcrum.ts';

describe('admin API description', () => {
  let f: TestNode;
  before(async () => {
    f = await startFulcrum('');
  });
  after(() => f.stop());

  it('GET /openapi.json lists every route the router serves, and nothing else', async () => {
    const doc = (await admin(f.adminUrl, 'GET', '/openapi.json')).body;
    assert.equal(doc.openapi, '3.0.3');
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    const served = (
      f.node as unknown as { admin: { router: { routes: { method: string; pattern: string }[] } } }
    ).admin.router.routes
      .map((r) => `${r.method} ${r.pattern}`)
      .sort();
    assert.deepEqual(documented, served);
    for (const must of [
      'GET /services',
      'POST /services/{service_id}/routes',
      'GET /upstreams/{upstream}/health',
      'POST /config',
      'GET /schemas/{entity}',
    ])
      assert.ok(documented.includes(must), must);
    // Every documented route answers something other than 404 on its own path.
    for (const key of documented.filter((k) => k.startsWith('GET ') && !k.includes('{'))) {
      const r = await admin(f.adminUrl, 'GET', key.slice(4));
      assert.notEqual(r.status, 404, key);
    }
  });

  it('GET /schemas/{entity} answers the JSON Schema of that kind, by plural or singular name', async () => {
    const r = await admin(f.adminUrl, 'GET', '/schemas/routes');
    // The JSON Schema, and beside it Kong's `fields` form (which JSON Schema ignores).
    const { fields, ...jsonSchema } = r.body;
    assert.deepEqual(jsonSchema, JSON.parse(JSON.stringify(routeSchema)));
    const strip = fields.find((x: Record<string, unknown>) => 'strip_path' in x).strip_path;
    assert.deepEqual(strip, { ...strip, type: 'boolean', default: true });
    assert.deepEqual((await admin(f.adminUrl, 'GET', '/schemas/route')).body, r.body);
    assert.equal((await admin(f.adminUrl, 'GET', '/schemas/widgets')).status, 404);
  });
});
