/**
 * A `udp` listener (docs/l4.md). UDP has no connections, so the listener keeps a session table
 * keyed by the client's address and port, as LVS keeps its connection hash table for UDP: the first
 * datagram of a client is routed and balanced, and the session it opens pins that client to its
 * target until no datagram has gone either way for the service's `read_timeout`. Each session has
 * its own connected socket towards the target (so the target sees one stable peer per client and
 * an ICMP port unreachable shows up as ECONNREFUSED, reported to passive health as a tcp failure);
 * replies are sent back from the listener's own socket, so the client sees them come from the
 * address it sent to.
 *
 * The table is bounded by `max_sessions`; a new client's datagrams are dropped while it is full
 * (counted), rather than evicting a live session, so a flood of spoofed sources cannot push out
 * the real clients. Expiry is a sweep, not a timer per session.
 */

import type { Buffer } from 'node:buffer';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { type AddressInfo, isIP } from 'node:net';
import type { ListenerSpec } from '../config/types.ts';
import { unmapIPv4 } from '../core/net.ts';
import type { CounterChild } from '../observability/registry.ts';
import { countL4, l4ByteCounters, l4HashKey } from '../proxy/tcp-tunnel.ts';
import type { Generation, RouteRuntime } from '../runtime/generation.ts';
import type { Runtime } from '../runtime/runtime.ts';
import type { TargetState } from '../upstreams/target.ts';
import { bindOptions } from './bind-options.ts';

/** Datagrams kept for a session while its socket towards the target connects (DNS, if a hostname). */
const MAX_PENDING_DATAGRAMS = 64;

interface Session {
  readonly key: string;
  readonly clientIp: string;
  readonly clientPort: number;
  readonly gen: Generation;
  readonly route: RouteRuntime;
  readonly target: TargetState;
  readonly up: Socket;
  readonly idleMs: number;
  readonly bytesIn: CounterChild;
  readonly bytesOut: CounterChild;
  lastMs: number;
  /** Datagrams waiting for the socket to connect; null once connected. */
  pending: Buffer[] | null;
  closed: boolean;
}

export class UdpListener {
  readonly spec: ListenerSpec;
  private readonly runtime: Runtime;
  private readonly socket: Socket;
  private readonly sessions = new Map<string, Session>();
  private sweeper: NodeJS.Timeout | null = null;
  private sweepMs = 0;
  private closed = false;

  constructor(spec: ListenerSpec, runtime: Runtime) {
    this.spec = spec;
    this.runtime = runtime;
    this.socket = createSocket({
      type: isIP(spec.address) === 6 ? 'udp6' : 'udp4',
      ...(bindOptions.reusePort ? { reusePort: true } : {}),
    });
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    this.socket.on('error', (err) =>
      this.runtime.logs.app.warn({ listener: spec.name, err: err.message }, 'udp error'),
    );
  }

