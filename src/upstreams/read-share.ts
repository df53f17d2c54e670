/**
 * A target connection's share of an event-loop turn.
 *
 * libuv reads a readable socket up to 32 times (64 KiB each) in one event for as long as the read
 * callback asks for more, and a relay whose client takes every write at once never asks to wait.
 * One connection could then pass 2 MiB of a response in a single turn while every other
 * connection's reads, and the next requests of every client, wait behind it. With 1 MiB responses
 * at 64 connections that made Fulcrum's p99 three to five times nginx's (docs/benchmarks.md,
 * 2026-12-07). nginx bounds the same work by its proxy buffers (8 × 4 KiB by default).
 *
 * After READ_SHARE_BYTES read from one connection, it stops reading until the end of the turn
 * (turn-end.ts: after every other I/O callback of this poll phase), and the next poll phase reads
 * it again with the others. The count carries over between turns: every 256 KiB a connection
 * reads, it lets the loop go round once, which costs a readStop and a readStart.
 */
import type { Socket } from 'node:net';
import { atTurnEnd, type TurnEndWork } from '../core/turn-end.ts';

export const READ_SHARE_BYTES = 256 * 1024;

export class ReadShare implements TurnEndWork {
  private bytes = 0;
  private waiting = false;
  private readonly socket: Socket;
  /** Whether reading may go on when the turn ends (the reader did not ask to wait meanwhile). */
  private readonly mayResume: () => boolean;

  constructor(socket: Socket, mayResume: () => boolean) {
    this.socket = socket;
    this.mayResume = mayResume;
  }

  /** Count `n` bytes read. False: the share is used up and the socket paused until the turn ends. */
  take(n: number): boolean {
    this.bytes += n;
    if (this.bytes < READ_SHARE_BYTES) return true;
    this.bytes = 0;
    this.socket.pause();
    if (!this.waiting) {
      this.waiting = true;
      atTurnEnd(this);
    }
    return false;
  }

  turnEnded(): void {
    this.waiting = false;
    if (this.mayResume()) this.socket.resume();
  }
}
