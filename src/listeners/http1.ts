/**
 * An HTTP/1.1 listener (http, and https without HTTP/2) on Node's net and tls servers, with
 * Fulcrum's own codec per connection (h1-connection.ts): no node:http server in the path. The
 * listener accepts, applies TLS termination (certificates by SNI, live rotation, mTLS) and the
 * PROXY protocol where configured, and hands each socket to an H1Connection. It also serves
 * connections another listener accepted (an h2c or https listener whose client chose HTTP/1.1).
 */

import type { Buffer } from 'node:buffer';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import { createServer as createTlsServer, type TLSSocket, type Server as TlsServer } from 'node:tls';
import type { ListenerSpec, NodeSpec } from '../config/types.ts';
import { inCidrList, unmapIPv4 } from '../core/net.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { CLEARTEXT, ListeningSockets } from './accept-group.ts';
import { H1Connection, type H1Host, type ProxiedSocket } from './h1-connection.ts';
import { preread } from './preread.ts';
import { TlsTermination } from './tls-termination.ts';

export type { ProxiedSocket } from './h1-connection.ts';

export class Http1Listener implements H1Host {
  readonly spec: ListenerSpec;
  readonly runtime: Runtime;
  private readonly server: NetServer | TlsServer;
  /** The sockets bound on the listener's port (accept-group.ts). */
  private readonly listening: ListeningSockets;
  private readonly connections = new Set<H1Connection>();
  /** TLS termination on https listeners, else null. */
  private readonly tls: TlsTermination | null;
  private draining = false;
  private drained: (() => void) | null = null;

  constructor(spec: ListenerSpec, _node: NodeSpec, runtime: Runtime) {
    this.spec = spec;
    this.runtime = runtime;
    const t = runtime.current.snapshot.node.timeouts;
    this.tls = spec.tls === null ? null : new TlsTermination(spec.tls, t.clientHeaderMs);
    if (this.tls !== null) {
      const server = createTlsServer({ ...this.tls.serverOptions(), allowHalfOpen: true });
      this.tls.attach(server, runtime.logs.app, spec.name);
      server.on('secureConnection', (s: TLSSocket) => this.accept(s, null));
      server.on('tlsClientError', (_e: Error, s: TLSSocket) => s.destroy());
      this.server = server;
      this.listening = new ListeningSockets(server, { allowHalfOpen: true });
    } else {
      const onConnection = spec.proxyProtocol
        ? (s: Socket) => this.acceptProxied(s)
        : (s: Socket) => this.accept(s, null);
      this.server = createNetServer(CLEARTEXT, onConnection);
      this.listening = new ListeningSockets(this.server, CLEARTEXT);
    }
  }

  node(): NodeSpec {
    return this.runtime.current.snapshot.node;
  }

  port(): number {
    if (this.spec.port !== 0) return this.spec.port;
    const a = this.server.address();
    return a !== null && typeof a === 'object' ? a.port : 0;
  }

  /**
   * Serve a connection (one this listener accepted, or another listener's); `initial` holds bytes
   * already read from it.
   */
  accept(socket: Socket, initial: Buffer | null): void {
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.runtime.connections++;
    this.connections.add(new H1Connection(socket, this, initial));
  }

  closed(c: H1Connection): void {
    if (!this.connections.delete(c)) return;
    this.runtime.connections--;
    if (this.draining && this.connections.size === 0) this.drained?.();
  }

  /**
   * `proxy_protocol: true` (HAProxy's `accept-proxy`): only peers in `trusted_ips` may connect;
   * each connection starts with a PROXY v1 or v2 header whose source address becomes the client's
   * address (logs, X-Forwarded-For, hashing, ip-restriction), then carries HTTP as usual.
   */
  private acceptProxied(s: Socket): void {
    const peer = unmapIPv4(s.remoteAddress ?? '');
    const trusted = this.runtime.current.trusted;
    if (trusted === null || !inCidrList(trusted, peer)) {
      this.runtime.logs.app.warn(
        { listener: this.spec.name, peer },
        'PROXY protocol connection from a peer not in trusted_ips: closed',
      );
      s.destroy();
      return;
    }
    s.on('error', () => s.destroy());
    preread(s, { proxy: true, hello: false, timeoutMs: this.node().timeouts.clientHeaderMs }, (err, r) => {
      if (err !== null || r === null) {
        this.runtime.logs.app.info({ listener: this.spec.name, peer, err }, 'PROXY protocol header refused');
        s.destroy();
        return;
      }
      const p = r.proxy;
      if (p !== null && p.command === 'proxy' && p.family !== 'unknown')
        (s as ProxiedSocket).fulcrumClientIp = unmapIPv4(p.sourceIp);
      this.accept(s, r.head.length > 0 ? r.head : null);
      s.resume();
    });
  }

  /** A reload kept this listener: new handshakes use the new certificates and TLS settings. */
  reconfigure(spec: ListenerSpec): void {
    if (this.tls !== null && spec.tls !== null) this.tls.update(spec.tls);
  }

  listen(): Promise<AddressInfo> {
    return this.listening.listen(this.spec.address, this.spec.port, this.node().acceptSockets);
  }

  address(): AddressInfo | null {
    return this.listening.address();
  }

  /** Stop accepting; idle keep-alive connections close now, busy ones after their response. */
  stopAccepting(): Promise<void> {
    this.draining = true;
    const closed = this.listening.close();
    const drained = new Promise<void>((resolve) => {
      if (this.connections.size === 0) return resolve();
      this.drained = resolve;
    });
    this.closeIdle();
    return Promise.all([closed, drained]).then(() => {});
  }

  /** During a drain: close connections between requests; busy ones close after their response. */
  closeIdle(): void {
    for (const c of this.connections) c.closeIfIdle();
  }

  destroyAll(): void {
    for (const c of this.connections) c.destroy();
  }

  get openConnections(): number {
    return this.connections.size;
  }

  /** Whether the node is draining (responses then close their connections). */
  get isDraining(): boolean {
    return this.draining;
  }
}
