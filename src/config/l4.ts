/**
 * The L4 parts of the declarative file (docs/l4.md): the schema fields of `tcp`, `udp` and
 * `tls_passthrough` listeners, routes and services, and their normalization. Kong's names where
 * Kong has them (route `protocols`, `sources`, `destinations`, `snis`; service `protocol`; the
 * listener's `proxy_protocol` flag as on Kong's `stream_listen`); Fulcrum's own where it has none
 * (a service's `proxy_protocol: v1 | v2`, HAProxy's `send-proxy` / `send-proxy-v2`).
 */
import { isIP } from 'node:net';
import { buildCidrList, isHostname } from '../core/net.ts';
import type { ConfigIssue, ParsedSource, PathPart } from './load.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;
type S = Record<string, unknown>;

/** Route protocols served by L4 listeners; Kong's mutually exclusive subsets ({tcp, udp}, {tls_passthrough}). */
export const L4_ROUTE_PROTOCOLS = ['tcp', 'udp', 'tls_passthrough'] as const;
export type L4Protocol = (typeof L4_ROUTE_PROTOCOLS)[number];

/** The default bound of a udp listener's session table. */
export const DEFAULT_MAX_SESSIONS = 65536;

/** One `sources` / `destinations` entry: an address or CIDR, a port, or both (Kong's shape). */
export interface CidrPort {
  /** The address or CIDR as written, or '' for any address. */
  readonly ip: string;
  /** 0 for any port. */
  readonly port: number;
}

/** The L4 matchers of a route (empty lists match anything). */
export interface L4RouteFields {
  readonly sources: readonly CidrPort[];
  readonly destinations: readonly CidrPort[];
  /** Lower-case server names; `*.example.com` is a wildcard. */
  readonly snis: readonly string[];
}

const cidrPort = (description: string): S => ({
  type: 'array',
  description,
  items: {
    type: 'object',
    additionalProperties: false,
    anyOf: [{ required: ['ip'] }, { required: ['port'] }],
    properties: {
      ip: { type: 'string', description: 'An IP address or CIDR (`10.0.0.0/8`, `::1`); unset: any address.' },
      port: { type: 'integer', minimum: 1, maximum: 65535, description: 'A port number; unset: any port.' },
    },
  },
});

/** Fields added to the route schema. */
export const l4RouteProperties: S = {
  sources: cidrPort(
    "`tcp`, `tls_passthrough` and `udp` routes: the client's address and port must match one entry (`{ip: 10.0.0.0/8}`, `{port: 5000}`, or both). The client is the one a PROXY protocol header names when the listener accepts it.",
  ),
  destinations: cidrPort(
    "`tcp`, `tls_passthrough` and `udp` routes: the listener's local address and port must match one entry (Kong's stream routing by listening port: `{port: 5432}`).",
  ),
};

/** Fields added to the service schema. */
export const l4ServiceProperties: S = {
  proxy_protocol: {
    type: 'string',
    enum: ['off', 'v1', 'v2'],
    default: 'off',
    description:
      "`tcp` and `tls_passthrough` services: send a PROXY protocol header (HAProxy's `send-proxy` for `v1`, `send-proxy-v2` for `v2`) to the target before the client's bytes, naming the client's address and the listener's. The target must expect it.",
  },
};

/** Fields added to the listener schema. */
export const l4ListenerProperties: S = {
  proxy_protocol: {
    type: 'boolean',
    default: false,
    description:
      "`tcp`, `tls_passthrough` and `http` listeners: every connection starts with a PROXY protocol header (v1 or v2, detected) whose source address replaces the peer's for routing, hashing, X-Forwarded-For and logs. Accepted only from peers in `trusted_ips`; any other peer's connection is closed (Kong's `stream_listen ... proxy_protocol`, HAProxy's `accept-proxy`).",
  },
  max_connections: {
    type: 'integer',
    minimum: 0,
    maximum: 10000000,
    default: 0,
    description:
      '`tcp` and `tls_passthrough` listeners: the most client connections open at once; more are closed on accept. 0: no limit.',
  },
  max_sessions: {
    type: 'integer',
    minimum: 1,
    maximum: 10000000,
    default: DEFAULT_MAX_SESSIONS,
    description:
      "`udp` listeners: the session table's size; datagrams from a new client address while it is full are dropped (and counted).",
  },
};

export function isL4Protocol(p: string): p is L4Protocol {
  return (L4_ROUTE_PROTOCOLS as readonly string[]).includes(p);
}

/** Whether a route's protocols are L4 ones (validation refuses mixing them with HTTP ones). */
export function isL4Route(r: { readonly protocols: readonly string[] }): boolean {
  return r.protocols.length > 0 && isL4Protocol(r.protocols[0]!);
}

/** The service protocol a route of this protocol needs (tls_passthrough routes go to tcp services, as Kong). */
export function serviceProtocolsFor(routeProtocol: string): readonly string[] {
  if (routeProtocol === 'udp') return ['udp'];
  if (routeProtocol === 'tcp' || routeProtocol === 'tls_passthrough') return ['tcp', 'tls_passthrough'];
  return ['http', 'https', 'grpc', 'grpcs'];
}

