/**
 * The admin listener: `GET /status` (JSON) and `GET /metrics` (Prometheus text). The Kong-style
 * REST resources come with the admin API issue and will live beside this file, one per resource.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AdminSpec } from '../config/types.ts';

export interface AdminSources {
  status(): unknown;
  metrics(): Promise<string>;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

function json(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value, null, 2)}\n`);
}

export class AdminServer {
  readonly spec: AdminSpec;
  private readonly server: Server;

  constructor(spec: AdminSpec, sources: AdminSources) {
    this.spec = spec;
    this.server = createServer(
      { maxHeaderSize: 16384, headersTimeout: 10000, requestTimeout: 30000 },
      (req, res) => {
        this.handle(req, res, sources).catch((err: Error) => {
          if (!res.headersSent) json(res, 500, { message: err.message });
          else res.destroy();
        });
      },
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse, sources: AdminSources): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const route = path === '/status' || path === '/metrics' ? path : null;
    if (route === null) return json(res, 404, { message: 'Not found' });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return json(res, 405, { message: 'Method not allowed' });
    }
    if (route === '/status') return json(res, 200, sources.status());
    return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', await sources.metrics());
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.spec.address, port: this.spec.port }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  address(): AddressInfo | null {
    return this.server.address() as AddressInfo | null;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
