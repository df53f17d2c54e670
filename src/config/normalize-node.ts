/**
 * The node settings of the declarative file (listeners, admin, limits, timeouts, logging, tracing, trusted
 * addresses, headers) normalized into a NodeSpec, with the TLS of each https listener and of the
 * admin listener. One part of normalize() (normalize.ts has the whole).
 */
import { buildCidrList, isLoopback } from '../core/net.ts';
import { normalizeDns } from './discovery.ts';
import { uuidFrom } from './entity-ids.ts';
import { normalizeL4Listener } from './l4.ts';
import type { ConfigIssue, ParsedSource } from './load.ts';
import { relativeToFile } from './paths.ts';
import { normalizeRegistry } from './registry.ts';
import { normalizeListenerTls, type TlsMaterial } from './tls.ts';
import { normalizeTracing } from './tracing.ts';
import type { Http2Settings, ListenerSpec, NodeSpec, Problem } from './types.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;

/** The HTTP/2 server codec when a listener names none. */
export const DEFAULT_HTTP2_CODEC: 'fulcrum' | 'node' = 'fulcrum';

/** An h2c listener's `http2` block, defaults filled in (docs/http2.md). */
function normalizeHttp2(h: Raw | undefined): Http2Settings {
  const o = h ?? {};
  return {
    codec: o.codec ?? DEFAULT_HTTP2_CODEC,
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
    tracing: normalizeTracing(src, doc.tracing, issues),
    trustedIps: trusted,
    headers: {
      via: h.via ?? true,
      forwarded: h.forwarded ?? false,
      requestId: (h.request_id ?? 'x-request-id').toLowerCase(),
      serverTokens: h.server_tokens ?? true,
    },
    zone: doc.zone ?? '',
    dns: normalizeDns(src, doc, issues),
    registry: normalizeRegistry(src, doc, issues),
    workers: doc.workers === 'auto' ? 0 : (doc.workers ?? 1),
    workerListen: doc.worker_listen ?? 'auto',
    acceptSockets: doc.accept_sockets === 'auto' || doc.accept_sockets === undefined ? 0 : doc.accept_sockets,
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

/** The node settings with every listener's TLS (and the admin listener's) resolved. */
export function normalizeNodeSettings(
  src: ParsedSource,
  doc: Raw,
  tls: TlsMaterial,
  issues: ConfigIssue[],
  problems: Problem[],
  nowMs: number,
): NodeSpec {
  const baseNode = normalizeNode(src, doc, issues);
  const adminRaw: Raw = doc.admin ?? {};
  return {
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
}
