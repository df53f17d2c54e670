/**
 * Services (with the implicit upstream of a service naming a host directly) and every route:
 * nested in its service, or at the top level naming its service by name or id. One part of
 * normalize() (normalize.ts has the whole).
 *
 * A top-level route naming a service that does not exist is disabled and reported (a problem); a
 * route with no service at all is valid in Kong (plugins such as request-termination answer for
 * it) and loads with a warning: Fulcrum answers its requests with 503.
 */
import { formatHostPort, isHostname } from '../core/net.ts';
import { idOf, parseServiceUrl, refKey, type ServiceUrl, serviceName } from './entity-ids.ts';
import { checkL4Service, protocolMismatch } from './l4.ts';
import { type ConfigIssue, formatPath, type ParsedSource, type PathPart } from './load.ts';
import { compileRoute } from './normalize-routes.ts';
import { implicitUpstream } from './normalize-upstreams.ts';
import { normalizeRetryPolicy } from './resilience.ts';
import { serviceSchema } from './schema.ts';
import { defaultsOf } from './schema-kit.ts';
import { normalizeServiceTls, type TlsMaterial } from './tls.ts';
import type { Problem, RouteSpec, ServiceSpec, UpstreamSpec } from './types.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;

/** Kong's (and nginx's `proxy_read_timeout`) default, from the schema. */
export const DEFAULT_READ_TIMEOUT_MS: number = defaultsOf(serviceSchema).read_timeout as number;

/** The service defaults, from the schema (docs/configuration.md shows the same values). */
// biome-ignore lint/suspicious/noExplicitAny: the schema's defaults are of the fields' types
const D: Record<string, any> = defaultsOf(serviceSchema);

export interface Reports {
  readonly issues: ConfigIssue[];
  readonly problems: Problem[];
  readonly warnings: Problem[];
}

function serviceUrl(src: ParsedSource, s: Raw, at: PathPart[], issues: ConfigIssue[]): ServiceUrl {
  let url: ServiceUrl = {
    protocol: s.protocol ?? D.protocol,
    host: s.host,
    port: s.port ?? (s.protocol === 'https' || s.protocol === 'grpcs' ? 443 : 80),
    path: s.path ?? D.path,
  };
  if (s.url !== undefined) {
    const parsed = parseServiceUrl(s.url);
    if (typeof parsed === 'string') issues.push(src.issue([...at, 'url'], parsed));
    else url = parsed;
    // Kong's url is a shorthand that overwrites the four fields; dumps and converters write both,
    // agreeing, which loads. Fields that disagree with the url are ambiguous and refused.
    const given = [s.protocol, s.host, s.port, s.path];
    const fromUrl = [url.protocol, url.host, url.port, url.path];
    if (typeof parsed !== 'string' && given.some((v, k) => v !== undefined && v !== fromUrl[k]))
      issues.push(
        src.issue(
          at,
          'give either "url" or "protocol"/"host"/"port"/"path", not both (unless they agree)',
          'url',
        ),
      );
  } else if (s.host === undefined) issues.push(src.issue(at, 'missing required field "host" (or "url")'));
  return url;
}