  /** Live sessions (tests, status). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  private current(): ListenerSpec {
    for (const l of this.runtime.current.snapshot.node.listeners) if (l.name === this.spec.name) return l;
    return this.spec;
  }

  private drop(reason: string): void {
    this.runtime.metrics.udpDropped.labels({ listener: this.spec.name, reason }).inc();
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}|${rinfo.port}`;
    const s = this.sessions.get(key) ?? this.open(key, rinfo);
    if (s === null) return;
    s.lastMs = this.runtime.clock.monoMs();
    s.bytesIn.inc(msg.length);
    if (s.pending !== null) {
      if (s.pending.length < MAX_PENDING_DATAGRAMS) s.pending.push(msg);
      else this.drop('limit');
      return;
    }
    s.up.send(msg);
  }

  private open(key: string, rinfo: RemoteInfo): Session | null {
    const runtime = this.runtime;
    const name = this.spec.name;
    if (this.sessions.size >= this.current().maxSessions) {
      this.drop('limit');
      return null;
    }
    const gen = runtime.current;
    const clientIp = unmapIPv4(rinfo.address);
    const local = this.socket.address();
    const route = gen.l4Router.match({
      protocol: 'udp',
      sourceIp: clientIp,
      sourcePort: rinfo.port,
      destIp: unmapIPv4(local.address),
      destPort: local.port,
      sni: null,
    });
    if (route === null) {
      this.drop('no-route');
      return null;
    }
    const service = route.service;
    if (route.disabled !== null || service === null) {
      this.drop('route-disabled');
      return null;
    }
    const upstream = service.upstream;
    const hashKey = upstream.hashing ? l4HashKey(service, clientIp) : null;
    const target = upstream.picker.pick({ clientIp, hashKey }, null);
    if (target === null) {
      this.drop('no-healthy-target');
      countL4(runtime, name, route, 'no-healthy-target');
      return null;
    }
    const up = createSocket({ type: isIP(target.host) === 6 ? 'udp6' : 'udp4' });
    const bytes = l4ByteCounters(runtime, name, route);
    const s: Session = {
      key,
      clientIp,
      clientPort: rinfo.port,
      gen,
      route,
      target,
      up,
      idleMs: service.spec.readTimeoutMs,
      bytesIn: bytes.in,
      bytesOut: bytes.out,
      lastMs: runtime.clock.monoMs(),
      pending: [],
      closed: false,
    };
    this.sessions.set(key, s);
    target.start();
    gen.inflight++;
    const open = runtime.metrics.l4Open;
    open.set(name, (open.get(name) ?? 0) + 1);
    up.on('message', (msg) => {
      if (s.closed) return;
      s.lastMs = runtime.clock.monoMs();
      s.bytesOut.inc(msg.length);
      this.socket.send(msg, rinfo.port, rinfo.address);
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      // ECONNREFUSED: an ICMP port unreachable came back for an earlier datagram.
      const refused = err.code === 'ECONNREFUSED';
      if (refused) runtime.reportOutcome(target, 'tcp');
      this.close(s, refused ? 'connect-failed' : 'proxied', !refused);
    });
    up.connect(target.port, target.host, () => {
      if (s.closed) return;
      runtime.reportOutcome(target, 'connected');
      const queued = s.pending ?? [];
      s.pending = null;
      for (const m of queued) up.send(m);
    });
    this.armSweeper(s.idleMs);
    return s;
  }

  private close(s: Session, result: 'proxied' | 'connect-failed', ok: boolean): void {
    if (s.closed) return;
    s.closed = true;
    this.sessions.delete(s.key);
    try {
      s.up.close();
    } catch {
      // already closed
    }
    s.target.done(ok);
    s.gen.inflight--;
    const open = this.runtime.metrics.l4Open;
    open.set(this.spec.name, (open.get(this.spec.name) ?? 1) - 1);
    countL4(this.runtime, this.spec.name, s.route, result);
    this.runtime.onExchangeEnd(s.gen);
  }

  /** Sweep often enough for the shortest idle timeout among live sessions (a quarter of it, 25 ms to 1 s). */
  private armSweeper(idleMs: number): void {
    const every = Math.min(1000, Math.max(25, Math.floor(idleMs / 4)));
    if (this.sweeper !== null && this.sweepMs <= every) return;
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweepMs = every;
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = this.runtime.clock.monoMs();
    for (const s of this.sessions.values()) if (now - s.lastMs >= s.idleMs) this.close(s, 'proxied', true);
    if (this.sessions.size === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind({ address: this.spec.address, port: this.spec.port, ...bindOptions }, () => {
        this.socket.off('error', reject);
        resolve(this.socket.address());
      });
    });
  }

  address(): AddressInfo | null {
    return this.closed ? null : this.socket.address();
  }

  /** UDP has nothing to drain: stop receiving and end every session now. */
  stopAccepting(): Promise<void> {
    this.destroyAll();
    return Promise.resolve();
  }

  closeIdle(): void {}

  destroyAll(): void {
    for (const s of [...this.sessions.values()]) this.close(s, 'proxied', true);
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    if (!this.closed) {
      this.closed = true;
      this.socket.close();
    }
  }
}
