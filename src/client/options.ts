/**
 * The client library's options: an upstream in the declarative file's shape, and the service fields
 * that govern tries (retries, retry policy, timeouts). Both are checked by the file's own validator
 * and normalizer (the same schema, defaults, range checks and messages as `fulcrum validate`), by
 * wrapping them in a one-upstream, one-service document; paths in errors are given back as the
 * caller wrote them (`upstream.targets[1].weight`). What a client cannot do is refused by name.
 */
import type { ServiceConfig, TargetConfig, UpstreamConfig } from '../config/file-types.ts';
import { ConfigError, type ConfigIssue } from '../config/load.ts';
import type { ServiceSpec, UpstreamSpec } from '../config/types.ts';
import { snapshotFromSource } from '../config/validate.ts';
import { MemoryStore } from '../store/memory-store.ts';

/** The service fields a client reads (milliseconds, as in the file). */
export type ClientServiceConfig = Pick<
  ServiceConfig,
  'retries' | 'retry_policy' | 'connect_timeout' | 'read_timeout' | 'request_timeout'
>;

export const OPTIONS_SOURCE = '<client options>';

/** Hash key sources that need a proxy's view of the request (a client has no peer, consumer or route). */
const PROXY_ONLY_SOURCES = new Set(['ip', 'consumer', 'uri_capture']);

function issue(path: string, message: string): ConfigIssue {
  return { file: OPTIONS_SOURCE, line: 0, column: 0, path, message };
}

/** `upstreams[0].x` → `upstream.x`; `services[0].x` → `service.x` (lines refer to no file the caller has). */
function asWritten(i: ConfigIssue): ConfigIssue {
  const path = i.path.replace(/^upstreams\[0\]/, 'upstream').replace(/^services\[0\]/, 'service');
  return issue(path, i.message);
}

/** What the validator cannot know is wrong in a client: refused with the reason. */
function clientOnlyIssues(u: UpstreamConfig, s: ClientServiceConfig): ConfigIssue[] {
  const out: ConfigIssue[] = [];
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

export interface ClientSpecs {
  readonly upstream: UpstreamSpec;
  readonly service: ServiceSpec;
}

/**
 * Validates and normalizes the options; `targets` replaces the upstream's own (a discovery
 * source's list). Throws a ConfigError listing every problem.
 */
export function clientSpecs(
  upstream: UpstreamConfig,
  service: ClientServiceConfig,
  targets?: readonly TargetConfig[],
): ClientSpecs {
  if (upstream === null || typeof upstream !== 'object')
    throw new ConfigError([issue('upstream', "expected an object in the declarative file's upstream shape")]);
  const own = clientOnlyIssues(upstream, service ?? {});
  if (own.length > 0) throw new ConfigError(own);
  const u = targets === undefined ? upstream : { ...upstream, targets: [...targets] };
  const document = {
    _format_version: '3.0',
    upstreams: [u],
    services: [{ ...service, name: 'client', host: u.name }],
  };
  try {
    const loaded = new MemoryStore(document, OPTIONS_SOURCE).load();
    if (loaded.kind !== 'document') throw new Error('unreachable');
    const snapshot = snapshotFromSource(loaded.source);
    return { upstream: snapshot.upstreams[0]!, service: snapshot.services[0]! };
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(err.issues.map(asWritten));
    throw err;
  }
}
