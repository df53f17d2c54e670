import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseForm, parseStrictJson } from '../../../src/admin/body.ts';
import { writeEntity } from '../../../src/admin/entities.ts';
import { parseSource } from '../../../src/config/load.ts';
import { pluginSchema, routeSchema, serviceSchema } from '../../../src/config/schema.ts';
import { snapshotFromSource } from '../../../src/config/validate.ts';
import { Refusal, snapshotOf } from '../../../src/runtime/config-control.ts';
import { emptyState, exportDocument, importDocument } from '../../../src/store/document.ts';
import { REPO_ROOT } from '../../helpers/child.ts';

const fixture = readFileSync(`${REPO_ROOT}/test/fixtures/kong-3.0.yaml`, 'utf8');

describe('the entity state and the declarative document', () => {
  it('imports a Kong file with the ids the snapshot derives, and exports a document that validates the same', () => {
    const src = parseSource(fixture, 'kong-3.0.yaml');
    const direct = snapshotFromSource(src);
    const state = importDocument(src.value as Record<string, unknown>, 1000);
    assert.deepEqual(
      state.services.map((s) => s.id),
      direct.services.map((s) => s.id),
    );
    assert.deepEqual(state.routes.map((r) => r.id).sort(), direct.routes.map((r) => r.id).sort());
    const targets = direct.upstreams.filter((u) => !u.implicit).flatMap((u) => u.targets.map((t) => t.id));
    assert.deepEqual(state.targets.map((t) => t.id).sort(), targets.sort());
    const built = snapshotOf(state, '<admin>');
    assert.ok('snapshot' in built, JSON.stringify(built));
    const again = built.snapshot;
    assert.deepEqual(
      again.routes.map((r) => [r.id, r.service, r.paths]).sort(),
      direct.routes.map((r) => [r.id, r.service, r.paths]).sort(),
    );
    assert.deepEqual(again.upstreams, direct.upstreams);
    assert.deepEqual(again.consumers, direct.consumers);
    // The exported document re-imports to the same entities (a fixed point).
    const doc = exportDocument(state).doc;
    const back = importDocument(doc, 1000);
    assert.deepEqual(exportDocument(back).doc, doc);
  });

  it('expands url= on import and keeps created_at of ids that survive a re-import', () => {
    const s1 = importDocument(
      { _format_version: '3.0', services: [{ name: 'a', url: 'https://h:8443/p' }] },
      10,
    );
    assert.equal(s1.services[0]!.host, 'h');
    assert.equal(s1.services[0]!.port, 8443);
    assert.equal(s1.services[0]!.protocol, 'https');
    assert.equal(s1.services[0]!.path, '/p');
    const s2 = importDocument({ _format_version: '3.0', services: [{ name: 'a', host: 'g' }] }, 20, s1);
    assert.equal(s2.services[0]!.created_at, 10);
    assert.equal(s2.services[0]!.updated_at, 20);
  });
});

describe('admin bodies', () => {
  it("parses Kong's form conventions, typed by the entity schema", () => {
    const r = parseForm(
      'name=r&paths[]=/a&paths[]=/b&methods=GET&strip_path=false&regex_priority=5&tags[]=',
      routeSchema,
    );
    assert.deepEqual(r, {
      name: 'r',
      paths: ['/a', '/b'],
      methods: ['GET'],
      strip_path: false,
      regex_priority: 5,
      tags: [],
    });
    const p = parseForm(
      'name=key-auth&config.key_names=apikey&config.key_names=k2&config.hide_credentials=true&service.id=x',
      pluginSchema,
    );
    assert.deepEqual(p, {
      name: 'key-auth',
      config: { key_names: ['apikey', 'k2'], hide_credentials: 'true' },
      service: { id: 'x' },
    });
    assert.deepEqual(parseForm('url=http://h:1/p&retries=2', serviceSchema), {
      url: 'http://h:1/p',
      retries: 2,
    });
    assert.ok(parseForm('__proto__.x=1', serviceSchema) instanceof Refusal);
    assert.ok(parseForm('a..b=1', serviceSchema) instanceof Refusal);
  });

  it('parses JSON strictly', () => {
    assert.deepEqual(parseStrictJson('{"a":[1,{"b":null}]}'), { a: [1, { b: null }] });
    assert.ok(parseStrictJson('{"a":1,"a":2}') instanceof Refusal);
    assert.ok(parseStrictJson('{a:1}') instanceof Refusal);
    assert.ok(parseStrictJson('{"a":1} x') instanceof Refusal);
    assert.ok(parseStrictJson('{"constructor":{"prototype":{}}}') instanceof Refusal);
  });
});

describe('plugins as entities', () => {
  it('checks the name against the built-in plugins and the scope references; stores config as given', () => {
    const state = writeEntity(
      emptyState(),
      'services',
      { name: 's', host: 'h' },
      { mode: 'create', scope: null, now: 1 },
    );
    assert.ok(!(state instanceof Refusal));
    const missing = writeEntity(
      state.state,
      'plugins',
      { name: 'key-auth', route: 'nope' },
      { mode: 'create', scope: null, now: 1 },
    );
    assert.ok(missing instanceof Refusal);
    assert.equal(missing.status, 400);
    const p = writeEntity(
      state.state,
      'plugins',
      { name: 'key-auth', config: { key_names: ['apikey'], anything: { nested: 1 } } },
      { mode: 'create', scope: { field: 'service', id: state.entity.id }, now: 1 },
    );
    assert.ok(!(p instanceof Refusal));
    assert.deepEqual(p.entity.service, { id: state.entity.id });
    // The plugin's own config schema applies: an unknown field is refused with its path.
    const refused = snapshotOf(p.state, '<admin>');
    assert.ok('issues' in refused);
    assert.equal(refused.issues[0]!.path, 'services[0].plugins[0].config.anything');
    const ok = writeEntity(
      state.state,
      'plugins',
      { name: 'key-auth', config: { key_names: ['apikey'] } },
      { mode: 'create', scope: { field: 'service', id: state.entity.id }, now: 1 },
    );
    assert.ok(!(ok instanceof Refusal));
    assert.ok('snapshot' in snapshotOf(ok.state, '<admin>'));
    const doc = exportDocument(ok.state).doc as { services: { plugins: unknown[] }[] };
    assert.equal(doc.services[0]!.plugins.length, 1);
    const dup = writeEntity(
      ok.state,
      'plugins',
      { name: 'key-auth', service: 's' },
      { mode: 'create', scope: null, now: 1 },
    );
    assert.ok(dup instanceof Refusal);
    assert.equal(dup.status, 409);
    const unknown = writeEntity(
      state.state,
      'plugins',
      { name: 'no-such-plugin' },
      { mode: 'create', scope: null, now: 1 },
    );
    const bad = unknown instanceof Refusal ? unknown : snapshotOf(unknown.state, '<admin>');
    assert.ok(bad instanceof Refusal || 'issues' in bad, 'an unknown plugin name is refused');
  });
});
