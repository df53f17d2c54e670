/**
 * Health checking shared between processes: the workers of one node (src/workers/) and the nodes
 * of a cluster (src/cluster/). A HealthShare decides who probes a target and carries what one
 * process learnt to the others, so that each target is probed once per interval, not once per
 * process, and every process reaches the same verdict:
 *
 * - an active probe's outcome is published and every process counts it as if it had probed
 *   (UpstreamHealth.receive): same outcomes in the same order, same thresholds, same verdicts;
 * - a passive ejection (a process's own traffic failing) is published and the others eject the
 *   target too, each with its own ejection timer;
 * - a state set through the admin API, or the verdicts a process starting late must catch up on,
 *   travel as `state`.
 *
 * Events name targets by upstream name and `host:port` (what survives generations and crosses
 * processes). A process never re-publishes an event it received.
 */
import type { Outcome } from './probe-kit.ts';

export type HealthEvent =
  | { readonly kind: 'active'; readonly upstream: string; readonly target: string; readonly outcome: Outcome }
  | { readonly kind: 'eject'; readonly upstream: string; readonly target: string; readonly reason: string }
  | {
      readonly kind: 'state';
      readonly upstream: string;
      readonly target: string;
      readonly health: 'healthy' | 'unhealthy';
      readonly draining: boolean;
    };

export interface HealthShare {
  /**
   * Whether this process probes the target in this round of the loop whose interval is given; when
   * false another one does, and its outcome arrives through HealthRegistry.receive. `round` is the
   * number nextRound gave, when the share has one.
   */
  probes(upstream: string, target: string, intervalMs: number, round?: number): boolean | Promise<boolean>;
  /**
   * When the next round of an upstream's loop starts, after round `after` (-1 at first): a share
   * whose processes probe on one schedule (a cluster's) has them all start their rounds at the same
   * instants. Absent: each loop waits its interval (and jitter) after its last round, the first
   * round at once.
   */
  nextRound?(upstream: string, intervalMs: number, after: number): { round: number; waitMs: number };
  /** An outcome probed here, an ejection decided here, or a state set here, for the others. */
  publish(e: HealthEvent): void;
  /**
   * An event a worker process of this node published, which this share carries further (to the
   * other nodes of a cluster); absent when there is nowhere further.
   */
  forward?(e: HealthEvent): void;
  /** Carry events to this node's worker processes too (a cluster's share, in a primary). */
  chain?(local: HealthShare): void;
  /**
   * These targets left this process's configuration: what the share keeps about them (a cluster's
   * recorded verdicts) goes. Absent when it keeps nothing.
   */
  forget?(gone: readonly { readonly upstream: string; readonly target: string }[]): void;
}
