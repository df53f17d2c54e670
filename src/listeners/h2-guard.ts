/**
 * Per-connection abuse counters for HTTP/2, on top of what Node and nghttp2 already enforce
 * (docs/http2.md#defences lists both). A connection over a limit gets GOAWAY(ENHANCE_YOUR_CALM)
 * and is destroyed; no other connection is touched.
 *
 * - Rapid reset (CVE-2023-44487), counted as Envoy counts "premature resets": a stream the client
 *   reset before any response head was sent and within `PREMATURE_LIFETIME_MS` of opening cost
 *   the proxy a route, a pick and an upstream try for nothing. A connection is closed when, in one
 *   `reset_window`, more than `max_resets` streams were premature AND they were at least half of
 *   the streams that ended in that window. A client that cancels many streams among many it lets
 *   finish (a browser leaving a page, gRPC deadlines) is never closed; one whose streams are mostly
 *   reset at birth is. nghttp2's own limit (a token bucket of 1000, refilled at 33/s) is looser.
 * - SETTINGS and PING floods: every SETTINGS and PING obliges an acknowledgement. More than
 *   `max_control_frames` of them in `control_window` close the connection. (nghttp2 also stops a
 *   peer that does not read its acknowledgements: at 1000 queued it ends the session.)
 *
 * The counters (PrematureResets, WindowCounter) are shared with Fulcrum's own codec
 * (src/http2/connection.ts), which counts the same events on its frames; guardSession() wires them
 * to a node:http2 session (the `node` codec).
 *
 * With node:http2 the close is deferred to the next turn of the event loop: stream 'close' and 'ping' events run
 * inside nghttp2's callbacks, and destroying the session there frees memory nghttp2 is still
 * using (Node aborts: `Http2Session::CheckAllocatedSize`, nodejs/node#38964).
 */
import { constants, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Http2Settings } from '../config/types.ts';

/** Envoy's `premature_reset_min_stream_lifetime_seconds` (default 1 s). */
export const PREMATURE_LIFETIME_MS = 1000;

/** A fixed-window counter: `hit` returns true once more than `max` hits fell in one window. */
export class WindowCounter {
  private count = 0;
  private startMs = 0;
  private readonly max: number;
  private readonly windowMs: number;

  constructor(max: number, windowMs: number) {
    this.max = max;
    this.windowMs = windowMs;
  }

  hit(nowMs: number): boolean {
    if (nowMs - this.startMs >= this.windowMs) {
      this.startMs = nowMs;
      this.count = 0;
    }
    return ++this.count > this.max;
  }
}

/**
 * Streams ended on one connection, per fixed window: `ended` says whether the connection is now
 * abusive (more than `maxPremature` premature resets, and at least half of the streams that
 * ended in the window).
 */
export class PrematureResets {
  private ended = 0;
  private premature = 0;
  private startMs = 0;
  private readonly maxPremature: number;
  private readonly windowMs: number;

  constructor(maxPremature: number, windowMs: number) {
    this.maxPremature = maxPremature;
    this.windowMs = windowMs;
  }

  /** A stream ended; `premature`: reset by the client, young and unanswered. True: close the connection. */
  streamEnded(premature: boolean, nowMs: number): boolean {
    if (nowMs - this.startMs >= this.windowMs) {
      this.startMs = nowMs;
      this.ended = 0;
      this.premature = 0;
    }
    this.ended++;
    if (!premature) return false;
    this.premature++;
    return this.premature > this.maxPremature && this.premature * 2 >= this.ended;
  }
}

/** Watch one server session; `onAbuse` is told why before the session is closed. 0 disables a limit. */
export function guardSession(
  session: ServerHttp2Session,
  s: Http2Settings,
  nowMs: () => number,
  onAbuse: (reason: 'rapid-reset' | 'control-flood') => void,
): void {
  let closing = false;
  const abuse = (reason: 'rapid-reset' | 'control-flood') => {
    if (closing || session.destroyed) return;
    closing = true;
    onAbuse(reason);
    // Never inside nghttp2's callbacks (see the file comment).
    setImmediate(() => {
      if (session.destroyed) return;
      session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.destroy();
    });
  };
  if (s.maxResets > 0) {
    const resets = new PrematureResets(s.maxResets, s.resetWindowMs);
    session.on('stream', (stream: ServerHttp2Stream) => {
      const openedMs = nowMs();
      stream.once('close', () => {
        // A session going down closes its streams too: that is not the client resetting them.
        if (closing || session.destroyed || session.closed) return;
        const now = nowMs();
        // Unanswered at close: the client reset it (the proxy answers every stream it does not reset
        // after the head, as when a target fails mid-body).
        const premature = !stream.headersSent && now - openedMs < PREMATURE_LIFETIME_MS;
        if (resets.streamEnded(premature, now)) abuse('rapid-reset');
      });
    });
  }
  if (s.maxControlFrames > 0) {
    const control = new WindowCounter(s.maxControlFrames, s.controlWindowMs);
    const onControl = () => {
      if (control.hit(nowMs())) abuse('control-flood');
    };
    session.on('ping', onControl);
    session.on('remoteSettings', onControl);
  }
}
