/**
 * When the nodes of a cluster probe, and which of them probes (health-share.ts uses these): the
 * probing of a target is cut into **rounds** on one grid of the cluster's time (Redis's clock, as
 * membership.ts estimates it), round k of an upstream's loop starting at k × interval + a phase of
 * the upstream's own (so that upstreams do not all probe at the same instant). Every node runs its
 * rounds at the same instants; in each round, each target is probed by the node that claims the
 * round first in Redis, and a claim is refused once a node claimed that round or a later one. The
 * live nodes are ranked per target by rendezvous hashing: the first claims at the round's start,
 * the second (the standby) TAKEOVER_SLACK later, the third twice that; the others do not claim.
 *
 * So a target is probed once per round (a second claim of a round always fails), and when its
 * first-ranked node has died, the standby probes it in the very next round, one slack late: the gap
 * after the dead node's last probe is one interval plus the slack, not the lease expiry plus up to
 * another interval of a design where a lease must run out first. A node late to its round by more
 * than the slack loses that round to the standby; the target is still probed once.
 */

/** Nodes after the first that claim a round when the ones before them did not (standbys). */
export const STANDBYS = 2;

/**
 * How long after a round's start the standby claims it (the second standby twice that): 5% of the
 * interval, at least 20 ms (a loaded machine's timer lateness and a Redis round trip) and at most
 * 250 ms.
 */
export function takeoverSlackMs(intervalMs: number): number {
  return Math.min(250, Math.max(20, Math.round(intervalMs / 20)));
}

/** How long a claim is kept: long enough to refuse a second claim of the round, and the next. */
export function claimTtlMs(intervalMs: number): number {
  return 3 * intervalMs;
}

/** FNV-1a of a string, mixed (the rendezvous weight of a node for a key, and phases). */
export function weight(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** The nodes of `nodes` in the order a key prefers them (highest random weight first). */
export function ranking(nodes: readonly string[], key: string): string[] {
  return nodes
    .map((n) => ({ n, w: weight(`${n}\n${key}`) }))
    .sort((a, b) => b.w - a.w || (a.n < b.n ? -1 : a.n > b.n ? 1 : 0))
    .map((x) => x.n);
}

/** The node of `nodes` a key prefers. */
export function preferred(nodes: readonly string[], key: string): string {
  return ranking(nodes, key)[0]!;
}

/** Where an upstream's rounds of one interval start within the interval (ms). */
export function phaseMs(upstream: string, intervalMs: number): number {
  return weight(`${upstream}\n${intervalMs}`) % intervalMs;
}

/**
 * The next round after `after` (and after `nowMs`, the cluster's time), and how long until it
 * starts: rounds are numbered by their start, k × interval + phase.
 */
export function nextRound(
  nowMs: number,
  intervalMs: number,
  phase: number,
  after: number,
): { round: number; waitMs: number } {
  const round = Math.max(Math.floor((nowMs - phase) / intervalMs) + 1, after + 1);
  return { round, waitMs: round * intervalMs + phase - nowMs };
}

/** KEYS: the target's claim. ARGV: round, node id, ttl ms. 1 when this node probes this round. */
export const CLAIM = `
local v = redis.call('GET', KEYS[1])
if v then
  local r = tonumber(string.match(v, '^(%d+)'))
  if r and r >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'PX', ARGV[3])
return 1
`;
