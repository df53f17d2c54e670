/**
 * What a node is started with and answers (NodeOptions, ReloadResult, BindError), and the seams
 * it has with its workers (ProxyHost, PreparedChange): apart from node.ts, which drives them, so
 * that the worker modules and the command line import these without the node's machinery.
 */
import type { AddressInfo } from 'node:net';
import type { AffinityShare } from '../cluster/affinity-share.ts';
import type { ClusterSharing } from '../cluster/node-cluster.ts';
import type { ConfigIssue } from '../config/load.ts';
import type { ListenerSpec, Snapshot } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import type { Scheduler } from '../core/pace.ts';
import type { Rng } from '../core/random.ts';
import type { HealthShare } from '../health/share.ts';
import type { ProxyListener } from '../listeners/index.ts';
import type { LogFormat, Logs } from '../observability/access-log.ts';
import type { SharedCounters } from '../plugins/rate-limit-policy.ts';
import type { ConfigStore } from '../store/store.ts';
import type { NodeBreakers } from '../upstreams/connection-slots.ts';
import type { ConfigControl } from './config-control.ts';
import type { Prepared, Runtime } from './runtime.ts';

/** What a ProxyHost is made from: the node that will drive it. */
export interface HostedNode {
  readonly runtime: Runtime;
  readonly logs: Logs;
  readonly control: ConfigControl;
  /** Membership and shared health probing in cluster mode (src/cluster/node-cluster.ts), else null. */
  readonly cluster: ClusterSharing | null;
}

export interface NodeOptions {
  /** The declarative file; reload() re-reads it. */
  readonly configFile?: string;
  /** A snapshot to start from instead of a file (tests). */
  readonly snapshot?: Snapshot;
  /** A store to read the configuration from instead of a file (embedding: MemoryStore); reload() re-reads it. */
  readonly store?: ConfigStore;
  readonly clock?: Clock;
  readonly rng?: Rng;
  /** Override the file's logging (tests pass `off` and `silent`). */
  readonly accessLog?: string;
  readonly logLevel?: string;
  /** Override the file's `logging.format` (CLI `--log-format`). */
  readonly logFormat?: LogFormat;
  /**
   * Managed mode: the admin API's changes are persisted to this state file and read back on start
   * (`fulcrum start --managed --state FILE`). When the file does not exist yet, the node starts
   * from `configFile` if given (and writes it as the first state), else empty.
   */
  readonly stateFile?: string;
  /**
   * Cluster mode: the Redis the cluster shares (`fulcrum start --cluster URL`), over the file's
   * `cluster.redis`; with neither, the node is alone (docs/cluster.md).
   */
  readonly cluster?: string;
  /** File mode: reload when the declarative file changes (`fulcrum start --watch`). */
  readonly watch?: boolean;
  /** Override the file's top-level `zone` (CLI `--zone`, `FULCRUM_ZONE`): one file, nodes in many zones. */
  readonly zone?: string;
  /**
   * Validate configuration changes in a worker thread and build generations a few milliseconds at
   * a time (default true; docs/architecture.md). Off, a change is handled in one go.
   */
  readonly configWorker?: boolean;
  /** How paced work waits for the next turn of the event loop (tests count turns). */
  readonly scheduler?: Scheduler;
  /**
   * Where the proxy listeners run when not in this process: a primary's worker processes
   * (src/workers/pool.ts). The node then binds no proxy listener itself; each change is applied by
   * the workers first (all or none), then here.
   */
  readonly proxyHost?: (snapshot: Snapshot, node: HostedNode) => ProxyHost | undefined;
  /** Whether to bind the admin listener (default: as the configuration says; false in a worker). */
  readonly admin?: boolean;
  /** The number of the first generation (a worker takes its primary's). */
  readonly generation?: number;
  /** Health checks shared with other processes (src/health/share.ts). */
  readonly healthShare?: HealthShare;
  /**
   * Rate-limit counts shared with other processes (workers' primary, Redis), and proxy-cache's
   * Redis store (`cache`).
   */
  readonly counters?: SharedCounters;
  /** Circuit-breaker counts kept by the node's primary (a worker's: src/workers/worker-breakers.ts). */
  readonly breakers?: NodeBreakers;
  /**
   * Source-ip tables shared across the cluster (`source_ip.store: cluster`; a worker's own);
   * default: made in cluster mode. The node registers its metrics and closes it.
   */
  readonly affinityShare?: AffinityShare;
  /**
   * Run discovery (src/discovery/) on the snapshots this node is given (default true). False in a
   * worker: its primary discovers and hands it snapshots with the targets filled in.
   */
  readonly discovery?: boolean;
  /** Fields every application log line carries (`worker: 2`). */
  readonly logBindings?: Record<string, unknown>;
  /** The start-up log line's message (default `fulcrum started`). */
  readonly startedMessage?: string;
}

