/**
 * The live state of one target of one upstream: what balancers read and the forwarder measures.
 * A TargetState survives configuration swaps while its upstream and `host:port` survive, so its
 * pool, statistics and balancer position carry over (ARCHITECTURE.md, configuration flow).
 */
export class TargetState {
  /** `upstream/host:port`, stable across generations. */
  readonly key: string;
  readonly upstream: string;
  readonly target: string;
  readonly host: string;
  readonly port: number;
  /** Configured weight (0 takes no traffic). Updated in place when a swap changes it. */
  weight: number;
  /** Whether the target may receive new requests (active and passive health land here). */
  healthy = true;
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

  constructor(upstream: string, target: string, host: string, port: number, weight: number) {
    this.key = `${upstream}/${target}`;
    this.upstream = upstream;
    this.target = target;
    this.host = host;
    this.port = port;
    this.weight = weight;
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
  }
}
