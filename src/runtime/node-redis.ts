/**
 * What a node keeps in Redis besides its configuration and health (those are node-cluster.ts's):
 * the `policy: redis` rate-limit counters, the proxy-cache `strategy: redis` stores and the
 * source-ip tables shared with the cluster (`source_ip.store: cluster`). The first two open a
 * connection per way a plugin instance names a Redis, while an instance in service uses it
 * (src/cluster/plugin-redis.ts); outside a cluster they still serve plugins that name a Redis of
 * their own, and the third is absent. A worker is handed its counters by its primary (NodeOptions
 * `counters`), and a primary serving no traffic shares no tables or cache entries itself.
 */
import type { Logger } from 'pino';
import { AffinityShare } from '../cluster/affinity-share.ts';
import type { ClusterSharing } from '../cluster/node-cluster.ts';
import { RedisCaches } from '../cluster/proxy-cache-redis.ts';
import { RedisCounters } from '../cluster/rate-limit-redis.ts';
import type { Clock } from '../core/clock.ts';
import type { Registry } from '../observability/registry.ts';
import type { SharedCounters } from '../plugins/rate-limit-policy.ts';
import { ClusterStore } from '../store/cluster-store.ts';
import type { ConfigStore } from '../store/store.ts';
import type { NodeOptions } from './node-options.ts';

export class NodeRedis {
  /** `policy: redis` counters (null in a worker, whose primary hands it counters). */
  private readonly counters: RedisCounters | null;
  /** proxy-cache `strategy: redis` stores (null in a worker, which makes its own). */
  private caches: RedisCaches | null;
  /** Source-ip tables shared with the cluster, or null. */
  affinity: AffinityShare | null;
  /** What the runtime counts and caches with: the node's own, or what it was handed. */
  readonly shared: SharedCounters;

  constructor(
    options: NodeOptions,
    store: ConfigStore,
    cluster: ClusterSharing | null,
    deps: { clock: Clock; log: Logger },
  ) {
    // What the node's Redis users share: the cluster's Redis and prefix (none outside a cluster).
    const redisDeps = {
      ...deps,
      clusterUrl: store instanceof ClusterStore ? store.spec.redis : null,
      prefix: store instanceof ClusterStore ? store.spec.prefix : undefined,
    };
    const own = options.counters === undefined;
    const counters = own
      ? new RedisCounters({
          ...redisDeps,
          // While Redis is away, each node takes its share of a limit.
          share: () => cluster?.membership.count() ?? 1,
        })
      : null;
    const caches = own ? new RedisCaches(redisDeps) : null;
    this.counters = counters;
    this.caches = caches;
    this.affinity =
      options.affinityShare ??
      (store instanceof ClusterStore
        ? new AffinityShare({
            url: store.spec.redis,
            prefix: store.spec.prefix,
            timeoutMs: store.spec.timeoutMs,
            ...deps,
          })
        : null);
    this.shared = options.counters ?? {
      policy: (req) => (req.conf.policy === 'redis' ? counters!.policy(req) : null),
      cache: (req) => caches!.cache(req),
    };
  }

  register(registry: Registry): void {
    this.counters?.register(registry);
    this.caches?.register(registry);
    this.affinity?.register(registry);
  }

  /** A primary serving no traffic: its workers share tables and cache entries themselves. */
  notServing(): void {
    this.affinity?.close();
    this.caches?.close();
  }

  close(): void {
    this.counters?.close();
    this.caches?.close();
    this.affinity?.close();
  }
}
