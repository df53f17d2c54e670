/**
 * The client library's options: an upstream in the declarative file's shape, and the service fields
 * that govern tries (retries, retry policy, timeouts). Both are checked by the file's own validator
 * and normalizer (the same schema, defaults, range checks and messages as `fulcrum validate`), by
 * wrapping them in a one-upstream, one-service document; paths in errors are given back as the
 * caller wrote them (`upstream.targets[1].weight`). What a client cannot do is refused by name.
 * The `dns` option holds the node's DNS settings (`dns_resolver`...), put at the document's top
 * level where the file has them, so that discovery reads them from the snapshot as a node does.
 */
import { dnsNodeSchemas } from '../config/discovery.ts';
import type { FulcrumConfig, ServiceConfig, TargetConfig, UpstreamConfig } from '../config/file-types.ts';
import { ConfigError, type ConfigIssue } from '../config/load.ts';
import type { ServiceSpec, Snapshot, UpstreamSpec } from '../config/types.ts';
import { snapshotFromSource } from '../config/validate.ts';
import { MemoryStore } from '../store/memory-store.ts';

/** The service fields a client reads (milliseconds, as in the file). */
export type ClientServiceConfig = Pick<
  ServiceConfig,
  'retries' | 'retry_policy' | 'connect_timeout' | 'read_timeout' | 'request_timeout'
>;

/** The node's DNS settings, under the file's names (docs/discovery.md), for targets marked `resolve`. */
export type ClientDnsConfig = Pick<
  FulcrumConfig,
  'dns_resolver' | 'dns_order' | 'dns_valid_ttl' | 'dns_stale_ttl' | 'dns_error_ttl' | 'dns_not_found_ttl'
>;

export const OPTIONS_SOURCE = '<client options>';

/** Hash key sources that need a proxy's view of the request (a client has no peer, consumer or route). */
const PROXY_ONLY_SOURCES = new Set(['ip', 'consumer', 'uri_capture']);

function issue(path: string, message: string): ConfigIssue {
  return { file: OPTIONS_SOURCE, line: 0, column: 0, path, message };
}

/**
 * `upstreams[0].x` → `upstream.x`; `services[0].x` → `service.x`; `dns_order` → `dns.dns_order`
 * (lines refer to no file the caller has).
 */
function asWritten(i: ConfigIssue): ConfigIssue {
  const path = i.path
    .replace(/^upstreams\[0\]/, 'upstream')
    .replace(/^services\[0\]/, 'service')
    .replace(/^dns_/, 'dns.dns_');
  return issue(path, i.message);
}

/** What the validator cannot know is wrong in a client: refused with the reason. */
function clientOnlyIssues(u: UpstreamConfig, s: ClientServiceConfig, dns: ClientDnsConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  if (dns === null || typeof dns !== 'object')
    out.push(issue('dns', `expected an object of the node's DNS settings (${DNS_KEYS.join(', ')})`));
  else
    for (const k of Object.keys(dns))
      if (!DNS_KEYS.includes(k))
        out.push(issue(`dns.${k}`, `unknown DNS setting (expected ${DNS_KEYS.join(', ')})`));
  for (const which of ['hash_on', 'hash_fallback'] as const) {
    const v = u[which];
    if (v !== undefined && PROXY_ONLY_SOURCES.has(v))
      out.push(
        issue(`upstream.${which}`, `"${v}" needs a proxy's view of the request; use the hashKey option`),
      );
  }
  if (u.sticky !== undefined && (u.sticky.mode ?? 'cookie') !== 'source-ip')
    out.push(
      issue(
        'upstream.sticky.mode',
        'a client pins by key: use mode "source-ip" (its table keyed by the stickyKey option)',
      ),
    );
  const extra = Object.keys(s).filter(
    (k) => !['retries', 'retry_policy', 'connect_timeout', 'read_timeout', 'request_timeout'].includes(k),
  );
  for (const k of extra)
    out.push(
      issue(
        `service.${k}`,
        k === 'write_timeout'
          ? 'undici has no write timeout: not supported by the client'
          : 'not read by the client (expected retries, retry_policy, connect_timeout, read_timeout, request_timeout)',
      ),
    );
  const p = s.retry_policy ?? {};
  if ((p.hedge_delay ?? 0) > 0)
    out.push(issue('service.retry_policy.hedge_delay', 'hedging is not supported by the client yet'));
  if (p.buffer_body !== undefined)
    out.push(
      issue(
        'service.retry_policy.buffer_body',
        'not read by the client: string and Buffer bodies are always replayed, streams never',
      ),
    );
  return out;
}

/** The node settings a client takes, in its `dns` option. */
const DNS_KEYS = Object.keys(dnsNodeSchemas);

export interface ClientSpecs {
  readonly upstream: UpstreamSpec;
  readonly service: ServiceSpec;
  /** The one-upstream document validated (its `node.dns` and the upstream), for discovery. */
  readonly snapshot: Snapshot;
}

/**
 * Validates and normalizes the options; `targets` replaces the upstream's own (a discovery
 * source's list). Throws a ConfigError listing every problem.
 */
export function clientSpecs(
  upstream: UpstreamConfig,
  service: ClientServiceConfig,
  targets?: readonly TargetConfig[],
  dns: ClientDnsConfig = {},
): ClientSpecs {
  if (upstream === null || typeof upstream !== 'object')
    throw new ConfigError([issue('upstream', "expected an object in the declarative file's upstream shape")]);
  const own = clientOnlyIssues(upstream, service ?? {}, dns);
  if (own.length > 0) throw new ConfigError(own);
  const u = targets === undefined ? upstream : { ...upstream, targets: [...targets] };
  const document = {
    _format_version: '3.0',
    ...dns,
    upstreams: [u],
    services: [{ ...service, name: 'client', host: u.name }],
  };
  try {
    const loaded = new MemoryStore(document, OPTIONS_SOURCE).load();
    if (loaded.kind !== 'document') throw new Error('unreachable');
    const snapshot = snapshotFromSource(loaded.source);
    return { upstream: snapshot.upstreams[0]!, service: snapshot.services[0]!, snapshot };
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.issues.map(asWritten));
    throw err;
  }
}
