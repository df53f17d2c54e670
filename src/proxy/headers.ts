/**
 * Header hygiene between client and target (RFC 9110 §7.6.1, §7.6.3):
 * hop-by-hop fields never cross the proxy (Connection and every field it names, Keep-Alive, TE
 * other than `trailers`, Trailer, Transfer-Encoding (the proxy frames anew), Upgrade, Proxy-*),
 * X-Forwarded-* are appended to only when the previous hop is a trusted proxy and replaced
 * otherwise, and Via is appended in both directions.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { RouteSpec, ServiceSpec, UpstreamSpec } from '../config/types.ts';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'http2-settings',
]);

/** Fields the proxy sets itself on the way to the target. */
const REWRITTEN = new Set([
  'host',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-real-ip',
  'forwarded',
  'via',
]);

function connectionTokens(v: string | string[] | undefined): Set<string> | null {
  if (v === undefined) return null;
  const s = Array.isArray(v) ? v.join(',') : v;
  if (s === 'keep-alive' || s === 'close' || s === 'Keep-Alive') return null;
  const out = new Set<string>();
  for (const t of s.split(',')) {
    const k = t.trim().toLowerCase();
    if (k && k !== 'close' && k !== 'keep-alive') out.add(k);
  }
  return out.size === 0 ? null : out;
}

export interface ForwardFacts {
  /** Host header sent to the target. */
  readonly host: string;
  readonly clientIp: string;
  /** Whether the previous hop is a trusted proxy whose X-Forwarded-* we extend. */
  readonly trusted: boolean;
  readonly proto: string;
  readonly listenerPort: number;
  readonly requestIdHeader: string;
  readonly requestId: string;
  readonly via: boolean;
  readonly forwarded: boolean;
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

/** The request headers for the target, as a flat [name, value, ...] list. */
export function upstreamRequestHeaders(h: IncomingHttpHeaders, f: ForwardFacts): string[] {
  const out: string[] = ['host', f.host];
  const named = connectionTokens(h.connection);
  for (const name in h) {
    if (HOP_BY_HOP.has(name) || REWRITTEN.has(name) || name === f.requestIdHeader) continue;
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme) are the request line, not fields.
    if (name.charCodeAt(0) === 58 /* : */) continue;
    if (name.charCodeAt(0) === 112 /* p */ && name.startsWith('proxy-')) continue;
    if (named?.has(name)) continue;
    const v = h[name];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) out.push(name, item);
    else out.push(name, v);
  }
  const te = h.te;
  if (te !== undefined && /(^|,)\s*trailers\s*(;|,|$)/i.test(String(te))) out.push('te', 'trailers');

  const xff = h['x-forwarded-for'];
  out.push(
    'x-forwarded-for',
    f.trusted && xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${f.clientIp}` : f.clientIp,
  );
  out.push('x-forwarded-proto', (f.trusted && first(h['x-forwarded-proto'])) || f.proto);
  out.push('x-forwarded-host', (f.trusted && first(h['x-forwarded-host'])) || (h.host ?? ''));
  out.push('x-forwarded-port', (f.trusted && first(h['x-forwarded-port'])) || String(f.listenerPort));
  out.push('x-real-ip', f.clientIp);
  if (f.forwarded) {
    const mine = `for=${forwardedNode(f.clientIp)};host=${JSON.stringify(h.host ?? '')};proto=${f.proto}`;
    const prev = h.forwarded;
    out.push('forwarded', f.trusted && prev ? `${prev}, ${mine}` : mine);
  }
  if (f.via) out.push('via', h.via ? `${h.via}, 1.1 fulcrum` : '1.1 fulcrum');
  if (f.requestIdHeader !== '') out.push(f.requestIdHeader, f.requestId);
  return out;
}

/**
 * The response headers for the client, from undici's raw [name, value, ...] buffers.
 * `keepTrailer` keeps the Trailer field when the response will be chunked and carry trailers.
 */
export function downstreamResponseHeaders(
  raw: readonly Buffer[],
  via: boolean,
  keepTrailer: boolean,
): { headers: string[]; trailers: boolean } {
  const out: string[] = [];
  let named: Set<string> | null = null;
  let trailers = false;
  let viaValue: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toString('latin1').toLowerCase() === 'connection')
      named = connectionTokens(raw[i + 1]!.toString('latin1'));
  }
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    const lower = name.toLowerCase();
    if (lower === 'trailer') {
      trailers = true;
      if (!keepTrailer) continue;
    } else if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
    const value = raw[i + 1]!.toString('latin1');
    if (lower === 'via') {
      viaValue = viaValue === undefined ? value : `${viaValue}, ${value}`;
      continue;
    }
    out.push(name, value);
  }
  if (via) out.push('via', viaValue === undefined ? '1.1 fulcrum' : `${viaValue}, 1.1 fulcrum`);
  else if (viaValue !== undefined) out.push('via', viaValue);
  return { headers: out, trailers };
}

/** Trailers from undici's raw list, for `res.addTrailers`. */
export function trailerPairs(raw: readonly Buffer[] | null | undefined): [string, string][] | null {
  if (!raw || raw.length === 0) return null;
  const out: [string, string][] = [];
  for (let i = 0; i < raw.length; i += 2)
    out.push([raw[i]!.toString('latin1'), raw[i + 1]!.toString('latin1')]);
  return out;
}

/**
 * The Host header sent to the target: the client's with `preserve_host`; else the upstream's
 * `host_header`; else the service's host (with `:port` when a plain hostname service uses a
 * non-default port), as Kong does.
 */
export function upstreamHost(
  route: RouteSpec,
  service: ServiceSpec,
  upstream: UpstreamSpec,
  clientHost: string | undefined,
): string {
  if (route.preserveHost && clientHost) return clientHost;
  if (upstream.hostHeader) return upstream.hostHeader;
  return upstream.implicit && service.port !== (service.protocol === 'https' ? 443 : 80)
    ? `${service.host}:${service.port}`
    : service.host;
}

/** Whether a raw response head declares a Content-Length. */
export function hasContentLength(raw: readonly Buffer[]): boolean {
  for (let i = 0; i < raw.length; i += 2)
    if (raw[i]!.length === 14 && raw[i]!.toString('latin1').toLowerCase() === 'content-length') return true;
  return false;
}

/** Relay a 103 Early Hints or 102 Processing; other 1xx answers are the proxy's own business. */
export function relayInformational(res: ServerResponse, statusCode: number, raw: readonly Buffer[]): void {
  if (statusCode === 103) {
    const links: string[] = [];
    for (let i = 0; i < raw.length; i += 2)
      if (raw[i]!.toString('latin1').toLowerCase() === 'link') links.push(raw[i + 1]!.toString('latin1'));
    // Node refuses a Link value that is not `<uri>; params`: hints are optional, drop them.
    if (links.length > 0)
      try {
        res.writeEarlyHints({ link: links });
      } catch {}
  } else if (statusCode === 102 && typeof res.writeProcessing === 'function') res.writeProcessing();
}

/**
 * The 101 head sent to the client when a target accepted an upgrade: the target's fields as they
 * are (its Connection and Upgrade are the handshake itself, so they are kept), plus Via.
 */
export function switchingProtocolsHead(status: number, raw: readonly Buffer[], via: boolean): string {
  let head = `HTTP/1.1 ${status} Switching Protocols\r\n`;
  for (let i = 0; i + 1 < raw.length; i += 2)
    head += `${raw[i]!.toString('latin1')}: ${raw[i + 1]!.toString('latin1')}\r\n`;
  if (via) head += 'via: 1.1 fulcrum\r\n';
  return `${head}\r\n`;
}
