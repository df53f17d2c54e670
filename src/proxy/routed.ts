/**
 * Where a request goes, decided once from its head: the first step of an Exchange (exchange.ts).
 * The checks that refuse a request before routing (a target too long, too many fields, a target
 * that does not parse), the route, Kong's https-only answer (HttpsOnly), the service and the path
 * each try sends, as one value the Exchange keeps. The plugins' access phase may still switch the
 * service or the query afterwards (Exchange.afterAccess).
 */
import type { TLSSocket } from 'node:tls';
import type { ErrorCode } from '../core/errors.ts';
import { joinPath, parseRequestTarget } from '../routing/path.ts';
import type { RouteMatch } from '../routing/router.ts';
import type { Generation, RouteRuntime, ServiceRuntime } from '../runtime/generation.ts';
import type { Downstream } from './downstream.ts';
import { isGrpcRequest } from './grpc.ts';

/** A request routed to a service. */
export interface Routed {
  readonly match: RouteMatch<RouteRuntime>;
  readonly route: RouteRuntime;
  /** The route's service (a plugin may switch it in the access phase). */
  readonly service: ServiceRuntime;
  readonly grpc: boolean;
  /** The authority of an absolute-form target, else the Host field, as received. */
  readonly hostHeader: string;
  /** The request's path and query, as received. */
  readonly path: string;
  readonly query: string;
  /** How much of the path the route strips (`strip_path`). */
  readonly stripped: number;
  /** The path (with query) the tries send: the service's path joined with the request's. */
  readonly upstreamPath: string;
}

/** A request refused before it reaches a service. */
export class Unrouted {
  readonly code: ErrorCode;
  /** Whether the connection closes after the answer (the head itself was at fault). */
  readonly close: boolean;
  /** The route matched, if any (the access log names it). */
  readonly route: RouteRuntime | null;
  readonly grpc: boolean;

  constructor(code: ErrorCode, close: boolean, route: RouteRuntime | null, grpc: boolean) {
    this.code = code;
    this.close = close;
    this.route = route;
    this.grpc = grpc;
  }
}

/** Plain HTTP on a route that accepts only https: Kong answers 426, or redirects (`status`). */
export class HttpsOnly {
  readonly route: RouteRuntime;
  readonly status: number;
  /** The request's host (lowercased) and target, for the Location of a redirect. */
  readonly host: string;
  readonly url: string;

  constructor(route: RouteRuntime, status: number, host: string, url: string) {
    this.route = route;
    this.status = status;
    this.host = host;
    this.url = url;
  }
}

/** Route the request whose head `down` holds, in generation `gen`. */
export function routeRequest(
  gen: Generation,
  down: Downstream,
  method: string,
): Routed | Unrouted | HttpsOnly {
  const limits = gen.snapshot.node.limits;
  const url = down.target;
  if (url.length > limits.maxUriBytes) return new Unrouted('FULCRUM_ERR_URI_TOO_LONG', true, null, false);
  if (down.fields.count > limits.maxHeaders)
    return new Unrouted('FULCRUM_ERR_HEADERS_TOO_LARGE', true, null, false);
  const rt = parseRequestTarget(url);
  if (rt === null) return new Unrouted('FULCRUM_ERR_BAD_REQUEST', true, null, false);
  const grpc = down.h2 && isGrpcRequest(down.fields.get('content-type'));
  const hostHeader = rt.authority ?? down.host;
  const host = hostHeader.toLowerCase();
  const { path, query } = rt;
  const match = gen.router.match({ method, host, path, headers: down.fields });
  if (match === null) return new Unrouted('FULCRUM_ERR_NO_ROUTE', false, null, grpc);
  const route = match.route;
  const service = route.service;
  if (route.disabled !== null || service === null)
    return new Unrouted('FULCRUM_ERR_ROUTE_DISABLED', false, route, grpc);
  const spec = route.spec;
  const protocols = spec.protocols;
  if (
    !grpc &&
    !protocols.includes('http') &&
    protocols.includes('https') &&
    (down.socket as TLSSocket).encrypted !== true
  )
    return new HttpsOnly(route, spec.httpsRedirectStatus, host, url);
  const stripped = spec.stripPath ? match.matchedLength : 0;
  const joined = joinPath(service.spec.path, path, stripped, spec.pathHandling);
  // The received target when the join left the path as it came: one flat string, not a rope.
  const upstreamPath = joined === path && rt.target !== null ? rt.target : joined + query;
  return { match, route, service, grpc, hostHeader, path, query, stripped, upstreamPath };
}
