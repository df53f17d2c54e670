/**
 * The two demo upstream servers `fulcrum start --demo` (and so `npm start`) runs beside the proxy,
 * so that the bundled default configuration answers at once and shows balancing at work.
 */
import { Buffer } from 'node:buffer';
import { createServer, type Server } from 'node:http';

export const DEMO_TARGETS = [
  { name: 'one', port: 9001 },
  { name: 'two', port: 9002 },
] as const;

export async function startDemoServers(host = '127.0.0.1'): Promise<Server[]> {
  const servers: Server[] = [];
  for (const { name, port } of DEMO_TARGETS) {
    const server = createServer((req, res) => {
      const body = `Hello from demo upstream ${name} (${host}:${port}): ${req.method} ${req.url}\n`;
      res.writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-demo-upstream': name,
      });
      res.end(body);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(new Error(`demo upstream ${name} cannot bind ${host}:${port}: ${err.message}`)),
      );
      server.listen(port, host, () => resolve());
    });
    servers.push(server);
  }
  return servers;
}

export async function stopDemoServers(servers: Server[]): Promise<void> {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.close(() => resolve());
          s.closeAllConnections();
        }),
    ),
  );
}
