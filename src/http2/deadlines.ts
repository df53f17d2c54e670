/**
 * The deadlines of an HTTP/2 server connection of Fulcrum's own codec (connection.ts), on the
 * connection's Clock: the keep-alive timer (idle → GOAWAY; output stuck in a peer that does not
 * read, or a graceful close that never finishes → destroyed) and the SETTINGS acknowledgement
 * deadline of RFC 9113 §6.5.3 (unacknowledged → connection error SETTINGS_TIMEOUT).
 */
import type { Socket } from 'node:net';
import type { Clock, TimerHandle } from '../core/clock.ts';
import { E_SETTINGS_TIMEOUT } from './frames.ts';

/**
 * How long the client has to acknowledge our SETTINGS before the connection error
 * SETTINGS_TIMEOUT: nghttpx's default (docs/http2.md, "Flow control and deadlines").
 */
export const SETTINGS_ACK_TIMEOUT_MS = 10_000;

/** What the deadlines need of their connection (connection.ts). */
export interface DeadlineOwner {
  readonly socket: Socket;
  readonly dead: boolean;
  readonly closing: boolean;
  readonly settingsAcked: boolean;
  /** When a frame last went either way (monotonic ms). */
  readonly lastActivityMs: number;
  close(): void;
  destroy(): void;
  fail(code: number): void;
  /** The output stayed stuck for a keep-alive period (reported as abuse, then destroyed). */
  stuckOutput(): void;
}

export class ConnectionDeadlines {
  private readonly c: DeadlineOwner;
  private readonly clock: Clock;
  private readonly keepaliveMs: number;
  private idleTimer: TimerHandle | null = null;
  private settingsTimer: TimerHandle | null;

  constructor(c: DeadlineOwner, clock: Clock, keepaliveMs: number) {
    this.c = c;
    this.clock = clock;
    this.keepaliveMs = keepaliveMs;
    // 0: no idle timeout (as node:http2's setTimeout(0)).
    if (keepaliveMs > 0) this.idleTimer = clock.setTimer(keepaliveMs, onIdleTimer, this);
    this.settingsTimer = clock.setTimer(SETTINGS_ACK_TIMEOUT_MS, onSettingsTimer, this);
  }

  /** The client acknowledged our SETTINGS. */
  settingsAcked(): void {
    if (this.settingsTimer !== null) this.clock.clearTimer(this.settingsTimer);
    this.settingsTimer = null;
  }

  /** The socket closed: no deadline is left. */
  stop(): void {
    if (this.idleTimer !== null) this.clock.clearTimer(this.idleTimer);
    this.idleTimer = null;
    this.settingsAcked();
  }

  onSettingsTimeout(): void {
    this.settingsTimer = null;
    if (!this.c.settingsAcked) this.c.fail(E_SETTINGS_TIMEOUT);
  }

  /** The keep-alive timer: idle → GOAWAY; stuck output or a close that never finished → destroy. */
  onIdle(): void {
    this.idleTimer = null;
    const c = this.c;
    if (c.socket.destroyed) return;
    const idle = this.clock.monoMs() - c.lastActivityMs;
    const limit = this.keepaliveMs;
    if (idle >= limit) {
      if (c.dead || c.socket.writableLength > 0) {
        if (c.socket.writableLength > 0 && !c.dead) return c.stuckOutput();
        return c.destroy();
      }
      // Idle again after our GOAWAY: a stream holds the close open and nothing moves (a response
      // waiting for a window the client, gone or silent, will never open). Without this the
      // connection and its descriptor were kept for ever (found by fuzz-http2).
      if (c.closing) return c.destroy();
      c.close();
      this.idleTimer = this.clock.setTimer(limit, onIdleTimer, this);
      return;
    }
    this.idleTimer = this.clock.setTimer(limit - idle, onIdleTimer, this);
  }
}

function onIdleTimer(d: ConnectionDeadlines): void {
  d.onIdle();
}

function onSettingsTimer(d: ConnectionDeadlines): void {
  d.onSettingsTimeout();
}
