/**
 * The request state machine (src/proxy/exchange.ts and its tries, tries.ts) on virtual time: a
 * real generation built from a file, a ManualClock (timers fire on advance()), a fake client side
 * (test/helpers/fake-downstream.ts) and fake pools that the test answers by hand. No socket, no
 * sleep: every deadline, hedge, backoff and retry below happens at an exact virtual instant.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadSnapshotText } from '../../../src/config/validate.ts';
import { ManualClock } from '../../../src/core/clock.ts';
import { seededRng } from '../../../src/core/random.ts';
import { type Fields, StringFields } from '../../../src/http1/fields.ts';
import { CHUNKED, type Framing, NO_BODY } from '../../../src/http1/message.ts';
import { createLogs } from '../../../src/observability/access-log.ts';
import type { BodyConsumer } from '../../../src/proxy/body-channel.ts';
import { Exchange } from '../../../src/proxy/exchange.ts';
import { Runtime } from '../../../src/runtime/runtime.ts';
import type { TargetState } from '../../../src/upstreams/target.ts';
import {
  type TargetPool,
  type UpstreamCall,
  UpstreamError,
  type UpstreamHandler,
  type UpstreamRequest,
} from '../../../src/upstreams/upstream-call.ts';
import { FakeDownstream, type FakeRequest } from '../../helpers/fake-downstream.ts';

/** One dispatched call the test answers. */
class FakeCall implements UpstreamCall, BodyConsumer {
  readonly target: string;
  readonly req: UpstreamRequest;
  readonly handler: UpstreamHandler;
  aborted = false;
  resumed = 0;
  bodyBytes = 0;
  /** What the call read of a streamed body, and whether it ended. */
  readonly body: Buffer[] = [];
  bodyEnded = false;

  constructor(target: string, req: UpstreamRequest, handler: UpstreamHandler) {
    this.target = target;
    this.req = req;
    this.handler = handler;
  }

  resume(): void {
    this.resumed++;
  }
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.handler.onError(new UpstreamError('aborted', 'aborted'));
  }
  passRaw(): void {}

  data(chunk: Buffer): boolean {
    this.body.push(chunk);
    return true;
  }
  end(): void {
    this.bodyEnded = true;
  }
  error(): void {}

  /** The target connected, and read the body (a stream is attached, a replay taken whole). */
  connect(): void {
    this.handler.onConnected();
    const b = this.req.body;
    if (Buffer.isBuffer(b)) {
      this.body.push(b);
      this.bodyEnded = true;
    } else if (b !== null) b.attach(this);
  }

  respond(status: number, text = '', fields: string[] = []): void {
    this.connect();
    const framing: Framing = text === '' ? NO_BODY : CHUNKED;
    const head = {
      status,
      reason: '',
      fields: new StringFields(fields) as Fields,
      framing,
      minor: 1,
      named: null,
    };
    if (!this.handler.onHead(head)) return;
    if (text !== '') {
      this.bodyBytes = text.length;
      this.handler.onData(Buffer.from(text));
    }
    this.handler.onReadEnd();
    this.handler.onEnd(null);
  }

  fail(failure: 'connect' | 'reset' | 'timeout'): void {
    this.handler.onError(new UpstreamError(failure, failure));
  }
}

