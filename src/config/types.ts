/**
 * The validated, normalized, frozen configuration: what the runtime builds generations from.
 * The data plane never sees raw input (ARCHITECTURE.md convention 5).
 */
import type { BalancerSettings } from '../balancers/configure.ts';
import type { RampSettings } from '../upstreams/slow-start.ts';
import type { DnsSpec, FileSdSpec } from './discovery.ts';
import type { HealthchecksSpec } from './healthchecks.ts';
import type { L4RouteFields } from './l4.ts';
import type { RegistrySpec } from './registry.ts';
import type { CircuitBreakerSpec, RetryPolicySpec } from './resilience.ts';
import type { StickySpec } from './sticky.ts';
import type { ListenerTlsSpec, UpstreamTlsSpec } from './tls.ts';
import type { TracingSpec } from './tracing.ts';

export interface ListenerSpec {
  readonly name: string;
  readonly protocol: 'http' | 'https' | 'h2c' | 'tcp' | 'udp' | 'tls_passthrough';
  readonly address: string;
  readonly port: number;
  /** L4 listeners (docs/l4.md): expect a PROXY protocol header from trusted peers. */
  readonly proxyProtocol: boolean;
  /** tcp / tls_passthrough: most open client connections, 0 for no limit. */
  readonly maxConnections: number;
  /** udp: the session table's bound. */
  readonly maxSessions: number;
  /** TLS termination (https listeners), else null. */
  readonly tls: ListenerTlsSpec | null;
  /** HTTP/2 settings and abuse limits (h2c listeners; null on http ones). docs/http2.md. */
  readonly http2?: Http2Settings | null;
}

/** A listener's HTTP/2 SETTINGS and per-connection abuse limits (0 disables a limit). */
export interface Http2Settings {
  /** Which HTTP/2 server implementation serves the listener (docs/http2.md, "Codecs"). */
  readonly codec: 'fulcrum' | 'node';
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
  /** Extra names the Host header may carry (`admin.allowed_hosts`), lower case. */
  readonly allowedHosts: readonly string[];
  /** HTTPS for the admin API (the listener TLS settings), or null for plain HTTP. */
  readonly tls: ListenerTlsSpec | null;
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
  readonly logging: {
    readonly level: string;
    /** `auto` (pretty on a terminal), `json` or `pretty`. */
    readonly format: 'auto' | 'json' | 'pretty';
    /** `stdout`, `stderr`, `off`, or an absolute file path (resolved against the file's directory). */
    readonly accessLog: string;
  };
  /** OpenTelemetry tracing (`tracing`), or null when off. */
  readonly tracing: TracingSpec | null;
  readonly trustedIps: readonly string[];
  readonly headers: HeadersSpec;
  /** The node's zone (top-level `zone`), '' when unset: zone-aware balancing prefers it. */
  readonly zone: string;
  /** DNS discovery settings (Kong's `dns_*` names; docs/discovery.md). */
  readonly dns: DnsSpec;
  /** Where applications register themselves as targets (`registry`; docs/discovery.md#registry). */
  readonly registry: RegistrySpec;
  /** Worker processes (`workers`): a count, or 0 for `auto` (one per core). */
  readonly workers: number;
  /** How workers share ports (`worker_listen`). */
  readonly workerListen: 'auto' | 'reuseport' | 'cluster';
  /** Listening sockets per TCP listener (`accept_sockets`), 0 for `auto` (src/listeners/accept-group.ts). */
  readonly acceptSockets: number;
  /** The cluster store (`cluster`), or null for a node alone. */
  readonly cluster: ClusterSpec | null;
}

/** `cluster`: the Redis a cluster of nodes shares (docs/cluster.md). */
export interface ClusterSpec {
  readonly redis: string;
  readonly prefix: string;
  /** '' for the default (host name and process id). */
  readonly nodeId: string;
  /** An absolute path, or '' for the default beside the configuration file. */
  readonly cacheFile: string;
  readonly timeoutMs: number;
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
  /**
   * `resolve`: the hostname expands to one target per DNS record (src/discovery/); absent or false:
   * one target resolved by the operating system per connection.
   */
  readonly resolve?: boolean;
  /** A target found through an SRV record: the record's target name (src/discovery/dns.ts). */
  readonly srvName?: string;
}

