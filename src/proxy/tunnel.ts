/**
 * The byte tunnel after a successful upgrade (WebSocket): the client's socket and the target's,
 * piped both ways with backpressure (pipe pauses the faster side), a half-close carried across
 * (a FIN from one side ends the other's writable side), an error or a full close on either side
 * destroying the other, and an idle timeout as nginx applies `proxy_read_timeout` to tunnels.
 */

import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex, type Readable } from 'node:stream';

export interface TunnelEnd {
  /** Bytes from client to target and back, after the upgrade. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** True when the idle timeout closed the tunnel. */
  readonly idle: boolean;
}

/**
 * Write `responseHead` (the 101 and its headers) to the client, send `clientHead` (bytes the client
 * sent after its request head) to the target, then relay until both sides are closed.
 */
export function openTunnel(
  client: Socket | Duplex,
  upstream: Duplex,
  responseHead: string,
  clientHead: Buffer,
  idleMs: number,
  onEnd: (e: TunnelEnd) => void,
): void {
  let bytesIn = clientHead.length;
  let bytesOut = 0;
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
    // Idle means neither side sent anything: socket timeouts reset on activity in either direction
    // of that socket, and each tunnel byte crosses both sockets.
    setIdleTimeout(client, idleMs, () => {
      idle = true;
      client.destroy();
    });
  }
  if (responseHead !== '') client.write(responseHead);
  if (clientHead.length > 0) upstream.write(clientHead);
  upstream.pipe(client);
  client.pipe(upstream);
  client.resume();
}

/**
 * A socket's own idle timer; for an HTTP/2 stream (a Duplex over its request and response), a
 * timer re-armed by traffic in either direction.
 */
function setIdleTimeout(client: Socket | Duplex, ms: number, onIdle: () => void): void {
  if ('setTimeout' in client && typeof client.setTimeout === 'function') {
    (client as Socket).setTimeout(ms, onIdle);
    return;
  }
  let timer = setTimeout(onIdle, ms);
  timer.unref();
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(onIdle, ms);
    timer.unref();
  };
  client.on('data', touch);
  client.on('close', () => clearTimeout(timer));
}

/**
 * RFC 8441: a WebSocket over an HTTP/2 stream (extended CONNECT) whose target spoke HTTP/1.1 and
 * answered 101. The client gets 200 with the negotiated subprotocol and extensions, then the
 * stream (its request and response as one Duplex) carries the WebSocket bytes both ways.
 */
export function openH2Tunnel(
  req: Readable,
  res: ServerResponse,
  rawHeaders: readonly Buffer[],
  upstream: Duplex,
  clientHead: Buffer,
  idleMs: number,
  onEnd: (e: TunnelEnd) => void,
): void {
  const headers: Record<string, string> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toString('latin1').toLowerCase();
    if (name === 'sec-websocket-protocol' || name === 'sec-websocket-extensions')
      headers[name] = rawHeaders[i + 1]!.toString('latin1');
  }
  res.writeHead(200, headers);
  openTunnel(Duplex.from({ readable: req, writable: res }), upstream, '', clientHead, idleMs, onEnd);
}
