/**
 * The admin listener (node:http: it is off the hot path): `GET /status`, `GET /metrics`, the
 * Kong-style entity API (resources.ts), the whole-configuration endpoints (config-routes.ts),
 * `GET /openapi.json`, and the dashboard (dashboard.ts, which logs browsers in itself). Optional
 * bearer-token auth, compared in constant time; every change is audited by ConfigControl.
 * `GET /status/ready` answers without the token: a load balancer's or orchestrator's readiness
 * probe often cannot send one, and it tells nothing but ready or not.
 */
import { Buffer } from 'node:buffer';
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { AdminSpec } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import { TlsTermination } from '../listeners/tls-termination.ts';
import type { ConfigControl, Refusal } from '../runtime/config-control.ts';
import { addConfigRoutes, type HealthSource } from './config-routes.ts';
import { addCredentialRoutes } from './credentials.ts';
import { Dashboard, type DashboardSources } from './dashboard.ts';
import { addKongRoutes, type KongSources } from './kong-routes.ts';
import { openApiDocument } from './openapi.ts';
import { redactSecrets } from './redact.ts';
import { crossSiteRefusal, DEFAULT_MEDIA, mediaRefusal } from './request-guard.ts';
import { addEntityRoutes, type DiscoveredTargets } from './resources.ts';
import { type Reply, Router } from './router.ts';

export interface AdminSources extends HealthSource {
  status(): unknown | Promise<unknown>;
  metrics(): Promise<string>;
  readonly control: ConfigControl;
  /** The token in force (from the configuration in service), or '' when auth is off. */
  token(): string;
  /** `admin.allowed_hosts` in force, lower case. */
  allowedHosts(): readonly string[];
  /** `GET /status/ready`: whether the node is loaded, bound and not draining. */
  readiness(): { ready: boolean; message: string };
  readonly dashboard: DashboardSources;
  readonly clock: Clock;
  /** Discovered targets per upstream for `GET /upstreams/{u}/targets` (src/discovery/). */
  readonly discoveredTargets?: DiscoveredTargets;
  /** Kong's plugin endpoints and node facts (kong-routes.ts); absent, none are cached. */
  readonly kong?: KongSources;
}

const NO_KONG: KongSources = { proxyCaches: () => new Map(), nodeId: '00000000-0000-4000-8000-000000000000' };

/** `GET /status`: Fulcrum's status with Kong's fields beside it (`database`, `server`, `configuration_hash`). */
function kongStatus(status: unknown): unknown {
  const s = status as Record<string, unknown>;
  const config = (s.config ?? {}) as Record<string, unknown>;
  return {
    ...s,
    // A cluster node says whether its Redis answers (src/runtime/node.ts); others have no database.
    database: s.database ?? { reachable: true },
    server: { connections_active: s.connections ?? 0 },
    configuration_hash: config.hash ?? null,
  };
}

function send(res: ServerResponse, status: number, type: string, body: string, extra = {}): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(body);
}

