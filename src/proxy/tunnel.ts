/**
 * The byte tunnel after a successful upgrade (WebSocket): the client's side and the target's
 * socket, piped both ways with backpressure (pipe pauses the faster side), a half-close carried
 * across (a FIN from one side ends the other's writable side), an error or a full close on either
 * side destroying the other, and an idle timeout as nginx applies `proxy_read_timeout` to tunnels.
 *
 * Over HTTP/1.1 the client gets the target's 101 head (its Connection and Upgrade are the
 * handshake itself, so they are kept) and the connection is the tunnel; over HTTP/2 (RFC 8441,
 * extended CONNECT) the client gets 200 with the negotiated subprotocol and extensions, and the
 * stream is the tunnel.
 */
import type { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { UpstreamHead } from '../upstreams/upstream-call.ts';
import type { Downstream } from './downstream.ts';
import { BODY_STREAM } from './downstream.ts';

export interface TunnelEnd {
  /** Bytes from client to target and back, after the upgrade. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** True when the idle timeout closed the tunnel. */
  readonly idle: boolean;
}

/** Answer the handshake on `down`, then relay between it and the target's `upstream` socket. */
export function openTunnel(
  down: Downstream,
  head: UpstreamHead,
  upstream: Duplex,
  rest: Buffer,
  via: boolean,
  idleMs: number,
  onEnd: (e: TunnelEnd) => void,
): void {
  const f = head.fields;
  if (down.h2) {
    const extra: string[] = [];
    for (let i = 0; i < f.count; i++)
      if (f.nameIs(i, 'sec-websocket-protocol') || f.nameIs(i, 'sec-websocket-extensions'))
        extra.push(f.name(i), f.value(i));
    down.writeHead({
      status: 200,
      reason: '',
      copy: null,
      named: null,
      keepTrailer: false,
      extra,
      body: BODY_STREAM,
    });
  } else {
    const extra = f.toFlat();
    if (via) extra.push('via', '1.1 fulcrum');
    down.writeHead({
      status: head.status,
      reason: 'Switching Protocols',
      copy: null,
      named: null,
      keepTrailer: false,
      extra,
      body: { kind: 'none' },
    });
  }
  const { duplex: client, head: clientHead } = down.tunnel();
  relay(client, upstream, rest, clientHead, idleMs, onEnd);
}

function relay(
  client: Duplex,
  upstream: Duplex,
  upstreamHead: Buffer,
  clientHead: Buffer,
  idleMs: number,
  onEnd: (e: TunnelEnd) => void,
): void {
  let bytesIn = clientHead.length;
  let bytesOut = upstreamHead.length;
  let idle = false;
  let closed = 0;
  const closeOne = () => {
    if (++closed === 2) onEnd({ bytesIn, bytesOut, idle });
  };
  client.on('data', (c: Buffer) => {
    bytesIn += c.length;
  });
  upstream.on('data', (c: Buffer) => {
    bytesOut += c.length;
  });
  client.on('error', () => upstream.destroy());
  upstream.on('error', () => client.destroy());
  client.once('close', () => {
    upstream.destroy();
    closeOne();
  });
  upstream.once('close', () => {
    client.destroy();
    closeOne();
  });
  if (idleMs > 0) {
    // Idle means neither side sent anything: a socket's own timer resets on traffic either way
    // through it, and each tunnel byte crosses both sockets.
    const s = upstream as Duplex & { setTimeout?: (ms: number, cb: () => void) => void };
    if (typeof s.setTimeout === 'function')
      s.setTimeout(idleMs, () => {
        idle = true;
        client.destroy();
      });
  }
  if (upstreamHead.length > 0) client.write(upstreamHead);
  if (clientHead.length > 0) upstream.write(clientHead);
  upstream.pipe(client);
  client.pipe(upstream);
  client.resume();
}