function normalizeService(
  src: ParsedSource,
  s: Raw,
  i: number,
  upstreams: Map<string, UpstreamSpec>,
  tls: TlsMaterial,
  issues: ConfigIssue[],
): ServiceSpec {
  const at: PathPart[] = ['services', i];
  const name = serviceName(s, i);
  const url = serviceUrl(src, s, at, issues);
  let upstream = url.host ?? '';
  if (url.host !== undefined && !upstreams.has(url.host)) {
    if (!isHostname(url.host))
      issues.push(
        src.issue(
          [...at, s.url !== undefined ? 'url' : 'host'],
          `expected an upstream name, hostname or IP address, got ${JSON.stringify(url.host)}`,
        ),
      );
    upstream = formatHostPort(url.host.toLowerCase(), url.port);
    if (!upstreams.has(upstream))
      upstreams.set(
        upstream,
        implicitUpstream(upstream, url.host.toLowerCase(), url.port, s.resolve === true),
      );
  }
  checkL4Service(src, s, url.protocol, at, issues);
  return {
    id: idOf('service', s, name),
    name,
    protocol: url.protocol,
    proxyProtocol: s.proxy_protocol ?? 'off',
    host: url.host ?? '',
    port: url.port,
    path: url.path,
    connectTimeoutMs: s.connect_timeout ?? D.connect_timeout,
    readTimeoutMs: s.read_timeout ?? DEFAULT_READ_TIMEOUT_MS,
    writeTimeoutMs: s.write_timeout ?? D.write_timeout,
    retries: s.retries ?? D.retries,
    retryPolicy: normalizeRetryPolicy(s.retry_policy),
    // A hung target must not hold a client for read_timeout × (retries + 1) (6 minutes with
    // Kong's defaults; nginx gives up after one read_timeout when there is nowhere else to go).
    requestTimeoutMs: s.request_timeout ?? 2 * (s.read_timeout ?? DEFAULT_READ_TIMEOUT_MS),
    enabled: s.enabled ?? D.enabled,
    tlsVerify: s.tls_verify ?? D.tls_verify,
    tls: normalizeServiceTls(src, s, at, tls, issues),
    http2: s.http2 === true || url.protocol === 'grpc' || url.protocol === 'grpcs',
    upstream,
    tags: s.tags ?? [],
  };
}

/** Every service and every route of the document (the implicit upstreams are added to `upstreams`). */
export function normalizeServicesAndRoutes(
  src: ParsedSource,
  doc: Raw,
  upstreams: Map<string, UpstreamSpec>,
  tls: TlsMaterial,
  r: Reports,
): { services: ServiceSpec[]; routes: RouteSpec[] } {
  const { issues, problems, warnings } = r;
  const services: ServiceSpec[] = [];
  const routes: RouteSpec[] = [];
  /** Where each of `routes` is in the file, to point errors at its nodes. */
  const routeAts: PathPart[][] = [];
  (doc.services ?? []).forEach((s: Raw, i: number) => {
    const service = normalizeService(src, s, i, upstreams, tls, issues);
    services.push(service);
    (s.routes ?? []).forEach((route: Raw, j: number) => {
      const at: PathPart[] = ['services', i, 'routes', j];
      const ref = refKey(route.service);
      if (ref !== null && ref !== service.name && ref !== service.id)
        issues.push(
          src.issue(
            [...at, 'service'],
            `a nested route belongs to its parent service ${JSON.stringify(service.name)}; remove "service"`,
          ),
        );
      routes.push(compileRoute(src, route, at, service.name, routes.length, issues));
      routeAts.push(at);
    });
  });
  // Top-level routes name their service by name or id (a dump writes ids).
  const nameOf = new Map<string, string>();
  for (const s of services) nameOf.set(s.id, s.name);
  for (const s of services) nameOf.set(s.name, s.name);
  (doc.routes ?? []).forEach((raw: Raw, i: number) => {
    const at: PathPart[] = ['routes', i];
    const ref = refKey(raw.service);
    const name = ref === null ? undefined : nameOf.get(ref);
    routes.push(compileRoute(src, raw, at, name ?? ref ?? '', routes.length, issues));
    routeAts.push(at);
    if (ref === null)
      warnings.push({
        path: formatPath(at),
        message:
          'this route has no service: its requests are answered 503 (Kong would run its plugins, such as request-termination, first; Fulcrum runs plugins only on routes with a service)',
      });
    else if (name === undefined)
      problems.push({
        path: formatPath(at),
        message: `service ${JSON.stringify(ref)} does not exist; route disabled`,
      });
  });
  // A route whose protocols do not fit its service's (an L4 route to an HTTP service) is disabled.
  const serviceByName = new Map(services.map((s) => [s.name, s]));
  for (const route of routes) {
    const s = serviceByName.get(route.service);
    const why = s === undefined ? null : protocolMismatch(route, s);
    if (why !== null) problems.push({ path: route.path, message: why });
  }
  const routeNames = new Map<string, string>();
  routes.forEach((route, i) => {
    if (!route.name) return;
    const first = routeNames.get(route.name);
    if (first !== undefined)
      issues.push(
        src.issue(
          [...routeAts[i]!, 'name'],
          `duplicate route name ${JSON.stringify(route.name)} (also at ${first})`,
        ),
      );
    else routeNames.set(route.name, route.path);
  });
  return { services, routes };
}
