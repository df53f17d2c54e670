/**
 * The dashboard on the admin listener (docs/observability.md#dashboard): a static page
 * (assets/dashboard/, shipped in the package, no build step, no CDN) that opens one server-sent
 * event stream, `GET /dashboard/events`. The stream sends the configuration in service (`config`)
 * when it connects and whenever a generation is put in service, and the live figures (`stats`)
 * every second. One timer serves every open page: the figures are built once per tick, not once
 * per viewer, and not at all while nobody watches.
 *
 * A browser cannot send `Authorization` on a navigation, so with an admin token set the page is
 * reached through a form (POST /dashboard/login) or once through `?token=`; either sets a cookie
 * that opens the dashboard, and only the dashboard (read-only), for 12 hours. The cookie holds an
 * expiry and an HMAC of it keyed by the token, never the token: changing the token logs every
 * browser out. The admin API's cross-origin refusals (request-guard.ts) run before this, and the
 * cookie is SameSite=Strict and HttpOnly.
 */
import { Buffer } from 'node:buffer';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock, TimerHandle } from '../core/clock.ts';
import { Refusal } from '../runtime/config-control.ts';
import { readBody } from './body.ts';

export const DASHBOARD_TICK_MS = 1000;
export const DASHBOARD_COOKIE = 'fulcrum_dashboard';
export const DASHBOARD_SESSION_S = 12 * 3600;
/** A viewer this far behind (a stalled tab on a slow link) is dropped rather than buffered for. */
const MAX_BEHIND_BYTES = 4 * 1024 * 1024;
const MAX_LOGIN_BYTES = 4096;

const ASSETS = new URL('../../../assets/dashboard/', import.meta.url);

const TYPES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'login.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'app.css': 'text/css; charset=utf-8',
};

/** Read once: the files are small and a running node does not change them. */
function loadAssets(): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of Object.keys(TYPES)) out.set(name, readFileSync(new URL(name, ASSETS)));
  return out;
}

/** What the page may load: its own files and its own event stream, nothing else. */
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // Not no-referrer: with it, a browser sends `Origin: null` on the login form's POST, which the
  // admin API's cross-origin check (rightly) refuses.
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
};

export interface DashboardSources {
  /** The configuration in service (dashboard-view.ts). */
  config(): unknown;
  /** The live figures (dashboard-view.ts). */
  stats(): unknown;
  /** The generation in service: a change sends `config` again. */
  generation(): number;
}

/** The session cookie's value for a token: `<expiry s>.<HMAC-SHA256(token, expiry)>`. */
export function sessionValue(token: string, expiresS: number): string {
  const mac = createHmac('sha256', token).update(`fulcrum-dashboard:${expiresS}`).digest('base64url');
  return `${expiresS}.${mac}`;
}

/** Whether a cookie value is a live session for this token. */
export function sessionValid(value: string, token: string, nowS: number): boolean {
  const dot = value.indexOf('.');
  if (dot <= 0) return false;
  const expires = Number(value.slice(0, dot));
  if (!Number.isSafeInteger(expires) || expires <= nowS) return false;
  const want = Buffer.from(sessionValue(token, expires));
  const got = Buffer.from(value);
  return want.length === got.length && timingSafeEqual(want, got);
}

