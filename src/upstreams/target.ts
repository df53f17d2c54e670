import { type Rampable, type RampSettings, rampFactor } from './slow-start.ts';

/**
 * Bumped whenever any target's `healthy` changes: pickers that derive something from health
 * (the priority layer's per-level load) recompute it only when this moved.
 */
export const healthEpoch = { value: 0 };

/**
 * Watches what the forwarder reports about one target without changing it (the dashboard's
 * rolling per-target figures, src/observability/target-stats.ts). Null on a TargetState outside a
 * runtime, so the simulator and unit tests pay one null check.
 */
export interface TargetObserver {
  done(ok: boolean): void;
  latencyMs(ms: number, nowMs: number): void;
}

/** Who starts ramps when a target recovers (the runtime's SlowStart). */
export interface RampHost {
  begin(t: Rampable, refreshNow: boolean): void;
}

/**
 * The live state of one target of one upstream: what balancers read and the forwarder measures.
 * A TargetState survives configuration swaps while its upstream and `host:port` survive, so its
 * pool, statistics and balancer position carry over (ARCHITECTURE.md, configuration flow).
 */
export class TargetState implements Rampable {
  /** `upstream/host:port`, stable across generations. */
  readonly key: string;
  readonly upstream: string;
  readonly target: string;
  readonly host: string;
  readonly port: number;
  /**
   * The Host header and SNI this target's requests carry when its upstream has `use_srv_name` and
   * it came from an SRV record: the record's target name; '' otherwise (the service's Host).
   */
  srvHost = '';
  /** Configured weight, read through `weight` (0 takes no traffic). */
  private configuredWeight = 0;
  /**
   * What every balancer reads instead of `weight`: the configured weight times the slow-start
   * factor (1 outside a ramp). A plain field, so picks pay nothing for slow start.
   */
  effectiveWeight = 0;
  /** Priority level (0 is the highest): the priority layer's grouping (Envoy priorities). */
  priority = 0;
  /** Zone (`zone` on the target), '' when unset: the zone-aware layer's grouping. */
  zone = '';
  /** The upstream's slow-start settings, or null when off; set by each generation. */
  slowStart: RampSettings | null = null;
  /** When the current ramp began (clock.monoMs()), or -1; and its current factor. */
  rampStartMs = -1;
  rampFactor = 1;
  /** Told when a recovery should start a ramp; null outside a runtime (unit tests). */
  rampHost: RampHost | null = null;
  private isHealthy = true;
  /** The health checks' verdict (src/health), shown as is even when the panic threshold sends traffic. */
  health: 'healthy' | 'unhealthy' = 'healthy';
  /**
   * Set through the admin API (`PUT …/targets/{t}/draining`): no new requests, in-flight ones
   * finish; cleared by `…/healthy`. Outranks the panic threshold. Kept across reloads, not restarts.
   */
  draining = false;
  /** Times the health checks marked this target unhealthy (status, and the ejection time). */
  ejections = 0;
  /**
   * Smooth weighted round robin's current weight (src/balancers/round-robin.ts): kept here, like
   * the statistics, so that the rotation goes on across every rebuild of the picker and every swap.
   */
  rotation = 0;
  /** Requests currently in flight to this target. */
  inflight = 0;
  /** Requests started, and those that ended in a failure (connect error, reset, timeout). */
  requests = 0;
  failures = 0;
  /** Consecutive failures; reset by a success. */
  consecutiveFailures = 0;
  /**
   * Peak-EWMA latency cost in ms for the `latency` balancer (Finagle's PeakEwma): -1 before the first
   * sample. Fed by observeLatency(), read through latencyCost(); `latencyDecayMs` (the time constant)
   * is set by that balancer from its `decay_window`.
   */
  latencyCostMs = -1;
  latencyStampMs = 0;
  latencyDecayMs = 10_000;
  /** The last load the target reported (`resource`), in [0, 1], or -1 before any; and when (monoMs). */
  reportedLoad = -1;
  loadStampMs = 0;
  /** Set by the runtime; sees each done() and observeLatency() (balancers never read it). */
  observer: TargetObserver | null = null;