/**
 * Where proxy listeners run when it is not the node's own process (src/workers/pool.ts): started
 * with the first snapshot, given each change to apply before the node applies it, stopped last.
 */
export interface ProxyHost {
  start(snapshot: Snapshot, generation: number): Promise<void>;
  /** Apply a change everywhere or nowhere, as generation `generation`. */
  apply(snapshot: Snapshot, generation: number): Promise<ReloadResult>;
  addresses(): AddressInfo[];
  /** Per worker process: what `/status` shows of it. */
  status(): Promise<unknown[]>;
  /** The node's metrics text: this process's (`own`) merged with every worker's, labelled by worker. */
  metrics(own: string): Promise<string>;
  reopenLogs(): void;
  /** Drain and stop (SIGTERM): resolves once every process has exited. */
  stop(drainMs: number): Promise<void>;
}

/** A change built and bound, not yet in service (FulcrumNode.prepare). */
export interface PreparedChange {
  readonly snapshot: Snapshot;
  readonly before: string;
  readonly listeners: ProxyListener[];
  readonly added: readonly ProxyListener[];
  readonly reconfigure: readonly (readonly [ProxyListener, ListenerSpec])[];
  readonly built: Prepared;
}

/**
 * A listener could not bind its address: the message names the listener and says why, for the
 * command line to print without a stack (EADDRINUSE, EACCES, EADDRNOTAVAIL).
 */
export class BindError extends Error {
  readonly listener: string;
  readonly code: string;
  constructor(listener: string, protocol: string, address: string, port: number, err: unknown) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const why =
      code === 'EADDRINUSE'
        ? 'the address is already in use (another process listens on it)'
        : code === 'EACCES'
          ? 'permission denied (ports below 1024 need privileges)'
          : code === 'EADDRNOTAVAIL'
            ? 'the address is not one of this machine'
            : (err as Error).message;
    super(
      `listener ${JSON.stringify(listener)} (${protocol} on ${address}:${port}) cannot bind: ${why}${code ? ` (${code})` : ''}`,
    );
    this.listener = listener;
    this.code = code;
  }
}

export type ReloadResult =
  | { ok: true; generation: number; hash: string; changed: boolean }
  | { ok: false; issues: readonly ConfigIssue[] };

export function listenerKey(l: ListenerSpec): string {
  return `${l.name}|${l.protocol}|${l.address}|${l.port}`;
}

/**
 * At start, how long the first answers of discovery (DNS, file_sd) are awaited before the listeners
 * bind; past it the node starts with what it has and takes the rest as it arrives.
 */
export const DISCOVERY_START_WAIT_MS = 5000;

/** The snapshot with the node's zone replaced by an override (the override wins over the file). */
export function withZone(snapshot: Snapshot, zone: string | undefined): Snapshot {
  if (zone === undefined || zone === snapshot.node.zone) return snapshot;
  return Object.freeze({ ...snapshot, node: Object.freeze({ ...snapshot.node, zone }) });
}
