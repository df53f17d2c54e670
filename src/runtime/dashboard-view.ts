/**
 * What the dashboard shows (docs/observability.md#dashboard), built from the runtime: the
 * configuration in service (`config`, sent when a generation is put in service) and the live
 * figures (`stats`, sent every second). Plain JSON, read-only, with no secret in it: names, hosts,
 * paths and figures only, never plugin configurations, credentials or keys.
 */

import { VERSION } from '../core/version.ts';
import { servedCertificates } from '../observability/certificates.ts';
import { TargetStats } from '../observability/target-stats.ts';
import type { TargetState } from '../upstreams/target.ts';
import type { AuditEntry } from './config-control.ts';
import type { UpstreamRuntime } from './generation.ts';
import type { Runtime } from './runtime.ts';

/** Audit entries and generations the dashboard lists. */
export const DASHBOARD_HISTORY = 20;

/** What the view needs of the node besides the runtime. */
export interface DashboardNode {
  readonly runtime: Runtime;
  readonly startedAtMs: number;
  /** Bound proxy listeners: name, protocol, address, port, open connections (null when unknown). */
  listeners(): { name: string; protocol: string; address: string; port: number; open: number | null }[];
  readiness(): { ready: boolean; message: string };
  audits(): readonly AuditEntry[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const round = (x: number, digits = 3): number => Number(x.toFixed(digits));
const roundOrNull = (x: number | null): number | null => (x === null ? null : round(x));

/** The configuration in service, as the dashboard draws it. */
export function dashboardConfig(n: DashboardNode): unknown {
  const gen = n.runtime.current;
  const s = gen.snapshot;
  const nowMs = n.runtime.clock.nowMs();
  return {
    generation: gen.id,
    hash: s.hash,
    source: s.source,
    loaded_at: iso(gen.createdAtMs),
    /** Whether the admin listener has a token (the page then offers to log out). */
    login: s.node.admin.token !== '',
    routes: gen.routes.map((r) => ({
      name: r.label,
      service: r.serviceLabel || null,
      protocols: r.spec.protocols,
      methods: r.spec.methods,
      hosts: r.spec.hosts,
      paths: r.spec.paths,
      disabled: r.disabled,
    })),
    services: s.services.map((x) => ({
      name: x.name,
      protocol: x.protocol,
      host: x.host,
      port: x.port,
      path: x.path,
      upstream: x.upstream,
      enabled: x.enabled,
    })),
    upstreams: [...gen.upstreams.values()].map((u) => ({
      name: u.spec.name,
      algorithm: u.spec.algorithm,
      implicit: u.spec.implicit,
      active_checks: u.spec.healthchecks.activeOn,
      passive_checks: u.spec.healthchecks.passiveOn,
      slow_start_ms: u.spec.slowStart.windowMs,
      targets: u.targets.map((t) => t.target),
    })),
    certificates: [...servedCertificates(s.node)].map((c) => ({
      listener: c.listener,
      subject: c.subject,
      snis: c.snis,
      names: c.names,
      not_after: c.notAfter,
      days_left: Math.floor((Date.parse(c.notAfter) - nowMs) / 86_400_000),
      fingerprint256: c.fingerprint256,
      default: c.isDefault,
    })),
  };
}

function targetStats(t: TargetState, u: UpstreamRuntime, panic: boolean) {
  const checked = u.spec.healthchecks.activeOn || u.spec.healthchecks.passiveOn;
  const w = t.observer instanceof TargetStats ? t.observer.read() : null;
  const takes = !t.draining && (t.healthy || panic) && t.weight > 0;
  return {
    target: t.target,
    health: t.draining
      ? 'draining'
      : t.health === 'unhealthy'
        ? 'unhealthy'
        : checked
          ? 'healthy'
          : 'unchecked',
    takes_traffic: takes,
    weight: t.weight,
    effective_weight: takes ? round(t.effectiveWeight) : 0,
    ramping: t.rampStartMs >= 0,
    in_flight: t.inflight,
    rps: round(w?.rps ?? 0, 2),
    error_rate: round(w?.errorRate ?? 0, 4),
    p50_ms: roundOrNull(w?.p50 ?? null),
    p90_ms: roundOrNull(w?.p90 ?? null),
    p99_ms: roundOrNull(w?.p99 ?? null),
    requests: t.requests,
    failures: t.failures,
    ejections: t.ejections,
  };
}

/** The live figures, every second. */
export function dashboardStats(n: DashboardNode): unknown {
  const rt = n.runtime;
  const gen = rt.current;
  const now = rt.clock.nowMs();
  const upstreams = [...gen.upstreams.values()].map((u) => {
    const panic = rt.health.get(u.spec.name)?.panic ?? false;
    return { name: u.spec.name, panic, targets: u.targets.map((t) => targetStats(t, u, panic)) };
  });
  let rps = 0;
  let errors = 0;
  for (const u of upstreams)
    for (const t of u.targets) {
      rps += t.rps;
      errors += t.rps * t.error_rate;
    }
  const r = n.readiness();
  return {
    time: iso(now),
    version: VERSION,
    uptime_s: Math.round((now - n.startedAtMs) / 1000),
    generation: gen.id,
    ready: r.ready,
    readiness: r.message,
    draining: rt.draining,
    connections: rt.connections,
    in_flight: rt.inflight(),
    rps: round(rps, 2),
    error_rate: rps > 0 ? round(errors / rps, 4) : 0,
    listeners: n.listeners(),
    upstreams,
    generations: rt.history.slice(-DASHBOARD_HISTORY).map((g) => ({
      id: g.id,
      hash: g.hash,
      source: g.source,
      at: iso(g.atMs),
      changed: g.changed,
    })),
    audit: n.audits().slice(-DASHBOARD_HISTORY),
  };
}
