import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, it } from 'node:test';
import { BUILTIN_BALANCERS } from '../../../src/balancers/index.ts';
import { roundRobin } from '../../../src/balancers/round-robin.ts';
import type { StickySpec } from '../../../src/config/sticky.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import {
  adoptDefaultSecret,
  defaultSecret,
  type StickyRequest,
  StickyRuntime,
  stickyId,
} from '../../../src/proxy/sticky.ts';
import { AffinityTable } from '../../../src/upstreams/affinity-table.ts';
import type { TargetState } from '../../../src/upstreams/target.ts';
import { fleet, make, mk } from '../balancers/support.ts';

const START_MS = 1_700_000_000_000;

function spec(over: Partial<StickySpec> = {}, cookie: Partial<StickySpec['cookie']> = {}): StickySpec {
  return {
    mode: 'cookie',
    secret: 'a secret of sixteen+ bytes',
    tableSize: 100,
    idleTimeoutMs: 60_000,
    tableStore: 'local',
    ...over,
    cookie: {
      name: 'srv',
      ttlMs: 0,
      path: '/',
      domain: '',
      secure: false,
      httpOnly: true,
      sameSite: 'Lax',
      ...cookie,
    },
  };
}

const req = (clientIp = '10.0.0.1'): StickyRequest => ({ clientIp, hashKey: null, stickyCookie: null });
/** The `name=value` part of a Set-Cookie. */
const pair = (setCookie: string | null) => setCookie!.split(';')[0]!;

function setup(
  s: StickySpec = spec(),
  clock = new ManualClock(START_MS),
  table: AffinityTable | null = null,
) {
  const ts = [mk('a'), mk('b'), mk('c')];
  const picker = make(roundRobin).update(ts);
  const sticky = new StickyRuntime('u', s, ts, clock, table);
  return { ts, picker, sticky, clock };
}

