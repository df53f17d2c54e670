/**
 * `GET /upstreams/{upstream}/health`: each target of one upstream as the generation in service
 * sees it: its health verdict (Kong's HEALTHY / UNHEALTHY / HEALTHCHECKS_OFF), ejections, the
 * configured weight and the weight in effect (slow start applied; 0 while unhealthy unless the
 * panic threshold sends traffic anyway).
 */
import type { UpstreamRuntime } from './generation.ts';
import type { Runtime } from './runtime.ts';

function findUpstream(runtime: Runtime, nameOrId: string): UpstreamRuntime | null {
  const gen = runtime.current;
  let u = gen.upstreams.get(nameOrId);
  if (u === undefined) for (const x of gen.upstreams.values()) if (x.spec.id === nameOrId) u = x;
  return u === undefined || u.spec.implicit ? null : u;
}

/**
 * `PUT /upstreams/{u}/targets/{t}/healthy|unhealthy|draining`: set one target's state by hand
 * (the target named by `host:port` or id). False when there is no such upstream or target.
 */
export function setTargetState(
  runtime: Runtime,
  upstream: string,
  target: string,
  state: 'healthy' | 'unhealthy' | 'draining',
): boolean {
  const u = findUpstream(runtime, upstream);
  if (u === null) return false;
  const spec = u.spec.targets.find((t) => t.target === target || t.id === target);
  const t = spec === undefined ? undefined : u.targets.find((x) => x.target === spec.target);
  if (t === undefined) return false;
  runtime.health.setTargetState(t, state);
  return true;
}

export function upstreamHealth(runtime: Runtime, nameOrId: string): unknown | null {
  const u = findUpstream(runtime, nameOrId);
  if (u === null) return null;
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
      health: t.draining
        ? 'DRAINING'
        : t.health === 'unhealthy'
          ? 'UNHEALTHY'
          : checked
            ? 'HEALTHY'
            : 'HEALTHCHECKS_OFF',
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
