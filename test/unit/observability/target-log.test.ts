/** Target failure logging (src/observability/target-log.ts) on virtual time: once per target per interval. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Logger, pino } from 'pino';
import { ManualClock } from '../../../src/core/clock.ts';
import { classifyFailure, TargetFailureLog } from '../../../src/observability/target-log.ts';

type Line = Record<string, unknown> & { msg: string };

function memoryLogger(): { lines: Line[]; log: Logger } {
  const lines: Line[] = [];
  const log: Logger = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s) as Line) });
  return { lines, log };
}

const a = { key: 'u/127.0.0.1:1', upstream: 'u', target: '127.0.0.1:1' };
const b = { key: 'u/127.0.0.1:2', upstream: 'u', target: '127.0.0.1:2' };
const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });

describe('target failure log', () => {
  it('logs the first failure at once with its cause, then one summary per interval', () => {
    const clock = new ManualClock(0);
    const { lines, log } = memoryLogger();
    const tl = new TargetFailureLog(log, clock, 10_000);
    tl.noteFailure(a, refused);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.cause, 'connection-refused');
    assert.equal(lines[0]!.code, 'ECONNREFUSED');
    assert.equal(lines[0]!.target, '127.0.0.1:1');
    assert.match(lines[0]!.msg, /target 127\.0\.0\.1:1 of upstream u failed: connection refused/);
    for (let i = 0; i < 999; i++) {
      clock.advance(5);
      tl.noteFailure(a, refused);
    }
    assert.equal(lines.length, 1, 'repeats within the interval are only counted');
    clock.advance(10_000 - 5 * 999 - 1);
    assert.equal(lines.length, 1, 'not before the interval ends');
    clock.advance(1);
    assert.equal(lines.length, 2, 'the summary when it ends');
    assert.equal(lines[1]!.suppressed, 999);
    assert.deepEqual(lines[1]!.causes, { 'connection-refused': 999 });
    assert.match(
      lines[1]!.msg,
      /999 more failures in the last 10 s \(connection-refused ×999\); last: connection refused/,
    );
    // Still failing: the next interval gives one summary line, no full line.
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      tl.noteFailure(a, 'ETIMEDOUT');
    }
    clock.advance(10_000);
    assert.equal(lines.length, 3);
    assert.equal(lines[2]!.suppressed, 3);
    assert.deepEqual(lines[2]!.causes, { timeout: 3 });
    // A quiet interval closes: the next failure is logged in full at once.
    clock.advance(20_000);
    assert.equal(lines.length, 3, 'no line for a quiet interval');
    tl.noteFailure(a, refused);
    assert.equal(lines.length, 4);
    assert.equal(lines[3]!.cause, 'connection-refused');
    assert.equal(clock.pending, 0, 'no timer without suppressed failures');
  });

  it('keeps targets apart, and arms no timer when a failure is alone', () => {
    const clock = new ManualClock(0);
    const { lines, log } = memoryLogger();
    const tl = new TargetFailureLog(log, clock, 1000);
    tl.noteFailure(a, refused);
    tl.noteFailure(b, refused);
    assert.equal(lines.length, 2);
    assert.deepEqual(
      lines.map((l) => l.target),
      ['127.0.0.1:1', '127.0.0.1:2'],
    );
    assert.equal(clock.pending, 0);
    tl.noteFailure(b, refused);
    assert.equal(clock.pending, 1);
    tl.stop();
    assert.equal(clock.pending, 0, 'stop cancels pending summaries');
  });
});

describe('classifyFailure', () => {
  it('names the cause of socket, DNS, TLS and timeout errors', () => {
    assert.equal(classifyFailure(refused).kind, 'connection-refused');
    const dns = Object.assign(new Error('getaddrinfo ENOTFOUND nosuch.invalid'), {
      code: 'ENOTFOUND',
      hostname: 'nosuch.invalid',
    });
    assert.deepEqual(classifyFailure(dns), {
      kind: 'host-not-found',
      code: 'ENOTFOUND',
      detail: 'host "nosuch.invalid" not found (DNS ENOTFOUND)',
    });
    const selfSigned = Object.assign(new Error('self-signed certificate'), {
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
    });
    assert.equal(
      classifyFailure(selfSigned, 'api.internal').detail,
      'certificate verify failed for "api.internal": self-signed certificate',
    );
    const altname = Object.assign(new Error("Hostname/IP does not match certificate's altnames"), {
      code: 'ERR_TLS_CERT_ALTNAME_INVALID',
      host: 'wrong.example',
      reason: "Host: wrong.example. is not in the cert's altnames: DNS:localhost",
    });
    const c = classifyFailure(altname, 'ignored.example');
    assert.equal(c.kind, 'certificate');
    assert.match(c.detail, /for "wrong\.example": Host: wrong\.example\. is not in the cert's altnames/);
    // undici wraps the socket's error in its own.
    const wrapped = Object.assign(new TypeError('fetch failed'), { cause: refused });
    assert.equal(classifyFailure(wrapped).code, 'ECONNREFUSED');
    assert.equal(
      classifyFailure(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' })).kind,
      'timeout',
    );
    assert.equal(
      classifyFailure(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' })).kind,
      'reset',
    );
    assert.equal(classifyFailure('FULCRUM_ERR_UPSTREAM_RESET').kind, 'reset');
    assert.equal(classifyFailure(new Error('something odd')).kind, 'other');
  });
});