describe('sticky sessions: cookie insert', () => {
  it('pins a client to its first pick; new clients follow the algorithm (exact sequence)', () => {
    const { picker, sticky } = setup();
    const r = req();
    const first = sticky.pick(picker, r, undefined, null)!;
    assert.equal(first.target, 'a');
    assert.match(
      r.stickyCookie!,
      /^srv=[A-Za-z0-9_-]{12}\.0\.[A-Za-z0-9_-]{22}; Path=\/; HttpOnly; SameSite=Lax$/,
    );
    const cookie = `other=1; ${pair(r.stickyCookie)}`;
    let seq = '';
    for (let i = 0; i < 6; i++) {
      const again = req();
      seq += sticky.pick(picker, again, cookie, null)!.target;
      assert.equal(again.stickyCookie, null, 'a valid pin sets no cookie');
    }
    assert.equal(seq, 'aaaaaa');
    // Clients without the cookie keep the round-robin rotation: b, c, a.
    let fresh = '';
    for (let i = 0; i < 3; i++) fresh += sticky.pick(picker, req(), undefined, null)!.target;
    assert.equal(fresh, 'bca');
  });

  it('names targets by an opaque id, not their address', () => {
    const ts = fleet(3);
    const sticky = new StickyRuntime('u', spec(), ts, new ManualClock(START_MS), null);
    const r = req();
    sticky.pick(make(roundRobin).update(ts), r, undefined, null);
    assert.ok(r.stickyCookie!.startsWith(`srv=${stickyId(ts[0]!)}.`));
    assert.ok(!r.stickyCookie!.includes('10.0.0.0'), r.stickyCookie!);
    assert.equal(new Set(ts.map(stickyId)).size, 3);
  });

  it('ignores a forged, tampered, truncated or foreign cookie and re-picks', () => {
    const { ts, picker, sticky, clock } = setup();
    const r = req();
    sticky.pick(picker, r, undefined, null); // a
    const good = pair(r.stickyCookie).slice('srv='.length);
    const [id, exp, mac] = good.split('.') as [string, string, string];
    const bId = stickyId(ts[1]!);
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const bad = [
      `${bId}.${exp}.${mac}`, // another target's id with a's mac
      `${id}.${exp}.${flip(mac)}`,
      `${id}.${exp}.${mac.slice(0, -1)}`,
      `${id}.1.${mac}`, // expiry changed
      `${id}.${exp}`,
      'garbage',
      `${id}.x.${mac}`,
    ];
    for (const v of bad) {
      const x = req();
      const t = sticky.pick(picker, x, `srv=${v}`, null)!;
      assert.notEqual(x.stickyCookie, null, `${v}: re-pinned`);
      assert.ok(x.stickyCookie!.startsWith(`srv=${stickyId(t)}.`));
    }
    // Signed with another secret, or for another upstream: ignored too.
    const other = new StickyRuntime('u', spec({ secret: 'another secret, 16+ bytes' }), ts, clock, null);
    assert.equal(other.verify(good, START_MS), null);
    const otherUpstream = new StickyRuntime('v', spec(), ts, clock, null);
    assert.equal(otherUpstream.verify(good, START_MS), null);
    assert.equal(sticky.verify(good, START_MS)?.target, ts[0]);
  });

  it('re-picks and re-pins when the pinned target is unhealthy, draining (weight 0), removed or already tried', () => {
    const { ts, picker, sticky, clock } = setup();
    const [a, b, c] = ts as [TargetState, TargetState, TargetState];
    const r = req();
    sticky.pick(picker, r, undefined, null); // a
    const pinA = pair(r.stickyCookie);
    const check = (why: string, exclude: TargetState[] | null, s = sticky, p = picker) => {
      const x = req();
      const t = s.pick(p, x, pinA, exclude)!;
      assert.notEqual(t, a, why);
      assert.ok(
        x.stickyCookie!.startsWith(`srv=${stickyId(t)}.`),
        `${why}: the new pin names the new target`,
      );
      return t;
    };
    a.healthy = false;
    check('unhealthy', null);
    a.healthy = true;
    a.weight = 0;
    check('draining', null);
    a.weight = 1;
    assert.equal(sticky.pick(picker, req(), pinA, null), a, 'back to a once it can take traffic');
    const retry = check('tried by this request', [a]);
    assert.ok(retry === b || retry === c);
    const without = new StickyRuntime('u', spec(), [b, c], clock, null);
    check('removed', null, without, make(roundRobin).update([b, c]));
    // Nothing can take it: null, and no cookie.
    for (const t of ts) t.healthy = false;
    const none = req();
    assert.equal(sticky.pick(picker, none, pinA, null), null);
    assert.equal(none.stickyCookie, null);
  });

  it('ttl: signs the expiry, sets Max-Age, renews past half-life, ignores an expired pin', () => {
    const { picker, sticky, clock } = setup(spec({}, { ttlMs: 60_000, domain: 'example.com', secure: true }));
    const r = req();
    sticky.pick(picker, r, undefined, null); // a
    const exp = Math.ceil((START_MS + 60_000) / 1000);
    assert.match(
      r.stickyCookie!,
      new RegExp(
        `^srv=[\\w-]{12}\\.${exp}\\.[\\w-]{22}; Path=/; Domain=example.com; Max-Age=60; Secure; HttpOnly; SameSite=Lax$`,
      ),
    );
    const pin = pair(r.stickyCookie);
    clock.advance(29_000);
    const early = req();
    assert.equal(sticky.pick(picker, early, pin, null)!.target, 'a');
    assert.equal(early.stickyCookie, null, 'no renewal before half the ttl');
    clock.advance(2_000);
    const half = req();
    assert.equal(sticky.pick(picker, half, pin, null)!.target, 'a');
    assert.ok(half.stickyCookie!.includes(`.${Math.ceil((START_MS + 91_000) / 1000)}.`), half.stickyCookie!);
    clock.advance(30_000); // 61 s: the first cookie has expired
    const late = req();
    assert.equal(sticky.pick(picker, late, pin, null)!.target, 'b', 'expired: the algorithm picks');
    assert.ok(late.stickyCookie !== null);
  });

  it('composes with any algorithm (random, least-request, maglev)', () => {
    for (const id of ['random', 'least-request', 'maglev']) {
      const ts = [mk('a'), mk('b'), mk('c')];
      const picker = make(BUILTIN_BALANCERS.get(id)!, 3).update(ts);
      const sticky = new StickyRuntime('u', spec(), ts, new ManualClock(START_MS), null);
      const r = req();
      const first = sticky.pick(picker, r, undefined, null)!;
      for (let i = 0; i < 50; i++)
        assert.equal(sticky.pick(picker, req(), pair(r.stickyCookie), null), first, id);
    }
  });

  it('without a secret, uses one random key per process', () => {
    const ts = [mk('a')];
    const clock = new ManualClock(START_MS);
    const x = new StickyRuntime('u', spec({ secret: '' }), ts, clock, null);
    const y = new StickyRuntime('u', spec({ secret: '' }), ts, clock, null);
    const v = x.cookieFor(ts[0]!, START_MS).split(';')[0]!.slice(4);
    assert.equal(y.verify(v, START_MS)?.target, ts[0], 'the same key across generations');
    assert.equal(new StickyRuntime('u', spec(), ts, clock, null).verify(v, START_MS), null);
  });

  it("adopts a cluster's key: signs with it, still honours (and renews) cookies of the key it replaced", () => {
    const ts = [mk('a')];
    const clock = new ManualClock(START_MS);
    const x = new StickyRuntime('u', spec({ secret: '' }), ts, clock, null);
    const before = x.cookieFor(ts[0]!, START_MS).split(';')[0]!.slice(4);
    assert.equal(x.verify(before, START_MS)?.renew, false);
    const shared = Buffer.alloc(32, 7);
    assert.equal(adoptDefaultSecret(shared), true);
    assert.equal(adoptDefaultSecret(shared), false, 'the same key again changes nothing');
    assert.ok(defaultSecret().equals(shared));
    // The runtime built before the switch signs with the adopted key too.
    const after = x.cookieFor(ts[0]!, START_MS).split(';')[0]!.slice(4);
    assert.notEqual(after, before);
    assert.deepEqual(x.verify(after, START_MS), { target: ts[0], renew: false });
    assert.deepEqual(x.verify(before, START_MS), { target: ts[0], renew: true }, 'the old key, re-signed');
    // Only the key replaced last is kept: two switches later, the first key's cookies are ignored.
    adoptDefaultSecret(Buffer.alloc(32, 8));
    assert.equal(x.verify(before, START_MS), null);
    assert.equal(x.verify(after, START_MS)?.renew, true);
  });
});

