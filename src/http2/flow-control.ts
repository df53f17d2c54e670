/**
 * Receive flow control of the HTTP/2 server codec (connection.ts): the connection window and each
 * stream's window are given back to the client only as a stream's reader takes the data (the
 * body's consumer, i.e. the write towards the target, accepted it), never as it arrives. What
 * Fulcrum holds of a client's request bodies is then bounded by the connection window, however
 * many streams upload to targets that do not read (as nghttp2 with manual consumption and Envoy's
 * buffer limits do), instead of max_concurrent_streams times the stream window.
 *
 * The connection window is CONN_WINDOW_STREAMS stream windows (64 KiB streams: 1 MiB, Envoy's
 * recommended edge setting), so that a few stalled uploads do not stop the others.
 */
import { MAX_WINDOW } from './frames.ts';

/** Stream windows in the connection window: as many stalled uploads are needed to stop the rest. */
export const CONN_WINDOW_STREAMS = 16;
/** The window every connection starts with (RFC 9113 §6.9.2), whatever the settings. */
const DEFAULT_WINDOW = 65535;
/** Connection window taken back and given back in one WINDOW_UPDATE (small: withheld window is lost to the streams). */
const CONN_REFUND_BYTES = 32768;

/** A stream's side of receive flow control (stream.ts). */
export interface ReceivingStream {
  readonly id: number;
  readonly closed: boolean;
  readonly remoteClosed: boolean;
  /** Bytes the peer may still send before we give window back. */
  recvWindow: number;
  /** Bytes taken by the consumer, not yet given back in a WINDOW_UPDATE. */
  unacked: number;
}

/** Where WINDOW_UPDATE frames go (stream-frames.ts, then the connection's next flush). */
export interface WindowUpdates {
  writeWindowUpdate(id: number, n: number): void;
  flushSoon(): void;
}

export class ReceiveWindows {
  /** The connection window we keep open for the client. */
  readonly connectionWindow: number;
  /** The stream window (SETTINGS_INITIAL_WINDOW_SIZE) we advertise. */
  readonly streamWindow: number;
  /** Bytes received on the connection and not yet taken by a reader (or dropped): what Fulcrum holds. */
  held = 0;
  /** Bytes the client may still send on the connection. */
  private window = DEFAULT_WINDOW;
  /** Bytes taken, not yet given back in a WINDOW_UPDATE on stream 0. */
  private unacked = 0;
  private readonly out: WindowUpdates;

  constructor(out: WindowUpdates, streamWindow: number) {
    this.out = out;
    this.streamWindow = streamWindow;
    this.connectionWindow = Math.min(
      MAX_WINDOW,
      Math.max(DEFAULT_WINDOW, streamWindow * CONN_WINDOW_STREAMS),
    );
  }

  /** Raise the connection window from its default to ours (sent right after our SETTINGS). */
  open(): void {
    if (this.connectionWindow === DEFAULT_WINDOW) return;
    this.out.writeWindowUpdate(0, this.connectionWindow - DEFAULT_WINDOW);
    this.window = this.connectionWindow;
  }

  /** A DATA frame of `n` bytes (padding included) arrived. False: past the window (FLOW_CONTROL_ERROR). */
  received(n: number): boolean {
    if (n > this.window) return false;
    this.window -= n;
    this.held += n;
    return true;
  }

  /** `n` received bytes were taken by a stream's reader: both windows are given back. */
  consumed(st: ReceivingStream, n: number): void {
    this.released(n);
    if (st.closed || st.remoteClosed) return;
    st.unacked += n;
    if (st.unacked < this.streamWindow >> 1) return;
    this.out.writeWindowUpdate(st.id, st.unacked);
    st.recvWindow += st.unacked;
    st.unacked = 0;
    this.out.flushSoon();
  }

  /**
   * `n` received bytes left Fulcrum without a stream to give window to (taken after the client
   * ended the stream, dropped with a closed or reset stream, on a stream unknown): the connection
   * window only. Given back in batches (at once when nothing else is held).
   */
  released(n: number): void {
    if (n <= 0) return;
    this.held -= n;
    this.unacked += n;
    if (this.unacked < CONN_REFUND_BYTES && this.held > 0) return;
    this.out.writeWindowUpdate(0, this.unacked);
    this.window += this.unacked;
    this.unacked = 0;
    this.out.flushSoon();
  }
}
