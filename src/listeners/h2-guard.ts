/**
 * Per-connection abuse counters for HTTP/2, on top of what Node and nghttp2 already enforce
 * (docs/http2.md#defences lists both). Each counter is a fixed window per connection; a connection
 * over a limit gets GOAWAY(ENHANCE_YOUR_CALM) and is destroyed, and no other connection is touched.
 *
 * - Rapid reset (CVE-2023-44487): a stream that closes before any response head was sent was
 *   cancelled by the client (the proxy itself resets a client stream only after its head was sent,
 *   when the target failed mid-body). Each such stream cost the proxy a route, a pick and an
 *   upstream try; `max_resets` of them in `reset_window` close the connection. Envoy counts
 *   "premature resets" the same way; nghttp2's own limit (a token bucket of 1000, refilled at
 *   33/s) is far looser.
 * - SETTINGS and PING floods: every SETTINGS and PING obliges an acknowledgement. More than
 *   `max_control_frames` of them in `control_window` close the connection. (nghttp2 also stops a
 *   peer that does not read its acknowledgements: at 1000 queued it ends the session.)
 */
import { constants, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Http2Settings } from '../config/types.ts';

/** A fixed-window counter: `hit` returns true once more than `max` hits fell in one window. */
class WindowCounter {
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

/** Watch one server session; `onAbuse` is told why before the session is closed. 0 disables a limit. */
export function guardSession(
  session: ServerHttp2Session,
  s: Http2Settings,
  nowMs: () => number,
  onAbuse: (reason: 'rapid-reset' | 'control-flood') => void,
): void {
  let closed = false;
  const abuse = (reason: 'rapid-reset' | 'control-flood') => {
    if (closed || session.destroyed) return;
    closed = true;
    onAbuse(reason);
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
  };
  if (s.maxResets > 0) {
    const resets = new WindowCounter(s.maxResets, s.resetWindowMs);
    session.on('stream', (stream: ServerHttp2Stream) => {
      stream.once('close', () => {
        // A session going down closes its streams too: that is not the client resetting them.
        if (stream.headersSent || session.destroyed || session.closed) return;
        if (resets.hit(nowMs())) abuse('rapid-reset');
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
