/**
 * Connection slots kept by someone other than the pool: with worker processes, `max_connections`
 * per target is counted by the node's primary (src/workers/breakers.ts), so a pool asks it for a
 * slot before it opens a connection and gives the slot back when the connection is gone. A pool
 * without slots (one process, or no limit) counts its own connections and never asks.
 */
import type { GuardLink } from './guard.ts';

/** What the slot keeper calls on the pool. */
export interface SlotUser {
  /** One slot asked for is now the pool's: open a connection with it, or give it back. */
  granted(): void;
  /** Another process waits for a slot: close an idle connection (now, or when one frees). */
  yieldOne(): void;
}

export interface ConnectionSlots {
  /** Ask for one slot; `user.granted()` follows, at once or once one frees (first asked, first served). */
  ask(user: SlotUser): void;
  /** Give one slot back (its connection is gone, or it was granted when no longer needed). */
  give(): void;
  /** The pool is closed and every slot given back: forget it. */
  done(): void;
}

/** Circuit-breaker counts kept for the node elsewhere (a worker's primary): tries and connections. */
export interface NodeBreakers extends GuardLink {
  /** The connection slots of the pool under `key` (a poolKey). */
  slots(key: string, maxConnections: number): ConnectionSlots;
}
