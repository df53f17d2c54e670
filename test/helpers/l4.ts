/**
 * L4 test servers and clients on 127.0.0.1 port 0: TCP servers that greet with their name and then
 * echo, UDP echo servers that prefix replies with their name, and small awaitable clients.
 */
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpServer {
  readonly name: string;
  readonly port: number;
  readonly target: string;
  readonly server: Server;
  /** Connections accepted so far. */
  accepted: number;
  close(): Promise<void>;
}

/** A server that writes `<name>\n` on accept (unless `greet` is false) and echoes what it reads. */
export async function startEchoServer(
  name: string,
  opts: { greet?: boolean; onConnection?: (s: Socket) => void } = {},
): Promise<TcpServer> {
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, (s) => {
    res.accepted++;
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    s.on('error', () => {});
    if (opts.onConnection) return opts.onConnection(s);
    if (opts.greet !== false) s.write(`${name}\n`);
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const res: TcpServer = {
    name,
    port,
    target: `127.0.0.1:${port}`,
    server,
    accepted: 0,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
  return res;
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** An address of a proxy listener: its port, and its host when not 127.0.0.1. */
export type Dest = number | { host: string; port: number };

export async function tcpConnect(dest: Dest, localAddress?: string): Promise<Socket> {
  const { host, port } = typeof dest === 'number' ? { host: '127.0.0.1', port: dest } : dest;
  const s = connect({ host, port, localAddress, allowHalfOpen: true });
  await once(s, 'connect');
  return s;
}

/** Read until `n` bytes arrived or the socket ended; rejects after `ms`. */
export function readBytes(s: Socket, n: number, ms = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const done = (err?: Error) => {
      clearTimeout(timer);
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('close', onEnd);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      have += c.length;
      if (have >= n) {
        s.pause();
        done();
      }
    };
    const onEnd = () => done();
    const timer = setTimeout(() => done(new Error(`read ${have} of ${n} bytes in ${ms} ms`)), ms);
    s.on('data', onData);
    s.once('end', onEnd);
    s.once('close', onEnd);
    s.resume();
  });
}

/** Connect through the proxy and read the serving target's greeting line. */
export async function greeting(dest: Dest, localAddress?: string): Promise<string> {
  const s = await tcpConnect(dest, localAddress);
  const line = await readLine(s);
  s.destroy();
  return line;
}

export async function readLine(s: Socket, ms = 5000): Promise<string> {
  let text = '';
  const deadline = Date.now() + ms;
  while (!text.includes('\n')) {
    const b = await readBytes(s, 1, Math.max(1, deadline - Date.now()));
    if (b.length === 0) throw new Error(`connection closed after ${JSON.stringify(text)}`);
    text += b.toString('latin1');
  }
  const nl = text.indexOf('\n');
  // Bytes past the line go back to the socket for the next read.
  if (nl + 1 < text.length) s.unshift(Buffer.from(text.slice(nl + 1), 'latin1'));
  return text.slice(0, nl);
}

/** Resolves when the proxy closes the connection (FIN or reset); rejects after `ms`. Whether any byte arrived before is returned. */
export function closedWithin(s: Socket, ms = 5000): Promise<{ bytes: number }> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    s.on('data', (c: Buffer) => {
      bytes += c.length;
    });
    s.on('error', () => {});
    const timer = setTimeout(() => reject(new Error(`not closed within ${ms} ms`)), ms);
    // With allowHalfOpen the proxy's FIN shows as 'end' (the socket stays open until we end it too).
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ bytes });
    };
    s.once('end', done);
    s.once('close', done);
    s.resume();
  });
}

export interface UdpServer {
  readonly name: string;
  readonly port: number;
  readonly target: string;
  readonly socket: DgramSocket;
  /** `address:port` of every datagram's sender, in order. */
  readonly peers: string[];
  close(): Promise<void>;
}

/** A UDP server answering each datagram with `<name>:<payload>`. */
export async function startUdpEcho(name: string): Promise<UdpServer> {
  const socket = createSocket('udp4');
  const peers: string[] = [];
  socket.on('message', (msg, rinfo) => {
    peers.push(`${rinfo.address}:${rinfo.port}`);
    socket.send(Buffer.concat([Buffer.from(`${name}:`), msg]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', () => r()));
  const port = socket.address().port;
  return {
    name,
    port,
    target: `127.0.0.1:${port}`,
    socket,
    peers,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

/** A UDP client bound to 127.0.0.1 (or `address`), with an awaitable next reply. */
export async function udpClient(address = '127.0.0.1') {
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, address, () => r()));
  const replies: { msg: Buffer; from: string }[] = [];
  const waiters: (() => void)[] = [];
  socket.on('message', (msg, rinfo) => {
    replies.push({ msg, from: `${rinfo.address}:${rinfo.port}` });
    for (const w of waiters.splice(0)) w();
  });
  return {
    socket,
    port: socket.address().port,
    send: (port: number, text: string | Buffer) =>
      new Promise<void>((r, j) => socket.send(text, port, '127.0.0.1', (e) => (e ? j(e) : r()))),
    /** The next reply not yet taken; rejects after `ms`. */
    async next(ms = 3000): Promise<{ msg: Buffer; from: string }> {
      const deadline = Date.now() + ms;
      while (replies.length === 0) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no UDP reply within ${ms} ms`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, left);
          waiters.push(() => {
            clearTimeout(t);
            r();
          });
        });
      }
      return replies.shift()!;
    },
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}
