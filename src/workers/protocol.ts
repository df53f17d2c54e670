/**
 * The messages between a node's primary and its worker processes (Node's cluster IPC with the
 * `advanced` serialization: structured clone, so snapshots cross as they are). A snapshot travels
 * in slices (src/core/bulk.ts) so that no one message holds a worker's event loop for long:
 * `start` or `prepare` carries the head, `part` messages the slices, `end` closes it.
 *
 * A change is two-phase: `prepare` (bind the new listeners, build the generation, answer
 * `prepared` or `refused`), then `commit` or `abort` once every worker has answered, so all
 * workers put the same generation number in service, or none does.
 */
import type { AddressInfo } from 'node:net';
import type { ConfigIssue } from '../config/load.ts';
import type { BulkHead, BulkPart } from '../core/bulk.ts';
import type { HealthEvent } from '../health/share.ts';
import type { LogFormat } from '../observability/access-log.ts';
import type { BreakerAnswer, BreakerAsk } from './breakers.ts';
import type { CounterAnswer, CounterAsk } from './counters.ts';
import type { ListenMode } from './listen-mode.ts';

/** What a worker needs to know besides the snapshot (the primary's command-line overrides). */
export interface WorkerSettings {
  readonly index: number;
  readonly mode: ListenMode;
  readonly logLevel?: string;
  readonly logFormat?: LogFormat;
  readonly accessLog?: string;
  readonly configWorker?: boolean;
  /** Rate-limit `policy: redis` without a host counts in this Redis (the node's `cluster`). */
  readonly clusterRedis?: string;
  /** The cluster's key prefix (`cluster.prefix`). */
  readonly clusterPrefix?: string;
  /** `cluster.timeout`: how long a cluster Redis command may take. */
  readonly clusterTimeoutMs?: number;
  /** The cluster's live nodes at start: while Redis is away, a `policy: redis` limit / nodes is
   * counted by the primary for all its workers. */
  readonly nodes?: number;
}

export type ToWorker =
  | {
      readonly t: 'start';
      readonly settings: WorkerSettings;
      readonly generation: number;
      readonly health: readonly HealthEvent[];
      readonly head: BulkHead;
    }
  | { readonly t: 'prepare'; readonly generation: number; readonly head: BulkHead }
  | { readonly t: 'part'; readonly part: BulkPart }
  | { readonly t: 'end' }
  | { readonly t: 'commit'; readonly generation: number }
  | { readonly t: 'abort'; readonly generation: number }
  | { readonly t: 'health'; readonly e: HealthEvent }
  /** The number of live nodes of the cluster changed. */
  | { readonly t: 'nodes'; readonly count: number }
  /** The node adopted the cluster's default sticky key (hex): sign with it too. */
  | { readonly t: 'sticky-key'; readonly key: string }
  | { readonly t: 'ask'; readonly id: number; readonly what: 'status' | 'metrics' }
  | { readonly t: 'reopen' }
  | { readonly t: 'stop' }
  | CounterAnswer
  | BreakerAnswer;

export type FromWorker =
  /** The worker listens for messages (sent first: a message sent before an ES module worker has
   * loaded is lost with the advanced serialization, so the primary waits for this). */
  | { readonly t: 'hello' }
  | { readonly t: 'ready'; readonly generation: number; readonly addresses: readonly AddressInfo[] }
  | { readonly t: 'failed'; readonly message: string }
  | { readonly t: 'prepared'; readonly generation: number }
  | { readonly t: 'refused'; readonly generation: number; readonly issues: readonly ConfigIssue[] }
  | { readonly t: 'committed'; readonly generation: number }
  | { readonly t: 'health'; readonly e: HealthEvent }
  | { readonly t: 'answer'; readonly id: number; readonly value: unknown }
  | CounterAsk
  | BreakerAsk;

/** The environment variable that tells a process it is worker N of a node (set by the primary). */
export const WORKER_ENV = 'FULCRUM_WORKER';
