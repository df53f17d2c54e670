/**
 * The validated, normalized, frozen configuration: what the runtime builds generations from.
 * The data plane never sees raw input (ARCHITECTURE.md convention 5).
 */
import type { BalancerSettings } from '../balancers/configure.ts';
import type { RampSettings } from '../upstreams/slow-start.ts';
import type { HealthchecksSpec } from './healthchecks.ts';
import type { CircuitBreakerSpec, RetryPolicySpec } from './resilience.ts';
import type { StickySpec } from './sticky.ts';

export interface ListenerSpec {
  readonly name: string;
  readonly protocol: 'http' | 'h2c';
  readonly address: string;
  readonly port: number;
  /** HTTP/2 settings and abuse limits (h2c listeners; null on http ones). docs/http2.md. */
  readonly http2?: Http2Settings | null;
}

/** A listener's HTTP/2 SETTINGS and per-connection abuse limits (0 disables a limit). */
export interface Http2Settings {
  readonly maxConcurrentStreams: number;
  readonly maxHeaderListBytes: number;
  readonly headerTableBytes: number;
  readonly initialWindowBytes: number;
  readonly maxResets: number;
  readonly resetWindowMs: number;
  readonly maxControlFrames: number;
  readonly controlWindowMs: number;
}

export interface AdminSpec {
  readonly enabled: boolean;
  readonly address: string;
  readonly port: number;
  /** The bearer token admin requests must present; '' when auth is off. */
  readonly token: string;
  readonly allowInsecure: boolean;
}

export interface LimitsSpec {
  readonly maxUriBytes: number;
  readonly maxHeaderBytes: number;
  readonly maxHeaders: number;
  readonly maxBodyBytes: number;
}

export interface TimeoutsSpec {
  readonly clientHeaderMs: number;
  readonly clientRequestMs: number;
  readonly keepaliveMs: number;
  readonly drainMs: number;
  readonly upstreamKeepaliveMs: number;
}

export interface HeadersSpec {
  readonly via: boolean;
  readonly forwarded: boolean;
  /** Lower-case header name, or '' when request ids are off. */
  readonly requestId: string;
  readonly serverTokens: boolean;
}

export interface NodeSpec {
  readonly listeners: readonly ListenerSpec[];
  readonly admin: AdminSpec;
  readonly limits: LimitsSpec;
  readonly timeouts: TimeoutsSpec;
  readonly logging: { readonly level: string; readonly accessLog: string };
  readonly trustedIps: readonly string[];
  readonly headers: HeadersSpec;
  /** The node's zone (top-level `zone`), '' when unset: zone-aware balancing prefers it. */
  readonly zone: string;
}

export interface TargetSpec {
  readonly id: string;
  /** `host:port` as written, normalized (`[v6]:port` for IPv6). */
  readonly target: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  /** Priority level, 0 the highest (Envoy priorities). */
  readonly priority: number;
  /** Zone, '' when unset (zone-aware balancing). */
  readonly zone: string;
  readonly tags: readonly string[];
}

/** Where a hashing algorithm takes its key from; `name` is the header (lower case), cookie or query argument. */
export interface HashSource {
  readonly kind: 'none' | 'consumer' | 'ip' | 'header' | 'cookie' | 'path' | 'query_arg';
  readonly name: string;
}

export interface UpstreamSpec {
  readonly id: string;
  readonly name: string;
  /** The canonical algorithm id (`consistent-hashing` is stored as `ring-hash`). */
  readonly algorithm: string;
  readonly balancer: BalancerSettings;
  readonly hashOn: HashSource;
  readonly hashFallback: HashSource;
  /** Path attribute of the cookie set for `hash_on: cookie`. */
  readonly hashCookiePath: string;
  /** Slow start (`slow_start` in ms, aggression, min weight as a fraction); windowMs 0 is off. */
  readonly slowStart: RampSettings;
  /** `overprovisioning_factor`, read when targets have several priority levels. */
  readonly overprovisioningFactor: number;
  readonly hostHeader: string | undefined;
  readonly targets: readonly TargetSpec[];
  /** True when made from a service whose host is a plain hostname (one target, no upstream object). */
  readonly implicit: boolean;
  readonly tags: readonly string[];
  /** Active and passive health checks and the panic threshold (docs/health.md). */
  readonly healthchecks: HealthchecksSpec;
  /** Circuit-breaker limits and the retry budget (docs/resilience.md). */
  readonly circuitBreaker: CircuitBreakerSpec;
  /** Sticky sessions (cookie or source-ip affinity), or null when off. */
  readonly sticky: StickySpec | null;
}

export interface ServiceSpec {
  readonly id: string;
  readonly name: string;
  readonly protocol: 'http' | 'https' | 'grpc' | 'grpcs';
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly connectTimeoutMs: number;
  readonly readTimeoutMs: number;
  readonly writeTimeoutMs: number;
  readonly retries: number;
  readonly retryPolicy: RetryPolicySpec;
  /** Whole-request limit to response headers across tries; 0: none. */
  readonly requestTimeoutMs: number;
  readonly enabled: boolean;
  readonly tlsVerify: boolean;
  /** HTTP/2 to the targets: `http2: true`, or a grpc/grpcs service (h2c in cleartext, ALPN over TLS). */
  readonly http2: boolean;
  /** The upstream name traffic goes through (an explicit upstream, or the implicit one made for host:port). */
  readonly upstream: string;
  readonly tags: readonly string[];
}

export interface RouteSpec {
  readonly id: string;
  readonly name: string;
  /** Position in the file, the last tie-breaker of the matching order. */
  readonly index: number;
  /** Object path in the file, for status and errors (`services[0].routes[1]`). */
  readonly path: string;
  readonly service: string;
  readonly protocols: readonly string[];
  readonly methods: readonly string[];
  readonly hosts: readonly string[];
  readonly paths: readonly string[];
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly stripPath: boolean;
  readonly preserveHost: boolean;
  /** Whether failed tries of non-idempotent methods may be retried past a connect failure. */
  readonly retryNonIdempotent: boolean;
  readonly regexPriority: number;
  readonly priority: number;
  readonly pathHandling: 'v0' | 'v1';
  readonly tags: readonly string[];
}

export interface ConsumerSpec {
  readonly id: string;
  readonly username: string | undefined;
  readonly customId: string | undefined;
  readonly tags: readonly string[];
}

/** One object that is kept out of service, and why (Traefik-style runtime status). */
export interface Problem {
  readonly path: string;
  readonly message: string;
}

export interface Snapshot {
  /** Where it came from: a file path, `<default>`, or `<admin>`. */
  readonly source: string;
  /** sha256 of the normalized content, short: equal snapshots have equal hashes. */
  readonly hash: string;
  readonly node: NodeSpec;
  readonly services: readonly ServiceSpec[];
  readonly routes: readonly RouteSpec[];
  readonly upstreams: readonly UpstreamSpec[];
  readonly consumers: readonly ConsumerSpec[];
  /** Objects disabled by a configuration problem; the rest serves. */
  readonly problems: readonly Problem[];
}
