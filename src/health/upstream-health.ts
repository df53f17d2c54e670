/**
 * The health of one upstream's targets: the counters active probes and passive outcomes feed
 * (Kong's model: successes, TCP failures, timeouts and HTTP failures, each in a row, each with its
 * own threshold, 0 disabling it), the transitions they cause, the ejection time that brings a target
 * back when no active check can (Envoy's base_ejection_time × times ejected, capped), and the panic
 * threshold (Envoy's: below it every target takes traffic). Passive ejections also follow Envoy's
 * max_ejection_percent and, when configured, its success-rate outlier detection (success-rate.ts). `TargetState.health` keeps the verdict;
 * `TargetState.healthy`, the flag pickers read, is that verdict or, in panic, true for all.
 */
import type { Logger } from 'pino';
import type { HealthchecksSpec, UnhealthySpec } from '../config/healthchecks.ts';
import type { UpstreamSpec } from '../config/types.ts';
import type { Clock } from '../core/clock.ts';
import type { Rng } from '../core/random.ts';
import type { Counter } from '../observability/registry.ts';
import type { TargetState } from '../upstreams/target.ts';
import { ActiveChecker } from './active.ts';
import type { Outcome } from './probe.ts';
import type { HealthEvent, HealthShare } from './share.ts';
import { SuccessRateWindow } from './success-rate.ts';

interface Counters {
  successes: number;
  tcp: number;
  timeouts: number;
  http: number;
}

export interface HealthDeps {
  readonly clock: Clock;
  /** The clock of probe timers: probes are I/O and run in real time (the runtime's ioClock). */
  readonly ioClock: Clock;
  readonly rng: Rng;
  readonly log: Logger;
  /** fulcrum_health_checks_total{upstream,target,result}. */
  readonly checks: Counter;
  /** fulcrum_health_ejections_overflow_total{upstream} (absent in some unit tests). */
  readonly overflow?: Counter;
  /** Probing and verdicts shared with other processes (src/health/share.ts); absent: alone. */
  readonly share?: HealthShare;
}

const SUCCESS = 1;
const FAILURE = 2;

/** status → SUCCESS, FAILURE or 0 (neither listed: the outcome is not counted). */
function classTable(healthy: readonly number[], unhealthy: readonly number[]): Uint8Array {
  const t = new Uint8Array(1000);
  for (const s of unhealthy) t[s] = FAILURE;
  for (const s of healthy) t[s] = SUCCESS;
  return t;
}

/** What identifies a health setup: when it changes, the checker restarts and targets start healthy. */
export function healthIdentity(u: UpstreamSpec): string {
  return `${JSON.stringify(u.healthchecks)}|${u.hostHeader ?? ''}`;
}

export class UpstreamHealth {
  readonly name: string;
  readonly identity: string;
  readonly spec: HealthchecksSpec;
  panic = false;
  private targets: readonly TargetState[] = [];
  private readonly deps: HealthDeps;
  private readonly counters = new Map<TargetState, Counters>();
  private readonly ejectTimers = new Map<TargetState, NodeJS.Timeout>();
  /** When each running ejection timer fires (clock.monoMs()). */
  private readonly ejectEnds = new Map<TargetState, number>();
  /** When each target last came back (clock.monoMs()), to forget old ejections. */
  private readonly returnedAt = new Map<TargetState, number>();
  private readonly activeClass: Uint8Array;
  private readonly passiveClass: Uint8Array;
  /** Whether active checks can bring an unhealthy target back (else the ejection time does). */
  private readonly activeRecovers: boolean;
  /** Whether an active `mismatch` (a wrong reply) counts as a TCP failure (tcp, udp) or an HTTP one. */
  private readonly mismatchIsTcp: boolean;
  readonly active: ActiveChecker | null;
  /** The success-rate interval running, or null when success-rate ejection is off. */
  private readonly rates: SuccessRateWindow<TargetState> | null;
  /** Passive ejections held back by max_ejection_percent. */
  ejectionsOverflow = 0;

