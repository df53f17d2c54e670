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