class FakePool implements TargetPool {
  readonly calls: FakeCall[];
  readonly target: string;
  constructor(target: string, calls: FakeCall[]) {
    this.target = target;
    this.calls = calls;
  }
  dispatch(req: UpstreamRequest, handler: UpstreamHandler): UpstreamCall {
    const c = new FakeCall(this.target, req, handler);
    this.calls.push(c);
    return c;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
  destroy(): Promise<void> {
    return Promise.resolve();
  }
}

/** A node on virtual time whose service `s` balances round-robin over a, b, c (fake pools). */
function rig(service = '', upstream = '') {
  const clock = new ManualClock(1_000_000);
  const snapshot = loadSnapshotText(
    `_format_version: "3.0"
services:
  - name: s
    host: u
${service}    routes: [{ name: r, paths: ["/"] }]
upstreams:
  - name: u
    algorithm: round-robin
${upstream}    targets: [{ target: "a:1" }, { target: "b:1" }, { target: "c:1" }]
`,
    'machine.yaml',
  );
  const runtime = new Runtime(snapshot, {
    clock,
    ioClock: clock,
    rng: seededRng(7),
    logs: createLogs('silent', 'off', clock),
  });
  const gen = runtime.current;
  const calls: FakeCall[] = [];
  const svc = gen.services.get('s')!;
  const pools = svc.pools as Map<TargetState, TargetPool>;
  for (const t of svc.upstream.targets) pools.set(t, new FakePool(t.target, calls));
  const guard = svc.upstream.guard;
  const send = (r: FakeRequest = {}) => {
    const down = new FakeDownstream(r);
    const ex = new Exchange(runtime, gen, down);
    ex.start();
    return { down, ex };
  };
  return { clock, runtime, gen, calls, guard, send, targets: svc.upstream.targets };
}

describe('the request state machine on virtual time', () => {
  it('retries a reset on another target, and the client gets the second answer', () => {
    const m = rig('    retry_policy: { backoff_base: 0 }\n');
    const { down } = m.send();
    assert.equal(m.calls.length, 1);
    m.calls[0]!.fail('reset');
    assert.equal(m.calls.length, 2, 'retried at once');
    assert.notEqual(m.calls[1]!.target, m.calls[0]!.target, 'on another target');
    m.calls[1]!.respond(200, 'ok');
    assert.equal(down.head?.status, 200);
    assert.equal(down.text, 'ok');
    assert.equal(down.ended, true);
    assert.equal(m.gen.inflight, 0);
    assert.equal(m.guard.active, 0);
    assert.equal(m.guard.retries, 0, 'the retry gave its place back');
    for (const t of m.targets) assert.equal(t.inflight, 0, t.target);
  });

  it('waits out the backoff on the clock before the retry', () => {
    const m = rig('    retry_policy: { backoff_base: 100, backoff_max: 100 }\n');
    m.send();
    m.calls[0]!.fail('reset');
    assert.equal(m.calls.length, 1, 'nothing before the backoff');
    assert.equal(m.guard.retries, 1, 'the retry holds its place while it waits');
    m.clock.advance(100);
    assert.equal(m.calls.length, 2, 'sent once the backoff (at most 100 ms) passed');
  });

  it('answers the failure when the retry budget is spent, and counts the overflow', () => {
    const m = rig(
      '    retry_policy: { backoff_base: 0 }\n',
      '    retry_budget: { percent: 0, min_retries_per_sec: 0 }\n',
    );
    const { down } = m.send();
    m.calls[0]!.fail('reset');
    assert.equal(m.calls.length, 1, 'no retry');
    assert.equal(down.head?.status, 502);
    assert.equal(m.guard.overflows.retry_budget, 1);
    assert.equal(m.guard.retries, 0);
  });

  it('a connect failure is retried even when the budget is spent (nothing reached a target)', () => {
    const m = rig(
      '    retry_policy: { backoff_base: 0 }\n',
      '    retry_budget: { percent: 0, min_retries_per_sec: 0 }\n',
    );
    const { down } = m.send();
    m.calls[0]!.fail('connect');
    assert.equal(m.calls.length, 2);
    m.calls[1]!.respond(200, 'ok');
    assert.equal(down.head?.status, 200);
  });

  it('hedge: a second try after hedge_delay; the first answer wins and the other is cancelled', () => {
    const m = rig('    retry_policy: { hedge_delay: 50 }\n');
    const { down } = m.send();
    m.clock.advance(49);
    assert.equal(m.calls.length, 1);
    m.clock.advance(1);
    assert.equal(m.calls.length, 2, 'hedged at 50 ms');
    m.calls[1]!.respond(200, 'hedge');
    assert.equal(down.text, 'hedge');
    assert.equal(m.calls[0]!.aborted, true, 'the slow try is cancelled');
    assert.equal(m.guard.retries, 0);
    assert.equal(m.guard.active, 0);
  });

  it('hedge: the first try answering before the hedge cancels the hedge', () => {
    const m = rig('    retry_policy: { hedge_delay: 50 }\n');
    const { down } = m.send();
    m.clock.advance(60);
    assert.equal(m.calls.length, 2);
    m.calls[0]!.respond(200, 'first');
    assert.equal(down.text, 'first');
    assert.equal(m.calls[1]!.aborted, true);
    assert.equal(m.gen.inflight, 0);
  });

  it('per-try timeout: the slow try is given up and the retry answers', () => {
    const m = rig('    retry_policy: { per_try_timeout: 100, backoff_base: 0 }\n');
    const { down } = m.send();
    m.calls[0]!.connect();
    m.clock.advance(100);
    assert.equal(m.calls[0]!.aborted, true);
    assert.equal(m.calls.length, 2);
    m.calls[1]!.respond(200, 'second');
    assert.equal(down.text, 'second');
    const slow = m.targets.find((t) => t.target === m.calls[0]!.target)!;
    assert.equal(slow.inflight, 0);
  });

  it('request deadline: 504 at request_timeout across tries, nothing sent after it', () => {
    const m = rig('    request_timeout: 300\n    retry_policy: { per_try_timeout: 120, backoff_base: 0 }\n');
    const { down } = m.send();
    m.clock.advance(120);
    m.clock.advance(120);
    assert.equal(m.calls.length, 3, 'tries at 0, 120 and 240 ms');
    m.clock.advance(60);
    assert.equal(down.head?.status, 504);
    assert.equal(m.calls.length, 3);
    assert.ok(m.calls.every((c) => c.aborted));
    m.clock.advance(1000);
    assert.equal(m.calls.length, 3, 'no try after the deadline');
    assert.equal(m.guard.active, 0);
    assert.equal(m.guard.retries, 0);
  });

  it('a timeout is never retried on the target that timed out (one target: one try)', () => {
    const m = rig('    retry_policy: { per_try_timeout: 100, backoff_base: 0 }\n');
    // Only a is healthy.
    for (const t of m.targets) if (t.target !== 'a:1') t.healthy = false;
    const { down } = m.send();
    m.clock.advance(100);
    assert.equal(m.calls.length, 1);
    assert.equal(down.head?.status, 504);
  });

  it('the client leaving mid-try cancels the try and ends the exchange (499)', () => {
    const m = rig();
    const { down, ex } = m.send();
    m.calls[0]!.connect();
    down.events!.clientGone();
    assert.equal(m.calls[0]!.aborted, true);
    assert.equal(ex.ended, true);
    assert.equal(m.gen.inflight, 0);
    assert.equal(m.guard.active, 0);
    assert.equal(m.guard.requests, 0);
  });

  it('replays a body the first try read to the next target', () => {
    const m = rig('    retry_policy: { backoff_base: 0 }\n');
    const { down } = m.send({ method: 'PUT', body: { length: 5 } });
    down.body!.push(Buffer.from('hello'));
    down.body!.end(null);
    m.calls[0]!.connect();
    assert.equal(Buffer.concat(m.calls[0]!.body).toString(), 'hello');
    m.calls[0]!.fail('reset');
    assert.equal(m.calls.length, 2);
    const replay = m.calls[1]!.req.body;
    assert.ok(Buffer.isBuffer(replay), 'a whole copy, not the spent stream');
    assert.equal(replay.toString(), 'hello');
    m.calls[1]!.respond(201);
    assert.equal(down.head?.status, 201);
  });

  it('a 503 answer is read through and retried; with no retry left, the client gets it', () => {
    const m = rig('    retries: 1\n    retry_policy: { backoff_base: 0 }\n');
    const { down } = m.send();
    m.calls[0]!.respond(503, 'busy');
    assert.equal(m.calls.length, 2);
    assert.equal(down.headersSent, false, 'the 503 was not relayed');
    m.calls[1]!.respond(503, 'still');
    assert.equal(down.head?.status, 503);
    assert.equal(down.text, 'still');
  });
});