  constructor(u: UpstreamSpec, deps: HealthDeps) {
    this.name = u.name;
    this.identity = healthIdentity(u);
    this.spec = u.healthchecks;
    this.deps = deps;
    const a = this.spec.active;
    const p = this.spec.passive;
    this.activeClass = classTable(a.healthy.httpStatuses, a.unhealthy.httpStatuses);
    this.passiveClass = classTable(p.healthy.httpStatuses, p.unhealthy.httpStatuses);
    this.activeRecovers = a.unhealthy.intervalMs > 0 && a.healthy.successes > 0;
    this.mismatchIsTcp = a.type === 'tcp' || a.type === 'udp';
    this.rates = p.successRate === null ? null : new SuccessRateWindow(p.successRate, deps.clock.monoMs());
    const activeClass = this.activeClass;
    const share = deps.share;
    const name = this.name;
    this.active = this.spec.activeOn
      ? new ActiveChecker(a, u.hostHeader, deps, {
          targets: () => this.targets,
          result: (t, o) => {
            // Counted first: a cluster's share records the verdict the outcome led to (with it).
            this.activeResult(t, o);
            share?.publish({ kind: 'active', upstream: name, target: t.target, outcome: o });
          },
          successStatus: (s) => activeClass[s] === SUCCESS,
          ...(share === undefined
            ? {}
            : { probes: (t, ms, round) => share.probes(name, t.target, ms, round) }),
          ...(share?.nextRound === undefined
            ? {}
            : { nextRound: (ms: number, after: number) => share.nextRound!(name, ms, after) }),
        })
      : null;
  }

  start(targets: readonly TargetState[]): void {
    this.setTargets(targets);
    this.active?.start();
  }

  /** A reload changed the targets (or their weights): forget the removed ones, re-apply panic. */
  setTargets(targets: readonly TargetState[]): void {
    const keep = new Set(targets);
    if (this.rates !== null) for (const t of this.targets) if (!keep.has(t)) this.rates.forget(t);
    this.targets = targets;
    for (const t of this.counters.keys()) if (!keep.has(t)) this.counters.delete(t);
    for (const [t, timer] of this.ejectTimers)
      if (!keep.has(t)) {
        clearTimeout(timer);
        this.ejectTimers.delete(t);
        this.ejectEnds.delete(t);
      }
    this.apply();
  }

  /** Stop probes and timers; `reset` puts every target back to healthy (the checks are going away). */
  stop(reset: boolean): void {
    this.active?.stop();
    for (const timer of this.ejectTimers.values()) clearTimeout(timer);
    this.ejectTimers.clear();
    this.ejectEnds.clear();
    if (!reset) return;
    for (const t of this.targets) {
      t.health = 'healthy';
      t.setHealthy(true, false);
    }
    this.panic = false;
  }

  /** How long a passive ejection of `t` still lasts (its timer), or null when none runs. */
  ejectionLeftMs(t: TargetState): number | null {
    const end = this.ejectEnds.get(t);
    return end === undefined ? null : Math.max(0, end - this.deps.clock.monoMs());
  }

  /** Timers and probes outstanding (0 after stop). */
  pending(): number {
    return (this.active?.pending() ?? 0) + this.ejectTimers.size;
  }

  /** A proxied try's outcome: its status, or `tcp`/`timeout` for a transport failure. */
  passive(t: TargetState, o: Outcome): void {
    if (!this.spec.passiveOn && this.spec.passive.healthy.successes === 0) return;
    const cls = typeof o === 'number' ? this.passiveClass[o] : o === 'connected' ? SUCCESS : FAILURE;
    this.count(t, o, cls ?? 0, this.spec.passive.healthy.successes, this.spec.passive.unhealthy, 'passive');
    if (this.rates !== null && cls) this.successRate(t, cls === SUCCESS);
  }

  /** Count one outcome in the success-rate interval; at its end, eject the outliers. */
  private successRate(t: TargetState, ok: boolean): void {
    const verdict = this.rates!.record(t, ok, this.deps.clock.monoMs());
    if (!verdict) return;
    for (const { key, rate } of verdict.outliers) {
      // A target no longer in the upstream, or already out, is not ejected (again).
      if (key.health !== 'healthy' || !this.targets.includes(key)) continue;
      const pct = (x: number) => `${x.toFixed(1)}%`;
      this.passiveEject(
        key,
        `passive checks: success rate ${pct(rate)} below ${pct(verdict.threshold)} (mean ${pct(verdict.mean)}, stdev ${verdict.stdev.toFixed(1)})`,
      );
    }
  }

