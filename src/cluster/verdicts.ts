/**
 * The verdicts in force in a cluster, kept in Redis for a node that joins, restarts or reconnects:
 * the hash `<prefix>:health:verdicts` holds, per target not in its default state (healthy, not
 * draining), its verdict, where it came from (an active probe, a passive ejection, the admin API),
 * the node and the time (the cluster's clock), and for an ejection on a timer (a passive one, or
 * any without active checks to bring the target back) when it ends.
 *
 * The node that made an event (a probe, an ejection, a state set through its admin API) publishes
 * it and records the verdict it reached, in one script: a node that subscribed before the script ran
 * gets the event, and one that reads the hash after it ran finds the verdict; a node reads the hash
 * once subscribed (health-share.ts), so nothing falls between. A target back to its default state
 * leaves the hash, so it holds only the targets that are out or draining; an ejection's entry is
 * ignored once its end has passed. A target that leaves the configuration leaves the hash too: each
 * node deletes its entry as it applies that configuration (ClusterHealth.forget).
 */
import type { HealthEvent } from '../health/share.ts';

/** A target's verdict as the node that reached it sees it (HealthRegistry.verdict). */
export interface Verdict {
  readonly health: 'healthy' | 'unhealthy';
  readonly draining: boolean;
  /** How long an ejection still lasts (its timer: no active check brings the target back), or null. */
  readonly ejectedForMs: number | null;
}

/** One entry of the hash. */
export interface VerdictEntry {
  readonly health: 'healthy' | 'unhealthy';
  readonly draining: boolean;
  readonly source: 'active' | 'passive' | 'admin';
  readonly node: string;
  /** When it was recorded (ms, the cluster's clock). */
  readonly at: number;
  /** When an ejection on a timer ends (ms, the cluster's clock), or absent. */
  readonly until?: number;
}

/**
 * KEYS: the verdicts hash. ARGV: channel, message, field, entry ('' for the default state: the
 * field is deleted).
 */
export const PUBLISH_AND_RECORD = `
redis.call('PUBLISH', ARGV[1], ARGV[2])
if ARGV[4] == '' then
  redis.call('HDEL', KEYS[1], ARGV[3])
else
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
end
return 1
`;

/** KEYS: the verdicts hash. Returns its fields and values, flat. */
export const READ = `return redis.call('HGETALL', KEYS[1])`;

/** The hash field of a target. */
export function verdictField(upstream: string, target: string): string {
  return JSON.stringify([upstream, target]);
}

/** The entry recording the verdict an event led to ('' when it is the default state). */
export function verdictEntry(e: HealthEvent, v: Verdict | null, node: string, nowMs: number): string {
  const health = e.kind === 'state' ? e.health : (v?.health ?? 'healthy');
  const draining = e.kind === 'state' ? e.draining : (v?.draining ?? false);
  if (health === 'healthy' && !draining) return '';
  const ejected = v?.ejectedForMs ?? null;
  const entry: VerdictEntry = {
    health,
    draining,
    source: e.kind === 'state' ? 'admin' : e.kind === 'eject' ? 'passive' : 'active',
    node,
    at: Math.round(nowMs),
    ...(ejected === null || health !== 'unhealthy' ? {} : { until: Math.round(nowMs + ejected) }),
  };
  return JSON.stringify(entry);
}

/**
 * The events that bring a node to the verdicts of a hash read at `nowMs`: a `state` per entry, and
 * for an ejection on a timer not yet over an `eject` first (which starts the node's own timer).
 * Malformed entries and ended ejections are skipped.
 */
export function verdictEvents(flat: readonly string[], nowMs: number): HealthEvent[] {
  const out: HealthEvent[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) {
    let field: unknown;
    let entry: Partial<VerdictEntry>;
    try {
      field = JSON.parse(flat[i]!);
      entry = JSON.parse(flat[i + 1]!) as Partial<VerdictEntry>;
    } catch {
      continue;
    }
    if (!Array.isArray(field) || typeof field[0] !== 'string' || typeof field[1] !== 'string') continue;
    const [upstream, target] = field as [string, string];
    if (entry.health !== 'healthy' && entry.health !== 'unhealthy') continue;
    const draining = entry.draining === true;
    if (typeof entry.until === 'number') {
      if (entry.until <= nowMs) continue;
      out.push({
        kind: 'eject',
        upstream,
        target,
        reason: `${String(entry.source)} checks on ${String(entry.node)} (the cluster's verdicts)`,
      });
    }
    out.push({ kind: 'state', upstream, target, health: entry.health, draining });
  }
  return out;
}