function cidrPorts(src: ParsedSource, list: Raw[] | undefined, at: PathPart[], issues: ConfigIssue[]) {
  return (list ?? []).map((e, i): CidrPort => {
    const ip: string = e.ip ?? '';
    if (ip !== '' && 'bad' in buildCidrList([ip]))
      issues.push(src.issue([...at, i, 'ip'], `expected an IP address or CIDR, got ${JSON.stringify(ip)}`));
    return { ip, port: e.port ?? 0 };
  });
}

/**
 * Check a route's protocols (no mixing of HTTP and L4 ones; one L4 protocol per route) and read its
 * L4 matchers; null for an HTTP route.
 */
export function normalizeL4Route(
  src: ParsedSource,
  r: Raw,
  at: PathPart[],
  issues: ConfigIssue[],
): L4RouteFields | null {
  const protocols: string[] = r.protocols ?? ['http', 'https'];
  const l4 = protocols.filter(isL4Protocol);
  if (l4.length > 0 && l4.length !== protocols.length)
    issues.push(
      src.issue(
        [...at, 'protocols'],
        'do not mix tcp, udp or tls_passthrough with HTTP protocols in one route; make two routes',
      ),
    );
  else if (new Set(l4).size > 1)
    issues.push(
      src.issue(
        [...at, 'protocols'],
        'an L4 route has one protocol: tcp, udp or tls_passthrough; make one route each',
      ),
    );
  const isL4 = l4.length > 0;
  const sources = cidrPorts(src, r.sources, [...at, 'sources'], issues);
  const destinations = cidrPorts(src, r.destinations, [...at, 'destinations'], issues);
  if (!isL4 && (sources.length > 0 || destinations.length > 0))
    issues.push(
      src.issue(
        at,
        '"sources" and "destinations" apply to tcp, tls_passthrough and udp routes only',
        r.sources !== undefined ? 'sources' : 'destinations',
      ),
    );
  const snis: string[] = isL4 ? (r.snis ?? []).map((s: string) => s.toLowerCase()) : [];
  if (isL4) {
    if (snis.length > 0 && !l4.includes('tls_passthrough'))
      issues.push(
        src.issue([...at, 'snis'], '"snis" applies to tls_passthrough routes (no TLS is read on tcp or udp)'),
      );
    snis.forEach((s, i) => {
      const wild = s.startsWith('*.');
      const name = wild ? s.slice(2) : s;
      if (!isHostname(name) || isIP(name) !== 0 || name.includes('*'))
        issues.push(
          src.issue(
            [...at, 'snis', i],
            `expected a server name, optionally with a leading "*." wildcard, got ${JSON.stringify(s)}`,
          ),
        );
    });
  }
  return isL4 ? { sources, destinations, snis } : null;
}

/** Why a route cannot send to its service (an L4 route to an HTTP service or the reverse), or null. */
export function protocolMismatch(
  route: { readonly protocols: readonly string[] },
  service: { readonly name: string; readonly protocol: string },
): string | null {
  const want = serviceProtocolsFor(route.protocols[0] ?? 'http');
  if (want.includes(service.protocol)) return null;
  return `a ${route.protocols[0]} route needs a service of protocol ${want.join(' or ')}; service ${JSON.stringify(service.name)} is ${service.protocol}; route disabled`;
}

/** The listener fields beyond name, address and port, checked against its protocol. */
export function normalizeL4Listener(
  src: ParsedSource,
  l: Raw,
  at: PathPart[],
  issues: ConfigIssue[],
): {
  protocol: 'http' | 'tcp' | 'udp' | 'tls_passthrough';
  proxyProtocol: boolean;
  maxConnections: number;
  maxSessions: number;
} {
  const protocol = l.protocol ?? 'http';
  const proxyProtocol: boolean = l.proxy_protocol ?? false;
  if (proxyProtocol && protocol !== 'tcp' && protocol !== 'tls_passthrough' && protocol !== 'http')
    issues.push(
      src.issue(
        [...at, 'proxy_protocol'],
        'accepting the PROXY protocol is supported on http, tcp and tls_passthrough listeners only',
      ),
    );
  if (l.max_connections !== undefined && protocol !== 'tcp' && protocol !== 'tls_passthrough')
    issues.push(src.issue([...at, 'max_connections'], 'applies to tcp and tls_passthrough listeners only'));
  if (l.max_sessions !== undefined && protocol !== 'udp')
    issues.push(src.issue([...at, 'max_sessions'], 'applies to udp listeners only'));
  return {
    protocol,
    proxyProtocol,
    maxConnections: l.max_connections ?? 0,
    maxSessions: l.max_sessions ?? DEFAULT_MAX_SESSIONS,
  };
}

/** A service's `proxy_protocol` is sent on tcp connections only. */
export function checkL4Service(
  src: ParsedSource,
  s: Raw,
  protocol: string,
  at: PathPart[],
  issues: ConfigIssue[],
): void {
  const pp = s.proxy_protocol ?? 'off';
  if (pp !== 'off' && protocol !== 'tcp' && protocol !== 'tls_passthrough')
    issues.push(
      src.issue(
        [...at, 'proxy_protocol'],
        'a PROXY protocol header is sent to tcp and tls_passthrough services only',
      ),
    );
}
