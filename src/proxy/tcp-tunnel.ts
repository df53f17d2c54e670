/**
 * One proxied TCP connection (tcp and tls_passthrough listeners): pick a target with the
 * upstream's balancer, connect within the service's `connect_timeout` (a refused, failed or timed
 * out connect is reported to passive health as Kong's tcp_failures / timeouts and retried on another
 * target up to the service's `retries`), optionally send a PROXY protocol header, send the bytes
 * read before routing, then relay both ways with backpressure (a full socket pauses the other
 * side's reads) and half-close (a FIN from one side is passed on; the other may keep sending).
 * The connection closes when neither side moved a byte for the service's `read_timeout` (Kong
 * uses the service timeouts the same way for streams), or when either side resets.
 *
 * The target's in-flight count (least-connections) is the number of open connections to it:
 * `start()` on connect attempt, `done(ok)` once when that attempt or the connection ends.
 */
import type { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import type { PickContext } from '../balancers/types.ts';
import type { L4Protocol } from '../config/l4.ts';
import { encodeV1, encodeV2 } from '../listeners/proxy-protocol.ts';
import type { CounterChild } from '../observability/registry.ts';
import type { Generation, RouteRuntime, ServiceRuntime } from '../runtime/generation.ts';
import type { TargetState } from '../upstreams/target.ts';
import type { ProxyCore } from './core.ts';

/** How a connection ended: the `result` label of fulcrum_l4_connections_total. */
export type L4Result =
  | 'proxied'
  | 'idle-timeout'
  | 'no-route'
  | 'route-disabled'
  | 'no-healthy-target'
  | 'connect-failed'
  | 'limit'
  | 'refused';

export interface ClientFacts {
  readonly listener: string;
  readonly protocol: L4Protocol;
  /** The client's address (from a PROXY header when the listener accepts one). */
  readonly clientIp: string;
  readonly clientPort: number;
  /** The address and port the client connected to (the listener's; or the PROXY header's destination). */
  readonly localIp: string;
  readonly localPort: number;
}

/** The key a hashing upstream balances an L4 connection on: the client address (`hash_on: ip`), else none. */
export function l4HashKey(service: ServiceRuntime, clientIp: string): string | null {
  const u = service.upstream.spec;
  return u.hashOn.kind === 'ip' || u.hashFallback.kind === 'ip' ? clientIp : null;
}

/** Count one connection's end against fulcrum_l4_connections_total. */
export function countL4(
  core: ProxyCore,
  listener: string,
  route: RouteRuntime | null,
  result: L4Result,
): void {
  const labels = { listener, route: route?.label ?? '', service: route?.serviceLabel ?? '', result };
  core.metrics.l4Connections.labels(labels).inc();
}

/** The fulcrum_l4_bytes_total children of a listener and route, `in` (from the client) and `out`. */
export function l4ByteCounters(
  core: ProxyCore,
  listener: string,
  route: RouteRuntime,
): { in: CounterChild; out: CounterChild } {
  const labels = { listener, route: route.label, service: route.serviceLabel };
  return {
    in: core.metrics.l4Bytes.labels({ ...labels, direction: 'in' }),
    out: core.metrics.l4Bytes.labels({ ...labels, direction: 'out' }),
  };
}

export class TcpTunnel implements PickContext {
  private readonly core: ProxyCore;
  private readonly gen: Generation;
  private readonly route: RouteRuntime;
  private readonly service: ServiceRuntime;
  private readonly client: Socket;
  private readonly facts: ClientFacts;
  private readonly head: Buffer;
  readonly clientIp: string;
  readonly hashKey: string | null;
  private upstream: Socket | null = null;
  private target: TargetState | null = null;
  private tried: TargetState[] | null = null;
  private tries = 0;
  private connected = false;
  private ended = false;
  private result: L4Result = 'proxied';
  /** Counted as they are relayed, so the metric moves during a long transfer. */
  private readonly bytesIn: CounterChild;
  private readonly bytesOut: CounterChild;
  private clientClosed = false;
  private upstreamClosed = false;
  /** Gives up the connect under way (the client left first); null when none is. */
  private abortConnect: (() => void) | null = null;

  constructor(
    core: ProxyCore,
    gen: Generation,
    route: RouteRuntime,
    client: Socket,
    facts: ClientFacts,
    head: Buffer,
  ) {
    this.core = core;
    this.gen = gen;
    this.route = route;
    this.service = route.service!;
    this.client = client;
    this.facts = facts;
    this.head = head;
    this.clientIp = facts.clientIp;
    this.hashKey = this.service.upstream.hashing ? l4HashKey(this.service, facts.clientIp) : null;
    const bytes = l4ByteCounters(core, facts.listener, route);
    this.bytesIn = bytes.in;
    this.bytesOut = bytes.out;
    gen.inflight++;
    client.on('error', () => this.client.destroy());
    client.once('close', () => {
      this.clientClosed = true;
      if (!this.connected) this.abortConnect?.();
      else if (!this.upstreamClosed) this.upstream!.destroy();
      this.maybeEnd();
    });
  }

  /** Pick and connect; the client socket stays paused until a target accepted. */
  start(): void {
    if (this.clientClosed) return this.maybeEnd();
    const upstream = this.service.upstream;
    const t = upstream.picker.pick(this, this.tried);
    if (t === null) {
      if (this.result !== 'connect-failed') this.result = 'no-healthy-target';
      this.client.destroy();
      return;
    }
    this.target = t;
    this.tries++;
    t.start();
    const spec = this.service.spec;
    const sock = connect({ host: t.host, port: t.port, allowHalfOpen: true, noDelay: true });
    this.upstream = sock;
    this.upstreamClosed = false;
    sock.setTimeout(spec.connectTimeoutMs);
    const onFail = (outcome: 'tcp' | 'timeout') => {
      this.abortConnect = null;
      sock.off('connect', onConnect);
      sock.destroy();
      this.core.reportOutcome(t, outcome);
      t.done(false);
      this.upstream = null;
      this.result = 'connect-failed';
      if (this.clientClosed) return this.maybeEnd();
      if (this.tries <= spec.retries) {
        if (this.tried === null) this.tried = [t];
        else this.tried.push(t);
        this.core.metrics.retries.labels({ upstream: upstream.spec.name, reason: 'connect-failure' }).inc();
        return this.start();
      }
      this.client.destroy();
    };
    const onError = () => onFail('tcp');
    const onTimeout = () => onFail('timeout');
    const onConnect = () => {
      this.abortConnect = null;
      sock.off('error', onError);
      sock.off('timeout', onTimeout);
      this.onConnected(sock, t);
    };
    sock.once('error', onError);
    sock.once('timeout', onTimeout);
    sock.once('connect', onConnect);
    this.abortConnect = () => {
      this.abortConnect = null;
      sock.off('connect', onConnect);
      sock.off('timeout', onTimeout);
      sock.off('error', onError);
      sock.on('error', () => {});
      sock.destroy();
      // Not the target's failure: the client went away while it was connecting.
      t.done(true);
      this.upstream = null;
    };
  }

  private onConnected(up: Socket, t: TargetState): void {
    this.connected = true;
    this.result = 'proxied';
    this.core.reportOutcome(t, 'connected');
    const client = this.client;
    const spec = this.service.spec;
    const f = this.facts;
    if (spec.proxyProtocol !== 'off') {
      const a = { sourceIp: f.clientIp, sourcePort: f.clientPort, destIp: f.localIp, destPort: f.localPort };
      up.write(spec.proxyProtocol === 'v1' ? encodeV1(a) : encodeV2(a));
    }
    if (this.head.length > 0) {
      this.bytesIn.inc(this.head.length);
      up.write(this.head);
    }
    const idleMs = spec.readTimeoutMs;
    up.setTimeout(idleMs);
    client.setTimeout(idleMs);
    const onIdle = () => {
      this.result = 'idle-timeout';
      client.destroy();
      up.destroy();
    };
    up.on('timeout', onIdle);
    client.on('timeout', onIdle);
    up.on('error', () => up.destroy());
    up.once('close', () => {
      this.upstreamClosed = true;
      if (!this.clientClosed) client.destroy();
      this.maybeEnd();
    });
    client.on('data', (c: Buffer) => {
      this.bytesIn.inc(c.length);
      if (!up.write(c)) client.pause();
    });
    up.on('drain', () => client.resume());
    up.on('data', (c: Buffer) => {
      this.bytesOut.inc(c.length);
      if (!client.write(c)) up.pause();
    });
    client.on('drain', () => up.resume());
    // Half-close: pass each side's FIN on once what it sent before has been written.
    client.on('end', () => up.end());
    up.on('end', () => client.end());
    client.resume();
  }

  /** Once both sockets are gone: release the target and the generation, count the connection. */
  private maybeEnd(): void {
    if (this.ended || !this.clientClosed || (this.upstream !== null && !this.upstreamClosed)) return;
    this.ended = true;
    if (this.connected && this.target !== null) this.target.done(true);
    this.gen.inflight--;
    countL4(this.core, this.facts.listener, this.route, this.result);
    this.core.onExchangeEnd(this.gen);
  }
}