/** Where a hashing algorithm takes its key from; `name` is the header (lower case), cookie or query argument. */
export interface HashSource {
  readonly kind: 'none' | 'consumer' | 'ip' | 'header' | 'cookie' | 'path' | 'query_arg' | 'uri_capture';
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
  /** Kong's `use_srv_name`: targets found through SRV records get the record's name as Host and SNI. */
  readonly useSrvName?: boolean;
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
  /** Targets also come from this file_sd directory (src/discovery/file-sd.ts); absent or null: none. */
  readonly fileSd?: FileSdSpec | null;
  /** Targets also come from the node's registry, registered under this upstream's name (src/discovery/registry.ts). */
  readonly registry?: boolean;
}

export interface ServiceSpec {
  readonly id: string;
  readonly name: string;
  readonly protocol: 'http' | 'https' | 'grpc' | 'grpcs' | 'tcp' | 'udp' | 'tls_passthrough';
  /** tcp services: send a PROXY protocol header to targets (docs/l4.md). */
  readonly proxyProtocol: 'off' | 'v1' | 'v2';
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
  /** Trusted CAs, client certificate and SNI override for https targets (docs/tls.md). */
  readonly tls: UpstreamTlsSpec;
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
  /** Kong's `https_redirect_status_code`: the answer to plain HTTP on an https-only route. */
  readonly httpsRedirectStatus: number;
  readonly regexPriority: number;
  readonly priority: number;
  readonly pathHandling: 'v0' | 'v1';
  readonly tags: readonly string[];
  /** The L4 matchers of a tcp, udp or tls_passthrough route; null for an HTTP route (docs/l4.md). */
  readonly l4: L4RouteFields | null;
}

export interface ConsumerSpec {
  readonly id: string;
  readonly username: string | undefined;
  readonly customId: string | undefined;
  readonly tags: readonly string[];
  /** `keyauth_credentials` (key-auth). */
  readonly keyauthCredentials: readonly KeyAuthCredentialSpec[];
  /** `basicauth_credentials` (basic-auth); passwords stored hashed (docs/plugins.md#basic-auth). */
  readonly basicauthCredentials: readonly BasicAuthCredentialSpec[];
  /** `acls`: the groups this consumer belongs to (acl). */
  readonly acls: readonly string[];
  /** `jwt_secrets` (jwt). */
  readonly jwtSecrets: readonly JwtSecretSpec[];
}

export interface JwtSecretSpec {
  readonly id: string;
  /** The value of the token's `key_claim_name` claim (`iss`) that selects this secret. */
  readonly key: string;
  readonly algorithm: string;
  /** HMAC algorithms: the shared secret (already base64-decoded when `secret_is_base64` applies at use). */
  readonly secret: string;
  /** Asymmetric algorithms: the PEM public key. */
  readonly publicKey: string;
  /** Asymmetric algorithms: a JWKS URL the keys come from instead (jwks.ts), or ''. */
  readonly jwksUri: string;
  readonly tags: readonly string[];
}

export interface KeyAuthCredentialSpec {
  readonly id: string;
  readonly key: string;
  readonly tags: readonly string[];
}

export interface BasicAuthCredentialSpec {
  readonly id: string;
  readonly username: string;
  /** Hex SHA-1 of the password followed by the consumer id (Kong's stored form). */
  readonly passwordHash: string;
  readonly tags: readonly string[];
}

/** A configured plugin instance with its scope (null: any), its config checked and defaulted. */
export interface PluginSpec {
  readonly id: string;
  readonly name: string;
  readonly instanceName: string;
  readonly enabled: boolean;
  readonly config: Readonly<Record<string, unknown>>;
  /** The service's name, the route's id, the consumer's id; null when not scoped to one. */
  readonly service: string | null;
  readonly route: string | null;
  readonly consumer: string | null;
  /** Where it is in the file (`services[0].plugins[1]`). */
  readonly path: string;
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
  /** Every enabled and disabled plugin instance, in file order (chains are built from them). */
  readonly plugins: readonly PluginSpec[];
  /** Objects disabled by a configuration problem; the rest serves. */
  readonly problems: readonly Problem[];
  /**
   * What loads but does not act as in Kong: Kong fields accepted and not supported, an old
   * `_format_version` migrated, a route without a service (config/kong-fields.ts).
   */
  readonly warnings: readonly Problem[];
}
