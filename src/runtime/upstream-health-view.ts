/**
 * `GET /upstreams/{upstream}/health`: each target of one upstream as the generation in service
 * sees it: its health verdict (Kong's HEALTHY / UNHEALTHY / HEALTHCHECKS_OFF), ejections, the
 * configured weight and the weight in effect (slow start applied; 0 while unhealthy unless the
 * panic threshold sends traffic anyway).
 */
import type { Runtime } from './runtime.ts';

export function upstreamHealth(runtime: Runtime, nameOrId: string): unknown | null {
  const gen = runtime.current;
  let u = gen.upstreams.get(nameOrId);
  if (u === undefined) for (const x of gen.upstreams.values()) if (x.spec.id === nameOrId) u = x;
  if (u === undefined || u.spec.implicit) return null;
  const hc = u.spec.healthchecks;
  const checked = hc.activeOn || hc.passiveOn;
  const checker = runtime.health.get(u.spec.name);
  const panic = checker?.panic ?? false;
  const ids = new Map(u.spec.targets.map((t) => [t.target, t.id]));
  return {
    id: u.spec.id,
    name: u.spec.name,
    algorithm: u.spec.algorithm,
    active_checks: hc.activeOn,
    passive_checks: hc.passiveOn,
    panic,
    data: u.targets.map((t) => ({
      id: ids.get(t.target) ?? null,
      target: t.target,
      health: checked ? (t.health === 'healthy' ? 'HEALTHY' : 'UNHEALTHY') : 'HEALTHCHECKS_OFF',
      takes_traffic: (t.healthy || panic) && t.weight > 0,
      ejections: t.ejections,
      weight: t.weight,
      effective_weight: t.healthy || panic ? t.effectiveWeight : 0,
      priority: t.priority,
      in_flight: t.inflight,
      requests: t.requests,
      failures: t.failures,
    })),
    next: null,
  };
}
