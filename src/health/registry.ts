/**
 * The runtime's health checks: one UpstreamHealth per upstream whose `healthchecks` turn anything
 * on, kept across configuration swaps while the upstream and its health settings are unchanged
 * (targets added or removed are picked up), restarted when those settings change, stopped when the
 * upstream goes away and on node stop. The forwarder reports each try's outcome through `report`.
 * Declares its metrics (fulcrum_health_checks_total, fulcrum_upstream_panic) here, next to the code.
 */
import type { Logger } from 'pino';
import type { UpstreamSpec } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import type { Rng } from '../core/random.ts';
import { Collected, Counter, type Labels, type Registry } from '../observability/registry.ts';
import type { TargetState } from '../upstreams/target.ts';
import type { Outcome } from './probe.ts';
import type { HealthEvent, HealthShare } from './share.ts';
import { healthIdentity, UpstreamHealth } from './upstream-health.ts';

export interface HealthUpstream {
  readonly spec: UpstreamSpec;
  readonly targets: readonly TargetState[];
}

export class HealthRegistry {
  private readonly upstreams = new Map<string, UpstreamHealth>();
  private readonly clock: Clock;
  private readonly ioClock: Clock;
  private readonly rng: Rng;
  private readonly log: Logger;
  private readonly checks: Counter;
  private readonly overflow: Counter;
  private stopped = false;
  /** Shared with other processes (src/health/share.ts), or null: this process alone. */
  private share: HealthShare | null = null;
  /** Every upstream's targets in the generation last synced (events from elsewhere name them). */
  private readonly all = new Map<string, readonly TargetState[]>();

  constructor(deps: {
    clock: Clock;
    ioClock: Clock;
    rng: Rng;
    log: Logger;
    registry: Registry;
    share?: HealthShare;
  }) {
    this.share = deps.share ?? null;
    this.clock = deps.clock;
    this.ioClock = deps.ioClock;
    this.rng = deps.rng;
    this.log = deps.log;
    this.checks = deps.registry.add(
      new Counter(
        'fulcrum_health_checks_total',
        'Active health check probes by upstream, target and result.',
      ),
    );
    this.overflow = deps.registry.add(
      new Counter(
        'fulcrum_health_ejections_overflow_total',
        'Passive ejections held back because max_ejection_percent of the targets was already unhealthy.',
      ),
    );
    const upstreams = this.upstreams;
    deps.registry.add(
      new Collected(
        'fulcrum_upstream_panic',
        '1 while the upstream is below its panic threshold (every target takes traffic).',
        'gauge',
        function* (): Iterable<[Labels, number]> {
          for (const u of upstreams.values()) yield [{ upstream: u.name }, u.panic ? 1 : 0];
        },
      ),
    );
  }

  /** Bring the checks in line with the upstreams of the generation now in service. */
  sync(upstreams: Iterable<HealthUpstream>): void {
    if (this.stopped) return;
    const seen = new Set<string>();
    const before = new Map(this.all);
    this.all.clear();
    for (const { spec, targets } of upstreams) {
      seen.add(spec.name);
      this.all.set(spec.name, targets);
      const hc = spec.healthchecks;
      const on = hc.activeOn || hc.passiveOn;
      let h = this.upstreams.get(spec.name);
      if (h !== undefined && (!on || h.identity !== healthIdentity(spec))) {
        h.stop(true);
        this.upstreams.delete(spec.name);
        h = undefined;
      }
      if (!on) continue;
      if (h === undefined) {
        h = new UpstreamHealth(spec, {
          clock: this.clock,
          ioClock: this.ioClock,
          rng: this.rng,
          log: this.log,
          checks: this.checks,
          overflow: this.overflow,
          ...(this.share === null ? {} : { share: this.share }),
        });
        this.upstreams.set(spec.name, h);
        h.start(targets);
      } else h.setTargets(targets);
    }
    for (const [name, h] of this.upstreams)
      if (!seen.has(name)) {
        h.stop(false);
        this.upstreams.delete(name);
      }
    if (this.share?.forget !== undefined) {
      const gone: { upstream: string; target: string }[] = [];
      for (const [upstream, was] of before) {
        const now = this.all.get(upstream);
        const kept = now === undefined ? null : new Set(now.map((t) => t.target));
        for (const t of was)
          if (kept === null || !kept.has(t.target)) gone.push({ upstream, target: t.target });
      }
      if (gone.length > 0) this.share.forget(gone);
    }
  }