describe('sticky sessions: source-ip', () => {
  it('remembers the algorithm pick per client address, re-picks when the target cannot take it', () => {
    const clock = new ManualClock(0);
    const table = new AffinityTable(100, 60_000);
    const { ts, picker, sticky } = setup(spec({ mode: 'source-ip' }), clock, table);
    const pickIp = (ip: string, exclude: TargetState[] | null = null) => {
      const r = req(ip);
      const t = sticky.pick(picker, r, undefined, exclude)!;
      assert.equal(r.stickyCookie, null, 'no cookie in source-ip mode');
      return t.target;
    };
    assert.equal(['1', '2', '3', '1', '2', '3', '1'].map((i) => pickIp(`10.0.0.${i}`)).join(''), 'abcabca');
    assert.equal(table.size, 3);
    ts[1]!.healthy = false;
    const moved = pickIp('10.0.0.2');
    assert.notEqual(moved, 'b');
    ts[1]!.healthy = true;
    assert.equal(pickIp('10.0.0.2'), moved, 'the new pin holds after b recovers');
    assert.notEqual(pickIp('10.0.0.1', [ts[0]!]), 'a', 'a retry avoids the pinned target');
    assert.equal(pickIp('10.0.0.3'), 'c');
    clock.advance(60_001);
    // Idle past the timeout: the rotation picks again (b, not the old pin c), and pins that.
    const after = ['10.0.0.3', '10.0.0.3', '10.0.0.9'].map((ip) => pickIp(ip)).join('');
    assert.equal(after, 'bbc');
  });
});
