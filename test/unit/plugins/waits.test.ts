/**
 * The waiting access phase and the bodies it reads: a hook that waits is run again (once recorded),
 * a hook that keeps waiting is cut off, the body buffer's limit, and the body field parsers and
 * rules the plugins use.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { systemRng } from '../../../src/core/random.ts';
import { fieldValues, parseBody } from '../../../src/plugins/body-fields.ts';
import { applyJsonRules } from '../../../src/plugins/body-rules.ts';
import { type Chain, PluginRun, PluginSet } from '../../../src/plugins/chain.ts';
import { rulesFor } from '../../../src/plugins/transform-rules.ts';
import { type AnyPlugin, isWait, type LocalReply } from '../../../src/plugins/types.ts';
import { FakeDownstream } from '../../helpers/fake-downstream.ts';

/** A POST whose body arrives later (chunked: no declared length). */
function fakeReq(headers: Record<string, string>, body = true): { clientIp: string; down: FakeDownstream } {
  return {
    clientIp: '127.0.0.1',
    down: new FakeDownstream({ method: 'POST', headers, body: body ? { length: -1 } : null }),
  };
}

const FILE = `_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes: [{ name: r, paths: [/] }]
consumers:
  - username: alice
    keyauth_credentials: [{ key: k1 }]
plugins:
  - { name: key-auth, config: { key_in_body: true, body_limit: 64 } }
`;

describe('waiting access phase', () => {
  const snap = loadSnapshotText(FILE, 'f.yaml');
  const set = new PluginSet(snap, { clock: systemClock, rng: systemRng, trusted: null, state: new Map() });
  const chain = set.chainFor(snap.routes[0]!, snap.services[0]!)!;

  it('waits for the body, then runs the same hook again and authenticates', async () => {
    const req = fakeReq({ 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const run = new PluginRun(chain, req, '/', '', snap.routes[0]!, snap.services[0]!);
    let wanted = 0;
    req.down.body!.onDemand = () => wanted++;
    const first = run.access();
    assert.ok(first !== null && isWait(first));
    assert.equal(wanted, 1);
    req.down.body!.push(Buffer.from('{"apikey":"k1"}'));
    req.down.body!.end(null);
    await first.wait;
    assert.equal(run.access(), null);
    assert.equal(run.consumer?.username, 'alice');
    assert.equal(run.bufferedBody?.body().toString(), '{"apikey":"k1"}');
  });

  it('a body over the limit holds no key and keeps its prefix for forwarding', async () => {
    const req = fakeReq({ 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const run = new PluginRun(chain, req, '/', '', snap.routes[0]!, snap.services[0]!);
    const first = run.access();
    assert.ok(first !== null && isWait(first));
    req.down.body!.push(Buffer.from(`{"apikey":"k1","pad":"${'x'.repeat(100)}`));
    await first.wait;
    const out = run.access() as LocalReply;
    assert.equal(out.status, 401);
    assert.equal(run.bufferedBody?.state, 'over');
    assert.ok(req.down.body!.queuedBytes > 64, 'the prefix stays queued for forwarding');
  });

  it('cuts off a hook that keeps waiting (500, not a loop)', async () => {
    const spinner: AnyPlugin = {
      name: 'spinner',
      priority: 1,
      noConsumer: false,
      schema: {},
      check: () => ({}),
      build: () => null,
      access: () => ({ wait: Promise.resolve() }),
    };
    const spin: Chain = {
      set,
      slots: [
        { def: spinner, base: { spec: snap.plugins[0]!, def: spinner, built: null }, byConsumer: null },
      ],
    } as unknown as Chain;
    const run = new PluginRun(spin, fakeReq({}, false), '/', '', snap.routes[0]!, snap.services[0]!);
    let out = run.access();
    let n = 0;
    for (; n < 20 && out !== null && isWait(out); n++) out = run.access();
    assert.equal(n, 8);
    assert.equal((out as LocalReply).status, 500);
  });
});

describe('body fields and rules', () => {
  it('reads JSON, form and multipart fields (file parts skipped)', () => {
    const j = parseBody('application/json; charset=utf-8', Buffer.from('{"a":"x","n":2,"o":{}}'))!;
    assert.deepEqual(fieldValues(j, 'a'), ['x']);
    assert.deepEqual(fieldValues(j, 'n'), ['2']);
    assert.deepEqual(fieldValues(j, 'o'), []);
    assert.equal(parseBody('application/json', Buffer.from('[1]')), null);
    const f = parseBody('application/x-www-form-urlencoded', Buffer.from('a=1&a=2'))!;
    assert.deepEqual(fieldValues(f, 'a'), ['1', '2']);
    const mp = Buffer.from(
      '--b\r\nContent-Disposition: form-data; name="file"; filename="x.txt"\r\n\r\nk\r\n' +
        '--b\r\nContent-Disposition: form-data; name="key"\r\nContent-Type: text/plain\r\n\r\nv\r\n--b--\r\n',
    );
    const m = parseBody('multipart/form-data; boundary="b"', mp)!;
    assert.deepEqual(fieldValues(m, 'key'), ['v']);
    assert.deepEqual(fieldValues(m, 'file'), []);
    assert.equal(parseBody('text/plain', Buffer.from('a=1')), null);
  });

  it('applies JSON rules in Kong order with typed values', () => {
    const problems: never[] = [];
    const rules = rulesFor(
      {
        remove: { json: ['gone'] },
        rename: { json: ['a:b'] },
        replace: { json: ['b:2'] },
        add: { json: ['n:5', 'b:no'] },
        append: { json: ['l:x'] },
      },
      'json',
      problems,
      false,
    );
    const v: Record<string, unknown> = { gone: 1, a: 1, l: 'w' };
    applyJsonRules(v, { ...rules, types: { replace: ['number'], add: ['number'], append: [] } });
    assert.deepEqual(v, { b: 2, l: ['w', 'x'], n: 5 });
  });
});
