/**
 * The configuration of the registry (docs/discovery.md#registry): the node's `registry` setting
 * names where applications register themselves with a TTL (etcd v3 with leases, or the cluster
 * store's Redis with key expiry), and an upstream's `registry: true` takes the targets registered
 * under its name. Times are seconds in the file, milliseconds here.
 */
import { formatHostPort, parseHostPort } from '../core/net.ts';
import type { ConfigIssue, ParsedSource } from './load.ts';
import { bool, type S, str } from './schema-kit.ts';

// biome-ignore lint/suspicious/noExplicitAny: raw input has been checked against the schema already
type Raw = Record<string, any>;

/** etcd's client port. */
export const DEFAULT_ETCD_PORT = 2379;
export const DEFAULT_ETCD_PREFIX = 'fulcrum/';
export const DEFAULT_ETCD_DIAL_TIMEOUT_S = 2;
/** How often the Redis registry is read in full besides its notifications. */
export const DEFAULT_REDIS_REGISTRY_REFRESH_S = 10;

export interface EtcdRegistrySpec {
  /** `host:port` of each etcd member (IPv6 as `[addr]:port`). */
  readonly endpoints: readonly string[];
  /** Every key under it; ends with `/`. */
  readonly prefix: string;
  readonly dialTimeoutMs: number;
}

export interface RedisRegistrySpec {
  readonly refreshMs: number;
}

export interface RegistrySpec {
  readonly etcd: EtcdRegistrySpec | null;
  readonly redis: RedisRegistrySpec | null;
}

export const NO_REGISTRY: RegistrySpec = Object.freeze({ etcd: null, redis: null });

const seconds = (description: string, dflt: number, minimum = 0): S => ({
  type: 'number',
  minimum,
  maximum: 86_400,
  default: dflt,
  description,
});

/** Top-level node setting (spread into the file schema beside dnsNodeSchemas). */
export const registryNodeSchemas: Record<string, S> = {
  registry: {
    type: 'object',
    description:
      "Where applications register themselves as targets with a TTL and heartbeats (docs/discovery.md#registry): etcd v3 (leases, prefix watch) and/or the cluster store's Redis (keys with expiry). An upstream takes what is registered under its name with `registry: true`.",
    additionalProperties: false,
    properties: {
      etcd: {
        type: 'object',
        description:
          'An etcd v3 cluster: registrations are keys `<prefix>upstreams/<upstream>/targets/<address>:<port>` holding JSON `{weight, priority, zone, tags}`, attached to a lease that the registering party keeps alive.',
        additionalProperties: false,
        required: ['endpoints'],
        properties: {
          endpoints: {
            type: 'array',
            description: 'The etcd members, each `address:port` (port 2379 when omitted), plain HTTP/2.',
            items: { type: 'string', minLength: 1 },
            minItems: 1,
          },
          prefix: str('The key prefix every registration is under.', {
            default: DEFAULT_ETCD_PREFIX,
            minLength: 1,
          }),
          dial_timeout: seconds(
            'Seconds a connection to etcd may take before it is counted as failed (and retried).',
            DEFAULT_ETCD_DIAL_TIMEOUT_S,
            0.1,
          ),
        },
      },
      redis: {
        type: 'object',
        description:
          "The cluster store's Redis (`cluster`, docs/cluster.md): registrations are keys `<cluster prefix>:registry:<upstream>:<address>:<port>` holding JSON `{weight, priority, zone, tags}` with an expiry that the registering party refreshes; a `PUBLISH <cluster prefix>:registry <upstream>` makes a change land at once.",
        additionalProperties: false,
        properties: {
          refresh_interval: seconds(
            'Seconds between full reads of the registrations, besides the notifications (for a registration whose PUBLISH was lost).',
            DEFAULT_REDIS_REGISTRY_REFRESH_S,
            0.1,
          ),
        },
      },
    },
  },
};

export const registryUpstreamField: S = bool(
  "Take targets registered under this upstream's name in the node's `registry` (etcd or Redis; docs/discovery.md#registry): they appear when registered and leave when their lease or expiry runs out.",
  false,
);

const ms = (s: number | undefined, dflt: number): number => Math.round((s ?? dflt) * 1000);

export function normalizeRegistry(src: ParsedSource, doc: Raw, issues: ConfigIssue[]): RegistrySpec {
  const r = doc.registry as Raw | undefined;
  if (r === undefined) return NO_REGISTRY;
  let etcd: EtcdRegistrySpec | null = null;
  if (r.etcd !== undefined) {
    const endpoints: string[] = [];
    (r.etcd.endpoints as string[]).forEach((e, i) => {
      const hp = parseHostPort(e, DEFAULT_ETCD_PORT);
      if (hp === null)
        issues.push(
          src.issue(
            ['registry', 'etcd', 'endpoints', i],
            `expected address:port of an etcd member (no scheme; port ${DEFAULT_ETCD_PORT} when omitted), got ${JSON.stringify(e)}`,
          ),
        );
      else endpoints.push(formatHostPort(hp.host, hp.port));
    });
    const prefix: string = r.etcd.prefix ?? DEFAULT_ETCD_PREFIX;
    etcd = {
      endpoints,
      prefix: prefix.endsWith('/') ? prefix : `${prefix}/`,
      dialTimeoutMs: ms(r.etcd.dial_timeout, DEFAULT_ETCD_DIAL_TIMEOUT_S),
    };
  }
  const redis: RedisRegistrySpec | null =
    r.redis === undefined
      ? null
      : { refreshMs: ms(r.redis.refresh_interval, DEFAULT_REDIS_REGISTRY_REFRESH_S) };
  return { etcd, redis };
}
