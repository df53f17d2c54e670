/**
 * Semantic validation and normalization of a structurally valid document into a frozen Snapshot.
 * Errors (bad values, duplicates, regexes that do not compile) refuse the whole document;
 * dangling references (a top-level route naming a missing service) disable that one object and are
 * reported as problems, so the rest keeps serving (ARCHITECTURE.md convention 6).
 */
import { createHash } from 'node:crypto';
import { systemClock } from '../core/clock.ts';
import { regexProblem } from '../core/linear-regex.ts';
import { buildCidrList, formatHostPort, isHostname, isLoopback, parseHostPort } from '../core/net.ts';
import { collectPlugins, normalizeCredentials } from '../plugins/normalize.ts';
import { pluginNames } from '../plugins/registry.ts';
import { DEFAULT_BALANCING, normalizeBalancing } from './balancing.ts';
import { DEFAULT_HEALTHCHECKS, normalizeHealthchecks } from './healthchecks.ts';
import { checkL4Service, normalizeL4Listener, normalizeL4Route, protocolMismatch } from './l4.ts';
import { ConfigError, type ConfigIssue, formatPath, type ParsedSource, type PathPart } from './load.ts';
import { relativeToFile } from './paths.ts';
import { DEFAULT_CIRCUIT_BREAKER, normalizeCircuitBreaker, normalizeRetryPolicy } from './resilience.ts';
import { normalizeSticky } from './sticky.ts';
import { normalizeListenerTls, normalizeServiceTls, normalizeTlsMaterial } from './tls.ts';
import type {
  ConsumerSpec,
  Http2Settings,
  ListenerSpec,
  NodeSpec,
  Problem,
  RouteSpec,
  ServiceSpec,
  Snapshot,
  TargetSpec,
  UpstreamSpec,
} from './types.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;

/** Kong's default target port when a target omits it. */
export const DEFAULT_TARGET_PORT = 8000;
/** Kong's (and nginx's `proxy_read_timeout`) default. */
export const DEFAULT_READ_TIMEOUT_MS = 60000;
/** The plugins built into this version (src/plugins/builtins.ts). */
export const BUILTIN_PLUGINS: readonly string[] = pluginNames();

