/**
 * Opening a node in cluster mode (`cluster:` in its file, or `fulcrum start --cluster URL`): the
 * local file gives the node's own settings (listeners, admin, logging, ...) and, for the first
 * node of a new cluster, the entities that seed it; the entities in force come from Redis, else
 * from the cache file of the last version this node applied (src/store/cluster-store.ts). Then
 * the node joins the cluster's membership and shares health probing (openClusterSharing).
 */

import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import type { ClusterSpec } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import { createLogs, type LogFormat } from '../observability/access-log.ts';
import { ConfigControl } from '../runtime/config-control.ts';
import { ClusterStore } from '../store/cluster-store.ts';
import { FileStore } from '../store/file-store.ts';
import { ClusterHealth } from './health-share.ts';
import { Membership } from './membership.ts';
import { connectRedis, ready, whenReady } from './redis.ts';
import { SharedStickyKey } from './sticky-key.ts';

/** The cache file's name beside the configuration file, when `cluster.cache_file` is unset. */
export const CLUSTER_CACHE_FILE = 'fulcrum.cluster-cache.json';

/** The `cluster` settings when only `--cluster URL` names the Redis (the schema's defaults). */
function defaults(redis: string): ClusterSpec {
  return { redis, prefix: 'fulcrum', nodeId: '', cacheFile: '', timeoutMs: 1000 };
}

/**
 * The cluster store for a node started from `configFile`, or null when neither the file nor
 * `url` asks for a cluster. The file is validated here as at any start (a bad file refuses it).
 */
export async function openClusterStore(o: {
  readonly configFile: string;
  readonly url?: string;
  readonly clock: Clock;
  readonly logLevel?: string;
  readonly logFormat?: LogFormat;
}): Promise<ClusterStore | null> {
  const file = new FileStore(o.configFile);
  const local = ConfigControl.open(file, o.clock);
  const inFile = local.snapshot.node.cluster;
  if (inFile === null && o.url === undefined) return null;
  const base = inFile ?? defaults(o.url!);
  const spec: ClusterSpec = {
    ...base,
    redis: o.url ?? base.redis,
    nodeId: base.nodeId || `${hostname()}-${process.pid}`,
    cacheFile: base.cacheFile || join(dirname(resolve(o.configFile)), CLUSTER_CACHE_FILE),
  };
  // The node's logger does not exist yet: this one says what happened while connecting.
  const log = createLogs(
    o.logLevel ?? local.snapshot.node.logging.level,
    'off',
    o.clock,
    o.logFormat ?? local.snapshot.node.logging.format,
  ).app.child({ node_id: spec.nodeId });
  return ClusterStore.open(spec, {
    cacheFile: spec.cacheFile,
    node: local.state.node,
    seed: local.state,
    log,
  });
}

/** What a node of a cluster shares besides its configuration: membership and health probing. */
export interface ClusterSharing {
  readonly membership: Membership;
  readonly health: ClusterHealth;
  /** The default key of sticky cookies, one for the cluster (sticky-key.ts). */
  readonly stickyKey: SharedStickyKey;
  /** `database` and the cluster fields of `/status`. */
  status(): { reachable: boolean; nodes: readonly string[]; health: Record<string, unknown> };
  /** Leave the cluster: stop claiming probe rounds, delete the heartbeat, close the connections. */
  close(): Promise<void>;
}

/**
 * Join the cluster of `store`: heartbeat (membership.ts), share health probing (health-share.ts)
 * and the default sticky key (sticky-key.ts), on a connection of their own. Waits for the first
 * heartbeat when Redis answers, so that the first probing round already knows the other nodes, and
 * for the sticky key, so that the first cookie is signed with the cluster's.
 */
export async function openClusterSharing(store: ClusterStore, clock: Clock): Promise<ClusterSharing> {
  const spec = store.spec;
  const client = await connectRedis(
    { url: spec.redis },
    { timeoutMs: spec.timeoutMs, name: 'fulcrum-cluster' },
  );
  const log = () => store.logger();
  const membership = new Membership({ client, prefix: spec.prefix, nodeId: spec.nodeId, clock, log });
  const health = new ClusterHealth({
    client,
    membership,
    redisUrl: spec.redis,
    prefix: spec.prefix,
    timeoutMs: spec.timeoutMs,
    clock,
    log,
  });
  const stickyKey = new SharedStickyKey({ client, prefix: spec.prefix, log });
  if (store.available() && (await whenReady(client, spec.timeoutMs))) {
    membership.start();
    await membership.firstBeat(spec.timeoutMs);
  } else membership.start();
  await stickyKey.sync();
  await health.start();
  return {
    membership,
    health,
    stickyKey,
    status: () => ({ reachable: ready(client), nodes: membership.live(), health: health.status() }),
    async close() {
      await health.close();
      await membership.leave();
      client.disconnect();
    },
  };
}

/** `/status` in cluster mode: Kong's `database.reachable`, and `cluster`. */
export function clusterStatus(
  store: ClusterStore,
  version: number,
  sharing: ClusterSharing | null,
): Record<string, unknown> {
  const shared = sharing?.status();
  return {
    database: { reachable: store.available() },
    cluster: {
      ...store.status(),
      version,
      ...(shared === undefined ? {} : { nodes: shared.nodes, health: shared.health }),
    },
  };
}