  /**
   * A passive ejection, unless max_ejection_percent of the targets is already unhealthy (Envoy's
   * rule): then the target stays in, its failure counters start again, and the overflow is counted.
   */
  private passiveEject(t: TargetState, reason: string): void {
    const max = this.spec.passive.maxEjectionPercent;
    if (max < 100) {
      let out = 0;
      for (const x of this.targets) if (x.health === 'unhealthy') out++;
      if (out * 100 >= max * this.targets.length) {
        this.counters.delete(t);
        this.ejectionsOverflow++;
        this.deps.overflow?.labels({ upstream: this.name }).inc();
        this.deps.log.info(
          { upstream: this.name, target: t.target, unhealthy: out, max_ejection_percent: max },
          `ejection held back by max_ejection_percent: ${reason}`,
        );
        return;
      }
    }
    this.markUnhealthy(t, reason);
    this.deps.share?.publish({ kind: 'eject', upstream: this.name, target: t.target, reason });
  }

  /** What another process published about one of these targets (src/health/share.ts). */
  receive(e: HealthEvent): void {
    const t = this.targets.find((x) => x.target === e.target);
    if (t === undefined) return;
    switch (e.kind) {
      case 'active':
        return this.activeResult(t, e.outcome);
      case 'eject':
        if (t.health !== 'unhealthy') this.markUnhealthy(t, `${e.reason} (elsewhere)`);
        return;
      case 'state':
        t.draining = e.draining;
        if (e.health === 'healthy' && t.health === 'unhealthy') return this.markHealthy(t, 'elsewhere');
        if (e.health === 'unhealthy' && t.health === 'healthy') {
          t.health = 'unhealthy';
          this.counters.delete(t);
        }
        return this.apply();
    }
  }

  private activeResult(t: TargetState, o: Outcome): void {
    // A probe that ends after a reload removed its target must not touch it.
    if (!this.targets.includes(t)) return;
    const cls = typeof o === 'number' ? this.activeClass[o] : o === 'connected' ? SUCCESS : FAILURE;
    const result =
      cls === SUCCESS
        ? 'success'
        : typeof o === 'number'
          ? cls === FAILURE
            ? 'http_failure'
            : 'other'
          : o === 'timeout'
            ? 'timeout'
            : o === 'mismatch'
              ? 'mismatch'
              : 'tcp_failure';
    this.deps.checks.labels({ upstream: this.name, target: t.target, result }).inc();
    const a = this.spec.active;
    this.count(t, o, cls ?? 0, a.healthy.successes, a.unhealthy, 'active');
  }

  private count(
    t: TargetState,
    o: Outcome,
    cls: number,
    successes: number,
    unhealthy: UnhealthySpec,
    source: 'active' | 'passive',
  ): void {
    if (cls === 0) return;
    let c = this.counters.get(t);
    if (c === undefined) {
      c = { successes: 0, tcp: 0, timeouts: 0, http: 0 };
      this.counters.set(t, c);
    }
    if (cls === SUCCESS) {
      c.tcp = c.timeouts = c.http = 0;
      if (t.health === 'unhealthy' && successes > 0 && ++c.successes >= successes)
        this.markHealthy(t, `${source} checks: ${successes} successes`);
      return;
    }
    c.successes = 0;
    if (t.health === 'unhealthy') return;
    let n: number;
    let limit: number;
    let what: string;
    if (o === 'timeout') {
      n = ++c.timeouts;
      limit = unhealthy.timeouts;
      what = 'timeouts';
    } else if (o === 'tcp' || (o === 'mismatch' && this.mismatchIsTcp)) {
      n = ++c.tcp;
      limit = unhealthy.tcpFailures;
      what = o === 'tcp' ? 'TCP failures' : 'TCP failures (last: an unexpected reply)';
    } else {
      n = ++c.http;
      limit = unhealthy.httpFailures;
      what = `HTTP failures (last: ${String(o)})`;
    }
    if (limit > 0 && n >= limit) {
      const reason = `${source} checks: ${n} ${what}`;
      if (source === 'passive') this.passiveEject(t, reason);
      else this.markUnhealthy(t, reason);
    }
  }

