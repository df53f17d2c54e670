/**
 * The discovered targets of an upstream as `GET /upstreams/{u}/targets` shows them after the
 * configured ones: the targets in service whose origin is a discovery provider, with that source,
 * what was resolved or read, and when it was last seen.
 */
import type { Discovery } from '../discovery/discovery.ts';
import type { Runtime } from './runtime.ts';

export function discoveredTargetRows(
  runtime: Runtime,
  discovery: Discovery,
  upstream: string,
): Record<string, unknown>[] | null {
  const origins = discovery.origins(upstream);
  const u = runtime.current.snapshot.upstreams.find((x) => x.name === upstream);
  if (origins === null || u === undefined) return null;
  const rows: Record<string, unknown>[] = [];
  for (const t of u.targets) {
    const o = origins.get(t.target);
    if (o === undefined || o.source === 'config') continue;
    rows.push({
      id: t.id,
      target: t.target,
      weight: t.weight,
      priority: t.priority,
      ...(t.zone === '' ? {} : { zone: t.zone }),
      tags: t.tags,
      source: o.source,
      origin: o.origin,
      last_seen: o.lastSeenMs === null || o.lastSeenMs < 0 ? null : new Date(o.lastSeenMs).toISOString(),
    });
  }
  return rows;
}