function cookieOf(req: IncomingMessage, name: string): string | null {
  const header = req.headers.cookie;
  if (header === undefined) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

export interface DashboardAuth {
  /** The token in force, '' when the admin API has none. */
  readonly token: string;
  /** Whether the request presented the token in a header (checked by the admin server). */
  readonly headerValid: boolean;
  /** Constant-time comparison with the token (the admin server's). */
  matches(given: string): boolean;
  /** Whether the listener serves HTTPS (the cookie is then Secure). */
  readonly tls: boolean;
}

export class Dashboard {
  private readonly sources: DashboardSources;
  private readonly clock: Clock;
  private readonly assets: Map<string, Buffer>;
  private readonly viewers = new Set<ServerResponse>();
  private timer: TimerHandle | null = null;
  private sentGeneration = -1;

  constructor(sources: DashboardSources, clock: Clock) {
    this.sources = sources;
    this.clock = clock;
    this.assets = loadAssets();
  }

  /** Open event streams (for tests and status). */
  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Serve a `/dashboard…` request: its own login, since a browser cannot send the header. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL, auth: DashboardAuth): Promise<void> {
    const method = req.method ?? 'GET';
    const sub = url.pathname.replace(/^\/dashboard/, '').replace(/\/+$/, '') || '/';
    if (sub === '/app.js' || sub === '/app.css') return this.asset(req, res, sub.slice(1), 200);
    const nowS = Math.floor(this.clock.nowMs() / 1000);
    const cookie = cookieOf(req, DASHBOARD_COOKIE);
    const allowed =
      auth.token === '' || auth.headerValid || (cookie !== null && sessionValid(cookie, auth.token, nowS));
    if (sub === '/login' && method === 'POST') return this.login(req, res, auth, nowS);
    if (sub === '/logout' && method === 'POST') {
      req.resume();
      res.writeHead(303, {
        location: '/dashboard',
        'set-cookie': this.cookie('', 0, auth.tls),
        ...SECURITY_HEADERS,
      });
      return void res.end();
    }
    if (method !== 'GET' && method !== 'HEAD') {
      req.resume();
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      return void res.end('method not allowed\n');
    }
    if (sub === '/') {
      const given = url.searchParams.get('token');
      if (given !== null && auth.token !== '') {
        // `?token=` once: trade it for the cookie and drop it from the address bar and history.
        if (!auth.matches(given)) return this.asset(req, res, 'login.html', 401, true);
        return this.startSession(res, auth, nowS);
      }
      return allowed ? this.asset(req, res, 'index.html', 200) : this.asset(req, res, 'login.html', 401);
    }
    if (!allowed) {
      res.writeHead(401, { 'content-type': 'application/json; charset=utf-8', ...SECURITY_HEADERS });
      return void res.end('{"code":401,"name":"unauthorized","message":"log in at /dashboard"}\n');
    }
    if (sub === '/events') return this.subscribe(res);
    if (sub === '/data') {
      const body = JSON.stringify({ config: this.sources.config(), stats: this.sources.stats() });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', ...SECURITY_HEADERS });
      return void res.end(method === 'HEAD' ? undefined : body);
    }
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
    res.end('{"code":404,"name":"not found","message":"Not found"}\n');
  }

  private asset(req: IncomingMessage, res: ServerResponse, name: string, status: number, failed = false) {
    req.resume();
    let body = this.assets.get(name)!;
    if (failed)
      body = Buffer.from(body.toString('utf8').replace('<p id="failed" hidden>', '<p id="failed">'));
    res.writeHead(status, {
      'content-type': TYPES[name]!,
      'content-length': body.length,
      ...SECURITY_HEADERS,
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private cookie(value: string, maxAgeS: number, secure: boolean): string {
    return `${DASHBOARD_COOKIE}=${value}; Path=/dashboard; Max-Age=${maxAgeS}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
  }

  private startSession(res: ServerResponse, auth: DashboardAuth, nowS: number): void {
    const value = sessionValue(auth.token, nowS + DASHBOARD_SESSION_S);
    res.writeHead(303, {
      location: '/dashboard',
      'set-cookie': this.cookie(value, DASHBOARD_SESSION_S, auth.tls),
      ...SECURITY_HEADERS,
    });
    res.end();
  }

  /** POST /dashboard/login: a form with `token`. */
  private async login(req: IncomingMessage, res: ServerResponse, auth: DashboardAuth, nowS: number) {
    if (auth.token === '') {
      req.resume();
      res.writeHead(303, { location: '/dashboard', ...SECURITY_HEADERS });
      return void res.end();
    }
    const buf = await readBody(req, MAX_LOGIN_BYTES);
    const given = buf instanceof Refusal ? null : new URLSearchParams(buf.toString('utf8')).get('token');
    if (given === null || !auth.matches(given)) return this.asset(req, res, 'login.html', 401, true);
    this.startSession(res, auth, nowS);
  }

  private subscribe(res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      ...SECURITY_HEADERS,
    });
    res.socket?.setNoDelay(true);
    // `retry`: how long a browser waits before it reconnects after the node went away.
    res.write(
      `retry: 2000\n\n${this.event('config', this.sources.config())}${this.event('stats', this.sources.stats())}`,
    );
    this.viewers.add(res);
    res.on('close', () => {
      this.viewers.delete(res);
      if (this.viewers.size === 0) this.stopTimer();
    });
    this.sentGeneration = this.sources.generation();
    if (this.timer === null) this.timer = this.clock.setTimer(DASHBOARD_TICK_MS, tick, this);
  }

  private event(name: string, data: unknown): string {
    return `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;
  }

  /** One tick: the figures once, to every viewer; the configuration too when it changed. */
  broadcast(): void {
    this.timer = null;
    if (this.viewers.size === 0) return;
    let text = '';
    const gen = this.sources.generation();
    if (gen !== this.sentGeneration) {
      this.sentGeneration = gen;
      text += this.event('config', this.sources.config());
    }
    text += this.event('stats', this.sources.stats());
    for (const v of this.viewers) {
      if (v.writableLength > MAX_BEHIND_BYTES) v.destroy();
      else v.write(text);
    }
    this.timer = this.clock.setTimer(DASHBOARD_TICK_MS, tick, this);
  }

  private stopTimer(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  /** Admin listener close: end every stream. */
  close(): void {
    this.stopTimer();
    for (const v of this.viewers) v.end();
    this.viewers.clear();
  }
}

function tick(d: Dashboard): void {
  d.broadcast();
}