  /**
   * The admin API's verdict (Kong's `PUT /upstreams/{u}/targets/{t}/healthy|unhealthy`): applied at
   * once, and kept until the checks say otherwise (an active check may bring an unhealthy target
   * back; there is no ejection timer). `draining` changes were made on the target: re-apply only.
   */
  manual(t: TargetState, state: 'healthy' | 'unhealthy' | 'draining'): void {
    this.deps.share?.publish({
      kind: 'state',
      upstream: this.name,
      target: t.target,
      health: state === 'draining' ? t.health : state,
      draining: t.draining,
    });
    if (state === 'healthy') return this.markHealthy(t, 'set through the admin API');
    if (state === 'unhealthy' && t.health !== 'unhealthy') {
      t.health = 'unhealthy';
      this.counters.delete(t);
      this.deps.log.warn(
        { upstream: this.name, target: t.target },
        'target unhealthy: set through the admin API',
      );
    }
    this.apply();
  }

  private markUnhealthy(t: TargetState, reason: string): void {
    const now = this.deps.clock.monoMs();
    const back = this.returnedAt.get(t);
    const p = this.spec.passive;
    // Envoy lowers the ejection multiplier while a host stays healthy; here a target that stayed
    // healthy for the longest ejection time starts counting afresh.
    if (back !== undefined && now - back >= p.maxEjectionMs) t.ejections = 0;
    t.ejections++;
    t.health = 'unhealthy';
    this.counters.delete(t);
    this.apply();
    let ejectMs = -1;
    if (!this.activeRecovers) {
      ejectMs = Math.min(p.baseEjectionMs * t.ejections, p.maxEjectionMs);
      this.ejectEnds.set(t, now + ejectMs);
      const timer = setTimeout(() => {
        this.ejectTimers.delete(t);
        this.ejectEnds.delete(t);
        if (t.health === 'unhealthy') this.markHealthy(t, `ejection time (${ejectMs} ms) elapsed`);
      }, ejectMs);
      timer.unref();
      this.ejectTimers.set(t, timer);
    }
    this.deps.log.warn(
      {
        upstream: this.name,
        target: t.target,
        ejections: t.ejections,
        ...(ejectMs >= 0 ? { ejection_ms: ejectMs } : {}),
        panic: this.panic,
      },
      `target unhealthy: ${reason}`,
    );
  }

  private markHealthy(t: TargetState, reason: string): void {
    t.health = 'healthy';
    this.counters.delete(t);
    this.returnedAt.set(t, this.deps.clock.monoMs());
    const timer = this.ejectTimers.get(t);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.ejectTimers.delete(t);
      this.ejectEnds.delete(t);
    }
    this.apply();
    this.deps.log.info(
      { upstream: this.name, target: t.target, panic: this.panic },
      `target healthy: ${reason}`,
    );
  }

  /** Recompute panic, then set every target's `healthy` from its health (or true in panic). */
  private apply(): void {
    let total = 0;
    let healthy = 0;
    for (const t of this.targets) {
      if (t.weight <= 0) continue;
      total += t.weight;
      if (t.health === 'healthy') healthy += t.weight;
    }
    const panic = total > 0 && healthy * 100 < this.spec.threshold * total;
    if (panic !== this.panic) {
      this.panic = panic;
      const pct = total > 0 ? Math.round((healthy * 1000) / total) / 10 : 0;
      if (panic)
        this.deps.log.warn(
          { upstream: this.name, healthy_percent: pct, threshold: this.spec.threshold },
          'upstream in panic: every target takes traffic',
        );
      else
        this.deps.log.info(
          { upstream: this.name, healthy_percent: pct, threshold: this.spec.threshold },
          'upstream out of panic',
        );
    }
    for (const t of this.targets) {
      const want = !t.draining && (panic || t.health === 'healthy');
      // A recovery ramps up (slow start); traffic let through by panic does not.
      if (t.healthy !== want) t.setHealthy(want, !panic);
    }
  }
}