function json(res: ServerResponse, status: number, value: unknown, extra = {}): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(value, null, 2)}\n`, extra);
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The token a request presents: `Authorization: Bearer <t>`, or Kong's `Kong-Admin-Token: <t>`. */
function presented(req: IncomingMessage): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^bearer /i.test(auth)) return auth.slice(7).trim();
  const kong = req.headers['kong-admin-token'];
  return typeof kong === 'string' ? kong : null;
}

/** Constant-time comparison (hashes first, so lengths never differ and the length does not leak). */
export function tokenMatches(given: string, want: string): boolean {
  return timingSafeEqual(digest(given), digest(want));
}

/** Answer a refusal without reading the request body. */
function refuse(req: IncomingMessage, res: ServerResponse, r: Refusal): void {
  req.resume();
  json(res, r.status, { code: r.status, ...r.body });
}

export function buildRouter(sources: AdminSources): Router {
  const router = new Router();
  addKongRoutes(router, sources.control, sources.kong ?? NO_KONG);
  router.add('GET', '/status', { summary: 'Node status', tag: 'admin' }, async () => ({
    status: 200,
    body: kongStatus(await sources.status()),
  }));
  router.add(
    'GET',
    '/status/ready',
    { summary: 'Readiness: 200 when loaded and bound, 503 while starting or draining', tag: 'admin' },
    async () => {
      const r = sources.readiness();
      return { status: r.ready ? 200 : 503, body: { message: r.message } };
    },
  );
  router.add('GET', '/metrics', { summary: 'Prometheus metrics', tag: 'admin' }, async () => ({
    status: 200,
    text: { type: 'text/plain; version=0.0.4; charset=utf-8', data: await sources.metrics() },
  }));
  router.add(
    'GET',
    '/openapi.json',
    { summary: 'This API as an OpenAPI 3 document', tag: 'admin' },
    async () => ({
      status: 200,
      body: openApiDocument(router.routes),
    }),
  );
  addConfigRoutes(router, sources.control, sources);
  addEntityRoutes(router, sources.control, sources.discoveredTargets);
  addCredentialRoutes(router, sources.control);
  return router;
}

export class AdminServer {
  readonly spec: AdminSpec;
  readonly router: Router;
  private readonly server: Server;
  private readonly sources: AdminSources;
  readonly dashboard: Dashboard;

  constructor(spec: AdminSpec, sources: AdminSources) {
    this.spec = spec;
    this.sources = sources;
    this.router = buildRouter(sources);
    this.dashboard = new Dashboard(sources.dashboard, sources.clock);
    const handler = (req: IncomingMessage, res: ServerResponse) => {
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) json(res, 500, { code: 500, name: 'internal', message: err.message });
        else res.destroy();
      });
    };
    const opts = { maxHeaderSize: 16384, headersTimeout: 10000, requestTimeout: 30000 };
    // HTTPS with the listener TLS machinery (certificate, versions, ciphers, optional mTLS).
    this.server =
      spec.tls === null
        ? createServer(opts, handler)
        : createHttpsServer({ ...opts, ...new TlsTermination(spec.tls, 10000).serverOptions() }, handler);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const want = this.sources.token();
    const crossSite = crossSiteRefusal(req, {
      scheme: this.spec.tls === null ? 'http' : 'https',
      address: this.spec.address,
      tokenRequired: want !== '',
      allowedHosts: this.sources.allowedHosts(),
    });
    if (crossSite !== null) return refuse(req, res, crossSite);
    const given = presented(req);
    const headerValid = given !== null && want !== '' && tokenMatches(given, want);
    const url = new URL(req.url ?? '/', 'http://admin');
    if (url.pathname === '/dashboard' || url.pathname.startsWith('/dashboard/'))
      return this.dashboard.handle(req, res, url, {
        token: want,
        headerValid,
        tls: this.spec.tls !== null,
        matches: (t) => tokenMatches(t, want),
      });
    const ready = url.pathname === '/status/ready' && (req.method === 'GET' || req.method === 'HEAD');
    if (want !== '' && !headerValid && !ready) {
      req.resume();
      return json(
        res,
        401,
        {
          code: 401,
          name: 'unauthorized',
          message: 'a valid admin token is required (Authorization: Bearer <token>)',
        },
        { 'www-authenticate': 'Bearer realm="fulcrum-admin"' },
      );
    }
    let segments: string[];
    try {
      segments = url.pathname.replace(/\/+$/, '').split('/').slice(1).map(decodeURIComponent);
    } catch {
      return json(res, 400, { code: 400, name: 'bad request', message: 'malformed path' });
    }
    const path = `/${segments.join('/')}`;
    const method = req.method ?? 'GET';
    const m = this.router.match(method, segments.length === 0 ? [''] : segments);
    if (m.kind === 'none') {
      req.resume();
      return json(res, 404, { code: 404, name: 'not found', message: 'Not found' });
    }
    if (m.kind === 'method') {
      req.resume();
      return json(
        res,
        405,
        { code: 405, name: 'method not allowed', message: 'Method not allowed' },
        {
          allow: m.allow.join(', '),
        },
      );
    }
    const media = mediaRefusal(req, m.route.accepts ?? DEFAULT_MEDIA);
    if (media !== null) return refuse(req, res, media);
    const reply: Reply = await m.route.handler({
      req,
      params: m.params,
      query: url.searchParams,
      path: url.pathname,
      caller: {
        who: req.socket.remoteAddress ?? 'unknown',
        token: want !== '',
        method,
        path,
      },
    });
    if (!req.complete) req.resume();
    if (reply.status === 204) {
      res.writeHead(204, { 'cache-control': 'no-store', ...reply.headers });
      res.end();
    } else if (reply.text) send(res, reply.status, reply.text.type, reply.text.data, reply.headers);
    else json(res, reply.status, want === '' ? redactSecrets(reply.body) : reply.body, reply.headers);
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
    this.dashboard.close();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