export function uuidFrom(kind: string, key: string): string {
  const h = createHash('sha1').update(`fulcrum:${kind}:${key}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16)}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

function freeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    for (const v of Object.values(o as object)) freeze(v);
    Object.freeze(o);
  }
  return o;
}

/** An h2c listener's `http2` block, defaults filled in (docs/http2.md). */
function normalizeHttp2(h: Raw | undefined): Http2Settings {
  const o = h ?? {};
  return {
    maxConcurrentStreams: o.max_concurrent_streams ?? 128,
    maxHeaderListBytes: o.max_header_list_size ?? 65536,
    headerTableBytes: o.header_table_size ?? 4096,
    initialWindowBytes: o.initial_window_size ?? 65535,
    maxResets: o.max_resets ?? 200,
    resetWindowMs: o.reset_window ?? 10000,
    maxControlFrames: o.max_control_frames ?? 200,
    controlWindowMs: o.control_window ?? 10000,
  };
}

function normalizeNode(src: ParsedSource, doc: Raw, issues: ConfigIssue[]): NodeSpec {
  const listenersRaw: Raw[] = doc.listeners ?? [{ name: 'proxy', address: '0.0.0.0', port: 8000 }];
  const seen = new Map<string, number>();
  const listeners = listenersRaw.map((l, i) => {
    const name = l.name ?? `proxy-${l.port}`;
    const address = l.address ?? '0.0.0.0';
    const key = `${l.protocol === 'udp' ? 'udp ' : ''}${address}:${l.port}`;
    if (l.port !== 0 && seen.has(key))
      issues.push(
        src.issue(['listeners', i], `address ${key} is already bound by listeners[${seen.get(key)}]`),
      );
    seen.set(key, i);
    const protocol: ListenerSpec['protocol'] = l.protocol ?? 'http';
    return {
      name,
      address,
      port: l.port,
      ...normalizeL4Listener(src, l, ['listeners', i], issues),
      protocol,
      tls: null,
      ...(protocol === 'h2c' || (protocol === 'https' && l.http2 !== undefined)
        ? { http2: normalizeHttp2(l.http2) }
        : {}),
    };
  });
  const names = new Set<string>();
  listeners.forEach((l, i) => {
    if (names.has(l.name))
      issues.push(src.issue(['listeners', i, 'name'], `duplicate listener name ${JSON.stringify(l.name)}`));
    names.add(l.name);
  });
  const a = doc.admin ?? {};
  const lim = doc.limits ?? {};
  const t = doc.timeouts ?? {};
  const lg = doc.logging ?? {};
  const h = doc.headers ?? {};
  const adminIssue = insecureAdmin(a);
  if (adminIssue !== null) issues.push(src.issue(['admin', 'address'], adminIssue));
  const trusted: string[] = doc.trusted_ips ?? [];
  const cidr = buildCidrList(trusted);
  if ('bad' in cidr) issues.push(src.issue(['trusted_ips', cidr.bad], cidr.why));
  return {
    listeners,
    admin: {
      enabled: a.enabled ?? true,
      address: a.address ?? '127.0.0.1',
      port: a.port ?? 8001,
      token: a.token ?? '',
      allowInsecure: a.allow_insecure ?? false,
      allowedHosts: ((a.allowed_hosts ?? []) as string[]).map((h) => h.toLowerCase()),
      tls: null,
    },
    limits: {
      maxUriBytes: lim.max_uri_bytes ?? 8192,
      maxHeaderBytes: lim.max_header_bytes ?? 32768,
      maxHeaders: lim.max_headers ?? 100,
      maxBodyBytes: lim.max_body_bytes ?? 0,
    },
    timeouts: {
      clientHeaderMs: t.client_header_ms ?? 10000,
      clientRequestMs: t.client_request_ms ?? 300000,
      keepaliveMs: t.keepalive_ms ?? 60000,
      drainMs: t.drain_ms ?? 10000,
      upstreamKeepaliveMs: t.upstream_keepalive_ms ?? 60000,
    },
    logging: {
      level: lg.level ?? 'info',
      format: lg.format ?? 'auto',
      accessLog: accessLogPath(src.file, lg.access_log ?? 'stdout'),
    },
    trustedIps: trusted,
    headers: {
      via: h.via ?? true,
      forwarded: h.forwarded ?? false,
      requestId: (h.request_id ?? 'x-request-id').toLowerCase(),
      serverTokens: h.server_tokens ?? true,
    },
    zone: doc.zone ?? '',
    workers: doc.workers === 'auto' ? 0 : (doc.workers ?? 1),
    workerListen: doc.worker_listen ?? 'auto',
    cluster:
      doc.cluster === undefined
        ? null
        : {
            redis: doc.cluster.redis,
            prefix: doc.cluster.prefix ?? 'fulcrum',
            nodeId: doc.cluster.node_id ?? '',
            cacheFile:
              doc.cluster.cache_file === undefined ? '' : relativeToFile(src.file, doc.cluster.cache_file),
            timeoutMs: doc.cluster.timeout ?? 1000,
          },
  };
}

/** The admin API changes the configuration: off loopback it needs a token, or an explicit override. */
/** `logging.access_log`: a keyword, or a file path relative to the configuration file. */
function accessLogPath(file: string, where: string): string {
  return where === 'stdout' || where === 'stderr' || where === 'off' ? where : relativeToFile(file, where);
}

function insecureAdmin(a: Raw): string | null {
  const address: string = a.address ?? '127.0.0.1';
  if ((a.enabled ?? true) === false || (a.token ?? '') !== '' || a.allow_insecure === true) return null;
  if (isLoopback(address)) return null;
  return `the admin API on a non-loopback address (${address}) would let anyone who reaches it change the configuration; set admin.token, bind to 127.0.0.1, or set admin.allow_insecure: true to accept the risk`;
}

function checkPlugins(
  src: ParsedSource,
  list: Raw[] | undefined,
  at: PathPart[],
  issues: ConfigIssue[],
): void {
  (list ?? []).forEach((p, i) => {
    if (!BUILTIN_PLUGINS.includes(p.name))
      issues.push(
        src.issue(
          [...at, i, 'name'],
          `unknown plugin ${JSON.stringify(p.name)}; built in: ${BUILTIN_PLUGINS.join(', ') || '(none yet)'}`,
        ),
      );
  });
}

function normalizeTargets(
  src: ParsedSource,
  upstream: string,
  raws: { raw: Raw; at: PathPart[] }[],
  issues: ConfigIssue[],
): TargetSpec[] {
  const seen = new Map<string, string>();
  const out: TargetSpec[] = [];
  for (const { raw, at } of raws) {
    const hp = parseHostPort(String(raw.target), DEFAULT_TARGET_PORT);
    if (!hp) {
      issues.push(
        src.issue(
          [...at, 'target'],
          `expected host:port (hostname or IP, port 1-65535), got ${JSON.stringify(raw.target)}`,
        ),
      );
      continue;
    }
    const target = formatHostPort(hp.host, hp.port);
    if (seen.has(target)) {
      issues.push(
        src.issue(
          [...at, 'target'],
          `duplicate target ${target} in upstream ${JSON.stringify(upstream)} (first at ${seen.get(target)})`,
        ),
      );
      continue;
    }
    seen.set(target, formatPath(at));
    out.push({
      id: raw.id ?? uuidFrom('target', `${upstream}/${target}`),
      target,
      host: hp.host,
      port: hp.port,
      weight: raw.weight ?? 100,
      priority: raw.priority ?? 0,
      zone: raw.zone ?? '',
      tags: raw.tags ?? [],
    });
  }
  return out;
}

interface ServiceUrl {
  protocol: ServiceSpec['protocol'];
  host: string;
  port: number;
  path: string;
}

function parseServiceUrl(s: string): ServiceUrl | string {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return `expected a URL like http://host:port/path, got ${JSON.stringify(s)}`;
  }
  if (u.protocol === 'tcp:' || u.protocol === 'udp:') {
    if (u.username || u.password || u.search || u.hash || (u.pathname !== '' && u.pathname !== '/'))
      return 'expected tcp://host:port or udp://host:port, without a path';
    const h = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
    return {
      protocol: u.protocol === 'tcp:' ? 'tcp' : 'udp',
      host: h,
      port: u.port ? Number(u.port) : 80,
      path: '/',
    };
  }
  const protocol = u.protocol.slice(0, -1) as ServiceSpec['protocol'];
  if (protocol !== 'http' && protocol !== 'https' && protocol !== 'grpc' && protocol !== 'grpcs')
    return `expected an http, https, grpc, grpcs, tcp or udp URL, got ${JSON.stringify(protocol)}`;
  if (u.username || u.password || u.search || u.hash)
    return 'expected no credentials, query or fragment in the URL';
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  return {
    protocol,
    host,
    port: u.port ? Number(u.port) : protocol === 'https' || protocol === 'grpcs' ? 443 : 80,
    path: u.pathname || '/',
  };
}

