/**
 * A warning at load for a service whose `host` is neither an upstream nor a name that resolves:
 * most often a typo in an upstream's name, which validates (a service may name any host) and then
 * fails every request. The lookups run off the load path, after the configuration is in service,
 * each bounded by a timeout, and only warn: a name that a DNS server will know later is not an
 * error, and the configuration keeps serving either way.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Snapshot } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';

export const HOST_CHECK_TIMEOUT_MS = 2000;

export type Lookup = (host: string) => Promise<unknown>;

/** Edit distance, for "did you mean": names are short, so the quadratic table is fine. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The upstream name closest to `host` (at most 2 edits, or a case difference), or null. */
export function closestUpstream(host: string, names: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = 3;
  for (const n of names) {
    const d = n.toLowerCase() === host.toLowerCase() ? 0 : distance(host, n);
    if (d < bestD) {
      best = n;
      bestD = d;
    }
  }
  return best;
}

/** Resolve `host` within `timeoutMs`: null when it resolved, else why not. */
function probe(host: string, lookup: Lookup, clock: Clock, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const timer = clock.setTimer(timeoutMs, resolve, `no answer within ${timeoutMs} ms`);
    lookup(host).then(
      () => {
        clock.clearTimer(timer);
        resolve(null);
      },
      (err: NodeJS.ErrnoException) => {
        clock.clearTimer(timer);
        resolve(err.code ?? err.message);
      },
    );
  });
}

/**
 * Look up the host of every service that is not an upstream; warn about each that does not
 * resolve. Resolves when every lookup has answered or timed out (tests await it; the node does not).
 */
export async function checkServiceHosts(
  snapshot: Snapshot,
  log: Logger,
  clock: Clock,
  lookup: Lookup = dnsLookup,
  timeoutMs = HOST_CHECK_TIMEOUT_MS,
): Promise<void> {
  const implicit = new Set(snapshot.upstreams.filter((u) => u.implicit).map((u) => u.name));
  const upstreams = snapshot.upstreams.filter((u) => !u.implicit).map((u) => u.name);
  const byHost = new Map<string, string[]>();
  for (const s of snapshot.services) {
    if (!implicit.has(s.upstream) || isIP(s.host) !== 0) continue;
    const list = byHost.get(s.host) ?? [];
    list.push(s.name);
    byHost.set(s.host, list);
  }
  await Promise.all(
    [...byHost].map(async ([host, services]) => {
      const why = await probe(host, lookup, clock, timeoutMs);
      if (why === null) return;
      const near = closestUpstream(host, upstreams);
      log.warn(
        { services, host, cause: why, ...(near === null ? {} : { did_you_mean: near }) },
        `service${services.length > 1 ? 's' : ''} ${services.map((s) => JSON.stringify(s)).join(', ')}: host ${JSON.stringify(host)} is neither an upstream nor resolvable (${why})${near === null ? '' : `; did you mean upstream ${JSON.stringify(near)}?`} Requests to it will fail until it resolves.`,
      );
    }),
  );
}
