/** Chains compiled per route: Kong's precedence across scopes, priorities, and null for no plugin. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { systemRng } from '../../../src/core/random.ts';
import { parseBasic } from '../../../src/plugins/basic-auth.ts';
import { type Chain, PluginRun, PluginSet } from '../../../src/plugins/chain.ts';
import { PluginOutcomes } from '../../../src/plugins/outcomes.ts';
import { applyRules, type Multimap, rulesFor } from '../../../src/plugins/transform-rules.ts';
import type { AnyPlugin } from '../../../src/plugins/types.ts';
import { FakeDownstream } from '../../helpers/fake-downstream.ts';

/** Eight request-termination instances, one per scope combination, told apart by status. */
const FILE = `_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes:
      - { name: r, paths: [/r] }
      - { name: other, paths: [/o] }
  - name: bare
    url: http://127.0.0.1:1
    routes:
      - { name: lone, paths: [/l] }
consumers:
  - username: c
  - username: d
plugins:
  - { name: request-termination, config: { status_code: 208 } }
  - { name: request-termination, service: s, config: { status_code: 207 } }
  - { name: request-termination, route: r, config: { status_code: 206 } }
  - { name: request-termination, consumer: c, config: { status_code: 205 } }
  - { name: request-termination, route: r, service: s, config: { status_code: 204 } }
  - { name: request-termination, consumer: c, service: s, config: { status_code: 203 } }
  - { name: request-termination, consumer: c, route: r, config: { status_code: 202 } }
  - { name: request-termination, consumer: c, route: r, service: s, config: { status_code: 201 } }
  - { name: key-auth, service: s }
  - { name: cors, service: s }
`;

describe('plugin chains', () => {
  const snap = loadSnapshotText(FILE, 'f.yaml');
  const set = new PluginSet(snap, { clock: systemClock, rng: systemRng, trusted: null, state: new Map() });
  const route = (name: string) => snap.routes.find((r) => r.name === name)!;
  const service = (name: string) => snap.services.find((s) => s.name === name)!;
  const consumer = (name: string) => snap.consumers.find((c) => c.username === name)!.id;

  /** The status of the request-termination instance that runs, with or without a consumer. */
  function winner(r: string, s: string, c: string | null): number {
    const chain = set.chainFor(route(r), service(s))!;
    const slot = chain.slots.find((x) => x.def.name === 'request-termination')!;
    const inst = c !== null ? (slot.byConsumer?.get(consumer(c)) ?? slot.base) : slot.base;
    return inst!.spec.config.status_code as number;
  }

  it('the most specific scope wins, in Kong order', () => {
    assert.equal(winner('r', 's', 'c'), 201, 'consumer + route + service');
    assert.equal(winner('r', 's', null), 204, 'route + service');
    assert.equal(winner('r', 's', 'd'), 204, 'another consumer: the consumer-less winner');
    assert.equal(winner('other', 's', 'c'), 203, 'consumer + service');
    assert.equal(winner('other', 's', null), 207, 'service');
    assert.equal(winner('lone', 'bare', 'c'), 205, 'consumer');
    assert.equal(winner('lone', 'bare', null), 208, 'global');
  });

  it('orders a chain by priority, and gives a route no plugin applies to no chain', () => {
    const chain = set.chainFor(route('r'), service('s'))!;
    assert.deepEqual(
      chain.slots.map((s) => s.def.name),
      ['cors', 'key-auth', 'request-termination'],
    );
    const empty = new PluginSet(loadSnapshotText(FILE.replace(/plugins:[\s\S]*$/, ''), 'f.yaml'), {
      clock: systemClock,
      rng: systemRng,
      trusted: null,
      state: new Map(),
    });
    assert.equal(empty.chainFor(route('r'), service('s')), null);
  });
});

describe('a failing hook', () => {
  it('answers 500 in access (never lets the request through) and is skipped in later phases', () => {
    const boom = (): never => {
      throw new Error('bug');
    };
    const def = {
      name: 'boom',
      priority: 1,
      noConsumer: false,
      schema: {},
      check: boom,
      build: boom,
    } as AnyPlugin;
    const inst = (d: AnyPlugin) => ({
      spec: {} as never,
      def: d,
      built: null,
      outcomes: new PluginOutcomes(d.name, null),
    });
    const snap = loadSnapshotText(FILE, 'f.yaml');
    const set = new PluginSet(snap, { clock: systemClock, rng: systemRng, trusted: null, state: new Map() });
    const run = (d: AnyPlugin) =>
      new PluginRun(
        { set, slots: [{ def: d, base: inst(d), byConsumer: null }] } as unknown as Chain,
        { clientIp: '127.0.0.1', down: new FakeDownstream() },
        '/',
        '',
        snap.routes[0]!,
        snap.services[0]!,
      );
    const r1 = run({ ...def, access: boom });
    assert.deepEqual(r1.access(), { status: 500, body: { message: 'An unexpected error occurred' } });
    assert.equal(r1.hookErrors, 1);
    assert.equal(r1.rejection, 'boom: error', 'the access log names the plugin that failed');
    const r2 = run({ ...def, headerFilter: boom, log: boom });
    assert.equal(r2.access(), null);
    const headers: string[] = [];
    r2.headerFilter(200, headers, false);
    r2.log(200);
    assert.equal(r2.hookErrors, 2);
  });
});

describe('plugin helpers', () => {
  it('parses Basic credentials, with a colon in the password, and refuses malformed ones', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    assert.deepEqual(parseBasic(`Basic ${b64('u:p:q')}`), ['u', 'p:q']);
    assert.deepEqual(parseBasic(`basic   ${b64('u:')}`), ['u', '']);
    assert.equal(parseBasic(`Basic ${b64('nocolon')}`), null);
    assert.equal(parseBasic(`Basic ${b64(':p')}`), null);
    assert.equal(parseBasic('Bearer abc'), null);
    assert.equal(parseBasic(undefined), null);
  });

  it('applies transform rules in Kong order: remove, rename, replace, add, append', () => {
    const m = new Map<string, string[]>([
      ['a', ['1']],
      ['b', ['2']],
      ['c', ['3']],
    ]);
    const mm: Multimap = {
      has: (n) => m.has(n),
      get: (n) => m.get(n) ?? [],
      set: (n, v) => void m.set(n, v),
      delete: (n) => void m.delete(n),
    };
    const problems: { path: readonly (string | number)[]; message: string }[] = [];
    const rules = rulesFor(
      {
        remove: { headers: ['a'] },
        rename: { headers: ['b:a', 'missing:x'] },
        replace: { headers: ['a:r', 'zz:no'] },
        add: { headers: ['a:ignored', 'd:4'] },
        append: { headers: ['d:5', 'bad'] },
      },
      'headers',
      problems,
      true,
    );
    assert.deepEqual(
      problems.map((p) => p.path),
      [['append', 'headers', 1]],
    );
    applyRules(mm, { ...rules, append: rules.append.slice(0, 1) });
    assert.deepEqual(Object.fromEntries(m), { a: ['r'], c: ['3'], d: ['4', '5'] });
  });
});
