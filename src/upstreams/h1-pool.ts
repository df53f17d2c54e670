/**
 * HTTP/1.1 to one target: a keep-alive pool of connections on net.Socket (or tls) and the client
 * side of each request on them. Written by hand rather than with undici because this is the hot
 * path (ARCHITECTURE.md rule 8): the request head arrives pre-encoded and leaves in one write; the
 * response head is read by the same parser as client requests (src/http1/) and kept as bytes; a
 * chunked body can be handed on as it came, validated but not re-framed; backpressure is the
 * socket's own pause/resume.
 *
 * Reuse: a connection goes back to the pool only when its response was read to the end, its
 * request was written whole, nothing followed the response, and neither side asked to close; it
 * is dropped when idle longer than `upstream_keepalive_ms`, or than the target's own
 * `Keep-Alive: timeout=N` less a second (a Node target closes idle connections after 5 s, and a
 * request sent on a connection the target is closing fails for nothing). Idle connections are
 * reused last in, first out, so that surplus ones age out.
 *
 * Limits: `maxConnections` (the circuit breaker's max_connections per target) bounds connections;
 * requests beyond it wait in a queue, first in, first out. With worker processes the bound is the
 * node's: the pool is handed `slots` (connection-slots.ts) and asks for one before each connection.
 *
 * Each connection (h1-target-connection.ts) reads and writes its own requests; the pool hands
 * them out and takes them back.
 */
import type { ConnectionSlots, SlotUser } from './connection-slots.ts';
import type { CallState, H1PoolOptions } from './h1-pool-contract.ts';
import { TargetConnection } from './h1-target-connection.ts';
import {
  type TargetPool,
  type UpstreamCall,
  UpstreamError,
  type UpstreamHandler,
  type UpstreamRequest,
} from './upstream-call.ts';

export type { H1PoolOptions } from './h1-pool-contract.ts';
export { UPSTREAM_MAX_HEADER_BYTES } from './h1-target-connection.ts';

export class H1Pool implements TargetPool, SlotUser {
  readonly o: H1PoolOptions;
  /** The node's connection slots (worker processes with `max_connections`), else null. */
  private readonly slots: ConnectionSlots | null;
  /** Slots asked for and not granted yet. */
  private asked = 0;
  /** Idle connections owed to another process waiting for a slot (closed as they free). */
  private owed = 0;
  /** Idle connections by TLS server name ('' for cleartext or no SNI), most recent last. */
  private readonly idle = new Map<string, TargetConnection[]>();
  private readonly all = new Set<TargetConnection>();
  private readonly queue: Call[] = [];
  private closed = false;

  constructor(o: H1PoolOptions, slots: ConnectionSlots | null = null) {
    this.o = o;
    this.slots = slots;
  }

  get size(): number {
    return this.all.size;
  }

  dispatch(req: UpstreamRequest, handler: UpstreamHandler): UpstreamCall {
    const call = new Call(this, req, handler);
    if (this.closed) {
      call.fail(new UpstreamError('closed', 'the pool is closed'));
      return call;
    }
    // An upgrade gets a connection of its own that reads as a stream (it may be handed over).
    const conn = req.upgrade ? null : this.takeIdle(req.servername);
    if (conn !== null) conn.assign(call);
    else if (this.o.maxConnections === 0 || this.all.size + this.asked < this.o.maxConnections)
      this.open(call);
    else this.queue.push(call);
    return call;
  }

  private takeIdle(servername: string): TargetConnection | null {
    const list = this.idle.get(servername);
    if (list === undefined) return null;
    while (list.length > 0) {
      const c = list.pop()!;
      if (c.reusable()) return c;
      c.destroy();
    }
    return null;
  }

  /** Open a connection for `call`, once the node grants a slot when it counts them (`front`: `call` was first in line). */
  private open(call: Call, front = false): void {
    if (this.slots === null) return this.connect(call);
    if (front) this.queue.unshift(call);
    else this.queue.push(call);
    this.asked++;
    this.slots.ask(this);
  }