  constructor(upstream: string, target: string, host: string, port: number, weight: number) {
    this.key = `${upstream}/${target}`;
    this.upstream = upstream;
    this.target = target;
    this.host = host;
    this.port = port;
    this.weight = weight;
  }

  /** Configured weight (0 takes no traffic). Updated in place when a swap changes it. */
  get weight(): number {
    return this.configuredWeight;
  }
  set weight(w: number) {
    this.configuredWeight = w;
    this.effectiveWeight = w * this.rampFactor;
  }

  /** Whether the target may receive new requests (active and passive health land here). */
  get healthy(): boolean {
    return this.isHealthy;
  }
  /** Same as setHealthy(v): a false → true change starts a slow-start ramp. */
  set healthy(v: boolean) {
    this.setHealthy(v);
  }

  /**
   * The one way health changes (the health checks call it, or assign `healthy`). A change bumps
   * `healthEpoch`; a false → true change starts a slow-start ramp when the upstream has one, unless
   * `ramp` is false (for a first verdict at start-up, which is not a recovery).
   */
  setHealthy(v: boolean, ramp = true): void {
    if (v === this.isHealthy) return;
    this.isHealthy = v;
    healthEpoch.value++;
    if (v && ramp && this.slowStart !== null) this.rampHost?.begin(this, true);
  }

  /** Starts a ramp at nowMs (SlowStart calls this); false when slow start is off. */
  beginRamp(nowMs: number): boolean {
    if (this.slowStart === null) return false;
    this.rampStartMs = nowMs;
    this.updateRamp(nowMs);
    return true;
  }

  /** Recomputes the ramp factor and effective weight at nowMs; false once no ramp is under way. */
  updateRamp(nowMs: number): boolean {
    const s = this.slowStart;
    const f = s === null || this.rampStartMs < 0 ? 1 : rampFactor(nowMs - this.rampStartMs, s);
    if (f >= 1) this.rampStartMs = -1;
    this.rampFactor = f;
    this.effectiveWeight = this.configuredWeight * f;
    return f < 1;
  }

  /** The forwarder calls this when it sends a request to the target. */
  start(): void {
    this.inflight++;
    this.requests++;
  }

  /**
   * The forwarder calls this with a try's latency (to response headers) and the clock's monoMs():
   * a slower sample replaces the cost at once (peak), a faster one pulls it down exponentially.
   */
  observeLatency(ms: number, nowMs: number): void {
    if (!(ms >= 0)) return;
    const c = this.latencyCostMs;
    if (c < 0 || ms > c) this.latencyCostMs = ms;
    else {
      const w = Math.exp(-Math.max(nowMs - this.latencyStampMs, 0) / this.latencyDecayMs);
      this.latencyCostMs = c * w + ms * (1 - w);
    }
    this.latencyStampMs = nowMs;
    if (this.observer !== null) this.observer.latencyMs(ms, nowMs);
  }

  /** The forwarder calls this with a load the target reported (`resource`'s header) and monoMs(). */
  observeLoad(load: number, nowMs: number): void {
    if (!(load >= 0)) return;
    this.reportedLoad = Math.min(load, 1);
    this.loadStampMs = nowMs;
  }

  /** The cost decayed toward 0 since the last sample (so an idle target gets tried again); -1 if none. */
  latencyCost(nowMs: number): number {
    const c = this.latencyCostMs;
    if (c <= 0) return c;
    return c * Math.exp(-Math.max(nowMs - this.latencyStampMs, 0) / this.latencyDecayMs);
  }

  /**
   * The forwarder calls this exactly once per start(), when the request ends: `ok` is false for
   * transport failures (connect error, reset, timeout), not for HTTP error statuses.
   */
  done(ok: boolean): void {
    this.inflight--;
    if (ok) this.consecutiveFailures = 0;
    else {
      this.failures++;
      this.consecutiveFailures++;
    }
    if (this.observer !== null) this.observer.done(ok);
  }
}
