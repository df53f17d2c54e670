/**
 * Work held until the end of the current event-loop turn: after every I/O callback of this poll
 * phase has run (setImmediate's check phase), in the order it was asked for.
 *
 * Why: the proxy's small writes (a whole short response, a short request whose body is in hand) are
 * written together there rather than each as soon as it is ready. The syscalls are the same, but
 * a peer asleep on another core is woken by the first of them and finds the rest ready, where
 * writes spread over the turn wake it once each; on a virtual machine each such wake-up is an
 * inter-processor interrupt and a VM exit. Netty's FlushConsolidationHandler does the same for the
 * same reason. Not a timer: nothing waits for time to pass, only for the turn to finish.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';

export interface TurnEndWork {
  /** The turn ended: do what was held. */
  turnEnded(): void;
}

let queue: TurnEndWork[] = [];
let spare: TurnEndWork[] = [];
let scheduled = false;

function runQueue(): void {
  scheduled = false;
  const q = queue;
  // Work queued while this runs goes to the next turn's list.
  queue = spare;
  for (let i = 0; i < q.length; i++) q[i]!.turnEnded();
  q.length = 0;
  spare = q;
}

/** Call `work.turnEnded()` at the end of this turn (once per call: the caller avoids repeats). */
export function atTurnEnd(work: TurnEndWork): void {
  queue.push(work);
  if (!scheduled) {
    scheduled = true;
    setImmediate(runQueue);
  }
}

/**
 * Bytes for one socket held until the end of the turn (atTurnEnd), then written in one write.
 * Whatever else the owner writes to the socket must come after them: it calls flush() first.
 */
export class TurnEndWriter implements TurnEndWork {
  private readonly socket: Socket;
  private held: Buffer | null = null;

  constructor(socket: Socket) {
    this.socket = socket;
  }

  hold(b: Buffer): void {
    if (this.held === null) {
      this.held = b;
      atTurnEnd(this);
    } else this.held = Buffer.concat([this.held, b]);
  }

  /** Write what is held, now (the turn ended, or other bytes are about to follow). */
  flush(): void {
    const b = this.held;
    if (b === null) return;
    this.held = null;
    if (!this.socket.destroyed) this.socket.write(b);
  }

  /** The socket is being dropped: what is held goes nowhere. */
  drop(): void {
    this.held = null;
  }

  turnEnded(): void {
    this.flush();
  }
}
