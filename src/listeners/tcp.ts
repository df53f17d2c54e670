/**
 * A `tcp` or `tls_passthrough` listener (docs/l4.md): accepts connections paused, enforces
 * `max_connections`, checks and reads a PROXY protocol header when the listener expects one (only
 * from peers in `trusted_ips`), reads the ClientHello's server name on tls_passthrough, routes with
 * the generation's L4 router and hands the connection to a TcpTunnel.
 *
 * A plain tcp listener without PROXY protocol reads nothing before connecting to the target, so
 * protocols where the server speaks first (SMTP, MySQL, PostgreSQL's SSL answer) work.
 * Listener settings other than the address are read from the generation in service on each
 * connection, so a reload that changes `max_connections` or `proxy_protocol` applies at once.
 */

import { Buffer } from 'node:buffer';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import type { L4Protocol } from '../config/l4.ts';
import type { ListenerSpec } from '../config/types.ts';
import { inCidrList, unmapIPv4 } from '../core/net.ts';
import { type ClientFacts, countL4, TcpTunnel } from '../proxy/tcp-tunnel.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { ListeningSockets } from './accept-group.ts';
import { preread } from './preread.ts';

export class TcpListener {
  readonly spec: ListenerSpec;
  private readonly server: Server;
  /** The sockets bound on the listener's port (accept-group.ts). */
  private readonly listening: ListeningSockets;
  private readonly runtime: Runtime;
  private readonly sockets = new Set<Socket>();
  private readonly protocol: L4Protocol;

  constructor(spec: ListenerSpec, runtime: Runtime) {
    this.spec = spec;
    this.runtime = runtime;
    this.protocol = spec.protocol === 'tls_passthrough' ? 'tls_passthrough' : 'tcp';
    const options = { allowHalfOpen: true, pauseOnConnect: true, noDelay: true };
    this.server = createServer(options, (s) => this.onConnection(s));
    this.listening = new ListeningSockets(this.server, options);
  }

  /** This listener's settings in the generation in service (a reload may have changed them). */
  private current(): ListenerSpec {
    for (const l of this.runtime.current.snapshot.node.listeners) if (l.name === this.spec.name) return l;
    return this.spec;
  }

  private onConnection(s: Socket): void {
    const runtime = this.runtime;
    const open = runtime.metrics.l4Open;
    const name = this.spec.name;
    this.sockets.add(s);
    runtime.connections++;
    open.set(name, (open.get(name) ?? 0) + 1);
    s.once('close', () => {
      this.sockets.delete(s);
      runtime.connections--;
      open.set(name, (open.get(name) ?? 1) - 1);
    });
    s.on('error', () => s.destroy());
    const spec = this.current();
    if (spec.maxConnections > 0 && this.sockets.size > spec.maxConnections) {
      countL4(runtime, name, null, 'limit');
      s.destroy();
      return;
    }
    const peer = unmapIPv4(s.remoteAddress ?? '');
    if (spec.proxyProtocol) {
      const trusted = runtime.current.trusted;
      if (trusted === null || !inCidrList(trusted, peer)) {
        runtime.logs.app.warn(
          { listener: name, peer },
          'PROXY protocol connection from a peer not in trusted_ips: closed',
        );
        countL4(runtime, name, null, 'refused');
        s.destroy();
        return;
      }
    }
    const hello = this.protocol === 'tls_passthrough';
    if (!spec.proxyProtocol && !hello) return this.route(s, peer, null, Buffer.alloc(0), null);
    preread(
      s,
      { proxy: spec.proxyProtocol, hello, timeoutMs: runtime.current.snapshot.node.timeouts.clientHeaderMs },
      (err, r) => {
        if (err !== null || r === null) {
          runtime.logs.app.info({ listener: name, peer, err }, 'L4 connection refused before routing');
          countL4(runtime, name, null, 'refused');
          s.destroy();
          return;
        }
        this.route(s, peer, r.proxy, r.head, r.sni);
      },
    );
  }

  private route(
    s: Socket,
    peer: string,
    proxy: {
      command: string;
      family: string;
      sourceIp: string;
      sourcePort: number;
      destIp: string;
      destPort: number;
    } | null,
    head: Buffer,
    sni: string | null,
  ): void {
    if (s.destroyed) return;
    const runtime = this.runtime;
    const gen = runtime.current;
    const real = proxy !== null && proxy.command === 'proxy' && proxy.family !== 'unknown';
    const facts: ClientFacts = {
      listener: this.spec.name,
      protocol: this.protocol,
      clientIp: real ? unmapIPv4(proxy.sourceIp) : peer,
      clientPort: real ? proxy.sourcePort : (s.remotePort ?? 0),
      localIp: real ? unmapIPv4(proxy.destIp) : unmapIPv4(s.localAddress ?? ''),
      localPort: real ? proxy.destPort : (s.localPort ?? 0),
    };
    const route = gen.l4Router.match({
      protocol: this.protocol,
      sourceIp: facts.clientIp,
      sourcePort: facts.clientPort,
      destIp: facts.localIp,
      destPort: facts.localPort,
      sni,
    });
    if (route === null) {
      countL4(runtime, this.spec.name, null, 'no-route');
      s.destroy();
      return;
    }
    if (route.disabled !== null || route.service === null) {
      countL4(runtime, this.spec.name, route, 'route-disabled');
      s.destroy();
      return;
    }
    new TcpTunnel(runtime, gen, route, s, facts, head).start();
  }

  listen(): Promise<AddressInfo> {
    const setting = this.runtime.current.snapshot.node.acceptSockets;
    return this.listening.listen(this.spec.address, this.spec.port, setting);
  }

  address(): AddressInfo | null {
    return this.listening.address();
  }

  /** Stop accepting; resolves once every open connection has ended (HAProxy lets them run too). */
  stopAccepting(): Promise<void> {
    return this.listening.close();
  }

  /** A TCP connection is never idle in the HTTP sense: nothing to close early. */
  closeIdle(): void {}

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}