  /**
   * Share probing and verdicts with other processes from now on: checkers made before are
   * restarted with it (a node sets this before traffic, as it starts).
   */
  setShare(share: HealthShare, upstreams: Iterable<HealthUpstream>): void {
    this.share = share;
    for (const h of this.upstreams.values()) h.stop(false);
    this.upstreams.clear();
    this.sync(upstreams);
  }

  /** The share in force (null: this process alone). */
  get sharing(): HealthShare | null {
    return this.share;
  }

  /** An event another process published (src/health/share.ts). */
  receive(e: HealthEvent): void {
    const h = this.upstreams.get(e.upstream);
    if (h !== undefined) return h.receive(e);
    // Without checks only a state set by hand means anything (draining, or a verdict).
    const t = this.all.get(e.upstream)?.find((x) => x.target === e.target);
    if (t === undefined || e.kind !== 'state') return;
    t.draining = e.draining;
    t.health = e.health;
    const want = !t.draining && t.health === 'healthy';
    if (t.healthy !== want) t.setHealthy(want);
  }

  /** A target's verdict now (what a cluster records for nodes that join), or null if unknown. */
  verdict(
    upstream: string,
    target: string,
  ): { health: 'healthy' | 'unhealthy'; draining: boolean; ejectedForMs: number | null } | null {
    const t = this.all.get(upstream)?.find((x) => x.target === target);
    if (t === undefined) return null;
    const left = this.upstreams.get(upstream)?.ejectionLeftMs(t) ?? null;
    return { health: t.health, draining: t.draining, ejectedForMs: left };
  }

  /** Every target's verdict now, for a process that starts late (sent to it as `state` events). */
  verdicts(upstreams: Iterable<HealthUpstream>): HealthEvent[] {
    const out: HealthEvent[] = [];
    for (const { spec, targets } of upstreams)
      for (const t of targets)
        if (t.health !== 'healthy' || t.draining)
          out.push({
            kind: 'state',
            upstream: spec.name,
            target: t.target,
            health: t.health,
            draining: t.draining,
          });
    return out;
  }

  /** A try's outcome (the forwarder calls this once per try that got a status or failed in transport). */
  report(t: TargetState, o: Outcome): void {
    const h = this.upstreams.get(t.upstream);
    if (h !== undefined) h.passive(t, o);
  }

  /**
   * Set a target's state by hand (admin API). With health checks on the upstream, its checker
   * applies it (panic and logging included); without, the verdict is set on the target directly.
   * `healthy` also ends draining.
   */
  setTargetState(t: TargetState, state: 'healthy' | 'unhealthy' | 'draining'): void {
    if (state === 'draining') t.draining = true;
    else if (state === 'healthy') t.draining = false;
    const h = this.upstreams.get(t.upstream);
    if (h !== undefined) return h.manual(t, state);
    if (state !== 'draining') t.health = state;
    const want = !t.draining && t.health === 'healthy';
    if (t.healthy !== want) t.setHealthy(want);
    this.share?.publish({
      kind: 'state',
      upstream: t.upstream,
      target: t.target,
      health: t.health,
      draining: t.draining,
    });
    this.log.info(
      { upstream: t.upstream, target: t.target, state },
      'target state set through the admin API',
    );
  }

  get(upstream: string): UpstreamHealth | undefined {
    return this.upstreams.get(upstream);
  }

  /** Stop every checker and timer (node stop); later syncs do nothing. */
  stop(): void {
    this.stopped = true;
    for (const h of this.upstreams.values()) h.stop(false);
    this.upstreams.clear();
  }

  /** Timers and probes outstanding across all checkers (0 after stop). */
  pending(): number {
    let n = 0;
    for (const h of this.upstreams.values()) n += h.pending();
    return n;
  }

  /** Per upstream (explicit ones): health settings in force, panic, and each target's state. */
  status(upstreams: Iterable<HealthUpstream>): unknown[] {
    const out: unknown[] = [];
    for (const { spec, targets } of upstreams) {
      if (spec.implicit) continue;
      const h = this.upstreams.get(spec.name);
      out.push({
        name: spec.name,
        active_checks: spec.healthchecks.activeOn,
        passive_checks: spec.healthchecks.passiveOn,
        threshold: spec.healthchecks.threshold,
        panic: h?.panic ?? false,
        ejections_overflow: h?.ejectionsOverflow ?? 0,
        targets: targets.map((t) => ({
          target: t.target,
          weight: t.weight,
          health: t.health,
          draining: t.draining,
          takes_traffic: t.healthy && t.weight > 0,
          ejections: t.ejections,
          zone: t.zone || null,
          load: t.reportedLoad < 0 ? null : t.reportedLoad,
        })),
      });
    }
    return out;
  }
}
