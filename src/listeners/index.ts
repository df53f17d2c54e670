/**
 * The proxy listeners the node runs, one class per protocol behind one small interface (what the
 * node's lifecycle needs: bind, address, drain, hard stop).
 */
import type { AddressInfo } from 'node:net';
import type { ListenerSpec, NodeSpec } from '../config/types.ts';
import type { Runtime } from '../runtime/runtime.ts';
import { Http1Listener } from './http1.ts';
import { Http2Listener } from './http2.ts';
import { TcpListener } from './tcp.ts';
import { TlsTermination } from './tls-termination.ts';
import { UdpListener } from './udp.ts';

export interface ProxyListener {
  readonly spec: ListenerSpec;
  listen(): Promise<AddressInfo>;
  address(): AddressInfo | null;
  /** Stop accepting; resolves when the connections (or sessions) it carried have ended. */
  stopAccepting(): Promise<void>;
  /** During a drain: close what carries nothing now (idle keep-alive connections). */
  closeIdle(): void;
  /** Drain timeout: close everything. */
  destroyAll(): void;
  /** Client connections (HTTP/2: sessions) open now, where the listener counts them. */
  readonly openConnections?: number;
  /** A swap kept this listener: take the new spec's settings that can change live (TLS material). */
  reconfigure?(spec: ListenerSpec): void;
}

export function createListener(spec: ListenerSpec, node: NodeSpec, runtime: Runtime): ProxyListener {
  switch (spec.protocol) {
    case 'tcp':
    case 'tls_passthrough':
      return new TcpListener(spec, runtime);
    case 'udp':
      return new UdpListener(spec, runtime);
    case 'h2c':
      return new Http2Listener(spec, node, runtime);
    case 'https':
      // An `http2` block on an https listener offers h2 by ALPN beside http/1.1 (docs/http2.md).
      if (spec.http2 != null && spec.tls !== null)
        return new Http2Listener(
          spec,
          node,
          runtime,
          new TlsTermination(spec.tls, node.timeouts.clientHeaderMs, ['h2', 'http/1.1']),
        );
      return new Http1Listener(spec, node, runtime);
    default:
      return new Http1Listener(spec, node, runtime);
  }
}
