/**
 * Real upstream servers for integration tests, on 127.0.0.1 port 0. Each records what it received
 * and answers through a handler the test gives (default: 200 with its own name).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: Buffer;
}

export interface TestUpstream {
  readonly name: string;
  readonly port: number;
  readonly target: string;
  readonly seen: Seen[];
  readonly server: Server;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

export const nameHandler =
  (name: string): Handler =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': name });
    res.end(name);
  };

/**
 * Start an upstream. With `stream: true` the handler is called before the body is read (body is empty).
 * `address` and `port` bind elsewhere than 127.0.0.1 and port 0 (DNS tests: several loopback addresses
 * on one port).
 */
export async function startUpstream(
  name: string,
  handler?: Handler,
  opts: { stream?: boolean; address?: string; port?: number } = {},
): Promise<TestUpstream> {
  const seen: Seen[] = [];
  const h = handler ?? nameHandler(name);
  const server = createServer((req, res) => {
    if (opts.stream) {
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.alloc(0),
      });
      h(req, res, Buffer.alloc(0));
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      });
      h(req, res, body);
    });
  });
  server.keepAliveTimeout = 30000;
  const address = opts.address ?? '127.0.0.1';
  await new Promise<void>((r) => server.listen(opts.port ?? 0, address, () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    port,
    target: `${address}:${port}`,
    seen,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