  granted(): void {
    this.asked--;
    const next = this.closed ? null : this.nextQueued();
    if (next === null) this.slots!.give();
    else this.connect(next);
    this.slotsDone();
  }

  yieldOne(): void {
    for (const list of this.idle.values()) if (list.length > 0) return list.shift()!.destroy();
    if (this.owed < this.all.size) this.owed++;
  }

  private connect(call: Call): void {
    const c = new TargetConnection(this, call.req.servername, call.req.upgrade || this.o.tls !== null);
    this.all.add(c);
    c.connect(call);
  }

  /** A connection finished a request cleanly: the next queued request takes it, or it idles. */
  release(c: TargetConnection): void {
    if (this.closed) return c.destroy();
    const next = this.nextQueued();
    if (next !== null && next.req.servername === c.servername && !next.req.upgrade) return c.assign(next);
    if (next !== null) {
      // A request for another server name, or an upgrade: it opens its own connection.
      c.destroy();
      this.open(next, true);
      return;
    }
    if (this.owed > 0) {
      // Another worker waits for this target's slot: this connection makes room rather than idle.
      this.owed--;
      return c.destroy();
    }
    let list = this.idle.get(c.servername);
    if (list === undefined) {
      list = [];
      this.idle.set(c.servername, list);
    }
    list.push(c);
    c.idleSince();
  }

  /** A connection is gone: forget it, and let a queued request open a new one. */
  forget(c: TargetConnection): void {
    if (!this.all.delete(c)) return;
    const list = this.idle.get(c.servername);
    if (list !== undefined) {
      const i = list.indexOf(c);
      if (i >= 0) list.splice(i, 1);
    }
    if (this.slots !== null) {
      this.slots.give();
      this.slotsDone();
    }
    if (this.closed) return;
    const next = this.nextQueued();
    if (next !== null) this.open(next, true);
  }

  /** A queued request gave up before it got a connection. */
  dequeue(call: Call): void {
    const i = this.queue.indexOf(call);
    if (i >= 0) this.queue.splice(i, 1);
  }

  private nextQueued(): Call | null {
    return this.queue.shift() ?? null;
  }

  close(): Promise<void> {
    this.closed = true;
    for (const call of this.queue.splice(0)) call.fail(new UpstreamError('closed', 'the pool is closed'));
    for (const list of this.idle.values()) for (const c of list.splice(0)) c.destroy();
    // Busy connections finish their request, then are destroyed by release().
    this.slotsDone();
    return Promise.resolve();
  }

  destroy(): Promise<void> {
    this.closed = true;
    for (const call of this.queue.splice(0)) call.fail(new UpstreamError('closed', 'the pool is closed'));
    for (const c of [...this.all]) c.destroy();
    this.slotsDone();
    return Promise.resolve();
  }

  /** A closed pool holding no slot and waiting for none is forgotten by the slot keeper. */
  private slotsDone(): void {
    if (this.slots !== null && this.closed && this.asked === 0 && this.all.size === 0) this.slots.done();
  }
}

/** One request to the target: the try's handle (UpstreamCall) and where it stands. */
class Call implements UpstreamCall, CallState<TargetConnection> {
  readonly pool: H1Pool;
  readonly req: UpstreamRequest;
  readonly handler: UpstreamHandler;
  conn: TargetConnection | null = null;
  done = false;
  raw = false;
  bodyBytes = 0;

  constructor(pool: H1Pool, req: UpstreamRequest, handler: UpstreamHandler) {
    this.pool = pool;
    this.req = req;
    this.handler = handler;
  }

  resume(): void {
    if (!this.done && this.conn !== null) this.conn.resumeReading();
  }

  abort(err?: Error): void {
    if (this.done) return;
    const e = err ?? new UpstreamError('aborted', 'the request was given up');
    const c = this.conn;
    if (c === null) {
      this.pool.dequeue(this);
      this.fail(e);
      return;
    }
    c.fail(e);
  }

  passRaw(): void {
    this.raw = true;
  }

  /** End the call with an error (once). */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.handler.onError(err);
  }
}