function compileRoute(
  src: ParsedSource,
  r: Raw,
  at: PathPart[],
  service: string,
  index: number,
  issues: ConfigIssue[],
): RouteSpec {
  const paths: string[] = r.paths ?? [];
  paths.forEach((p, i) => {
    if (p.startsWith('~')) {
      const problem = regexProblem(p.slice(1));
      if (problem !== null) issues.push(src.issue([...at, 'paths', i], problem));
    } else if (!p.startsWith('/'))
      issues.push(
        src.issue(
          [...at, 'paths', i],
          `expected a path starting with "/" (or "~" for a regex), got ${JSON.stringify(p)}`,
        ),
      );
  });
  const hosts: string[] = (r.hosts ?? []).map((h: string) => h.toLowerCase());
  hosts.forEach((h, i) => {
    const stars = h.split('*').length - 1;
    const bare = h.replace(/:\d+$/, '');
    const ok =
      stars === 0
        ? isHostname(bare) || bare.startsWith('[')
        : stars === 1 && (bare.startsWith('*.') || bare.endsWith('.*')) && isHostname(bare.replace('*', 'x'));
    if (!ok)
      issues.push(
        src.issue(
          [...at, 'hosts', i],
          `expected a hostname, optionally with one leading "*." or trailing ".*" wildcard, got ${JSON.stringify(h)}`,
        ),
      );
  });
  const headers: Record<string, string[]> = {};
  for (const [name, values] of Object.entries((r.headers ?? {}) as Record<string, string[]>)) {
    const lname = name.toLowerCase();
    if (lname === 'host')
      issues.push(src.issue([...at, 'headers'], 'use "hosts" to match the Host header', name));
    for (const v of values) {
      const problem = v.startsWith('~*') ? regexProblem(v.slice(2), { ignoreCase: true }) : null;
      if (problem !== null) issues.push(src.issue([...at, 'headers', name], problem));
    }
    headers[lname] = values;
  }
  const methods: string[] = r.methods ?? [];
  const l4 = normalizeL4Route(src, r, at, issues);
  if (l4 === null && paths.length + hosts.length + methods.length + Object.keys(headers).length === 0)
    issues.push(src.issue(at, 'a route needs at least one of "hosts", "paths", "methods" or "headers"'));
  return {
    id: r.id ?? uuidFrom('route', r.name ?? formatPath(at)),
    name: r.name ?? '',
    index,
    path: formatPath(at),
    service,
    protocols: r.protocols ?? ['http', 'https'],
    methods,
    hosts,
    paths,
    headers,
    stripPath: r.strip_path ?? true,
    preserveHost: r.preserve_host ?? false,
    httpsRedirectStatus: r.https_redirect_status_code ?? 426,
    retryNonIdempotent: r.retry_non_idempotent ?? false,
    regexPriority: r.regex_priority ?? 0,
    priority: r.priority ?? 0,
    pathHandling: r.path_handling ?? 'v0',
    tags: r.tags ?? [],
    l4,
  };
}

export function normalize(src: ParsedSource): Snapshot {
  const doc = src.value as Raw;
  const issues: ConfigIssue[] = [];
  const problems: Problem[] = [];
  const baseNode = normalizeNode(src, doc, issues);
  const nowMs = systemClock.nowMs();
  const tls = normalizeTlsMaterial(src, doc, issues, problems, nowMs, uuidFrom);
  const adminRaw: Raw = doc.admin ?? {};
  const node: NodeSpec = {
    ...baseNode,
    admin: {
      ...baseNode.admin,
      tls:
        adminRaw.tls === undefined
          ? null
          : normalizeListenerTls(
              src,
              { protocol: 'https', tls: adminRaw.tls },
              ['admin'],
              tls,
              issues,
              problems,
              nowMs,
              uuidFrom,
            ),
    },
    listeners: baseNode.listeners.map((l, i) => ({
      ...l,
      tls: normalizeListenerTls(
        src,
        doc.listeners?.[i] ?? {},
        ['listeners', i],
        tls,
        issues,
        problems,
        nowMs,
        uuidFrom,
      ),
    })),
  };

  const uniq = (kind: string, list: Raw[] | undefined, at: PathPart[], field = 'name') => {
    const seen = new Map<string, number>();
    (list ?? []).forEach((o, i) => {
      const v = o[field];
      if (v === undefined) return;
      if (seen.has(v))
        issues.push(
          src.issue(
            [...at, i, field],
            `duplicate ${kind} ${field} ${JSON.stringify(v)} (also at ${formatPath([...at, seen.get(v)!])})`,
          ),
        );
      seen.set(v, i);
    });
  };
  uniq('upstream', doc.upstreams, ['upstreams']);
  uniq('service', doc.services, ['services']);
  uniq('consumer', doc.consumers, ['consumers'], 'username');

  // Upstreams with their nested and top-level targets.
  const upstreamRaw = new Map<
    string,
    { raw: Raw; at: PathPart[]; targets: { raw: Raw; at: PathPart[] }[] }
  >();
  (doc.upstreams ?? []).forEach((u: Raw, i: number) => {
    checkPlugins(src, u.plugins, ['upstreams', i, 'plugins'], issues);
    upstreamRaw.set(u.name, {
      raw: u,
      at: ['upstreams', i],
      targets: (u.targets ?? []).map((t: Raw, j: number) => ({ raw: t, at: ['upstreams', i, 'targets', j] })),
    });
  });
  (doc.targets ?? []).forEach((t: Raw, i: number) => {
    const u = t.upstream === undefined ? undefined : upstreamRaw.get(t.upstream);
    if (!u)
      problems.push({
        path: `targets[${i}]`,
        message: `upstream ${JSON.stringify(t.upstream ?? null)} does not exist; target ignored`,
      });
    else u.targets.push({ raw: t, at: ['targets', i] });
  });
  const upstreams = new Map<string, UpstreamSpec>();
  for (const [name, u] of upstreamRaw) {
    upstreams.set(name, {
      id: u.raw.id ?? uuidFrom('upstream', name),
      name,
      ...normalizeBalancing(src, u.raw, u.at, issues),
      hostHeader: u.raw.host_header,
      healthchecks: normalizeHealthchecks(src, u.raw.healthchecks, u.at, issues),
      circuitBreaker: normalizeCircuitBreaker(src, u.raw.circuit_breaker, u.raw.retry_budget, u.at, issues),
      sticky: normalizeSticky(src, u.raw, u.at, issues),
      targets: normalizeTargets(src, name, u.targets, issues),
      implicit: false,
      tags: u.raw.tags ?? [],
    });
  }

  // Services, and the implicit one-target upstreams of services that name a host directly.
  const services: ServiceSpec[] = [];
  const routes: RouteSpec[] = [];
  /** Where each of `routes` is in the file, to point errors at its nodes. */
  const routeAts: PathPart[][] = [];
  const serviceNames = new Set<string>();
  (doc.services ?? []).forEach((s: Raw, i: number) => {
    const at: PathPart[] = ['services', i];
    const name: string = s.name ?? `service-${i}`;
    serviceNames.add(name);
    let url: ServiceUrl = {
      protocol: s.protocol ?? 'http',
      host: s.host,
      port: s.port ?? (s.protocol === 'https' || s.protocol === 'grpcs' ? 443 : 80),
      path: s.path ?? '/',
    };
    if (s.url !== undefined) {
      if (s.host !== undefined || s.port !== undefined || s.path !== undefined || s.protocol !== undefined)
        issues.push(src.issue(at, 'give either "url" or "protocol"/"host"/"port"/"path", not both', 'url'));
      const parsed = parseServiceUrl(s.url);
      if (typeof parsed === 'string') issues.push(src.issue([...at, 'url'], parsed));
      else url = parsed;
    } else if (s.host === undefined) issues.push(src.issue(at, 'missing required field "host" (or "url")'));
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
      if (!upstreams.has(upstream)) {
        const host = url.host.toLowerCase();
        upstreams.set(upstream, {
          id: uuidFrom('upstream', upstream),
          name: upstream,
          ...DEFAULT_BALANCING,
          hostHeader: undefined,
          healthchecks: DEFAULT_HEALTHCHECKS,
          circuitBreaker: DEFAULT_CIRCUIT_BREAKER,
          sticky: null,
          targets: [
            {
              id: uuidFrom('target', upstream),
              target: upstream,
              host,
              port: url.port,
              weight: 100,
              priority: 0,
              zone: '',
              tags: [],
            },
          ],
          implicit: true,
          tags: [],
        });
      }
    }
    checkPlugins(src, s.plugins, [...at, 'plugins'], issues);
    checkL4Service(src, s, url.protocol, at, issues);
    services.push({
      id: s.id ?? uuidFrom('service', name),
      name,
      protocol: url.protocol,
      proxyProtocol: s.proxy_protocol ?? 'off',
      host: url.host ?? '',
      port: url.port,
      path: url.path,
      connectTimeoutMs: s.connect_timeout ?? 60000,
      readTimeoutMs: s.read_timeout ?? DEFAULT_READ_TIMEOUT_MS,
      writeTimeoutMs: s.write_timeout ?? 60000,
      retries: s.retries ?? 5,
      retryPolicy: normalizeRetryPolicy(s.retry_policy),
      // A hung target must not hold a client for read_timeout × (retries + 1) (6 minutes with
      // Kong's defaults; nginx gives up after one read_timeout when there is nowhere else to go).
      requestTimeoutMs: s.request_timeout ?? 2 * (s.read_timeout ?? DEFAULT_READ_TIMEOUT_MS),
      enabled: s.enabled ?? true,
      tlsVerify: s.tls_verify ?? true,
      tls: normalizeServiceTls(src, s, at, tls, issues),
      http2: s.http2 === true || url.protocol === 'grpc' || url.protocol === 'grpcs',
      upstream,
      tags: s.tags ?? [],
    });
    (s.routes ?? []).forEach((r: Raw, j: number) => {
      if (r.service !== undefined && r.service !== name)
        issues.push(
          src.issue(
            [...at, 'routes', j, 'service'],
            `a nested route belongs to its parent service ${JSON.stringify(name)}; remove "service"`,
          ),
        );
      checkPlugins(src, r.plugins, [...at, 'routes', j, 'plugins'], issues);
      routes.push(compileRoute(src, r, [...at, 'routes', j], name, routes.length, issues));
      routeAts.push([...at, 'routes', j]);
    });
  });
  (doc.routes ?? []).forEach((r: Raw, i: number) => {
    const at: PathPart[] = ['routes', i];
    checkPlugins(src, r.plugins, [...at, 'plugins'], issues);
    const route = compileRoute(src, r, at, r.service ?? '', routes.length, issues);
    if (r.service === undefined || !serviceNames.has(r.service))
      problems.push({
        path: formatPath(at),
        message: `service ${JSON.stringify(r.service ?? null)} does not exist; route disabled`,
      });
    routes.push(route);
    routeAts.push(at);
  });
  // A route whose protocols do not fit its service's (an L4 route to an HTTP service) is disabled.
  const serviceByName = new Map(services.map((s) => [s.name, s]));
  for (const r of routes) {
    const s = serviceByName.get(r.service);
    const why = s === undefined ? null : protocolMismatch(r, s);
    if (why !== null) problems.push({ path: r.path, message: why });
  }
  const routeNames = new Map<string, string>();
  routes.forEach((r, i) => {
    if (!r.name) return;
    const first = routeNames.get(r.name);
    if (first !== undefined)
      issues.push(
        src.issue(
          [...routeAts[i]!, 'name'],
          `duplicate route name ${JSON.stringify(r.name)} (also at ${first})`,
        ),
      );
    else routeNames.set(r.name, r.path);
  });

  const consumerIds: string[] = (doc.consumers ?? []).map(
    (c: Raw) => c.id ?? uuidFrom('consumer', c.username ?? c.custom_id),
  );
  const credentials = normalizeCredentials(src, doc.consumers, consumerIds, issues, uuidFrom);
  const consumers: ConsumerSpec[] = (doc.consumers ?? []).map((c: Raw, i: number) => {
    checkPlugins(src, c.plugins, ['consumers', i, 'plugins'], issues);
    return {
      id: consumerIds[i]!,
      username: c.username,
      customId: c.custom_id,
      tags: c.tags ?? [],
      ...credentials[i]!,
    };
  });
  checkPlugins(src, doc.plugins, ['plugins'], issues);
  const plugins = collectPlugins(src, doc, { services, routes, consumers }, issues, uuidFrom);

  if (issues.length > 0) throw new ConfigError(issues);
  const body = { node, services, routes, upstreams: [...upstreams.values()], consumers, plugins, problems };
  const hash = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 12);
  return freeze({ source: src.file, hash, ...body });
}
