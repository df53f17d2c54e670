/**
 * The active checker of one upstream, as Kong's (lua-resty-healthcheck): two loops, one probing the
 * healthy targets every `healthy.interval`, one probing the unhealthy targets every
 * `unhealthy.interval` (either off at 0), each round at most `concurrency` probes at once. The first
 * round runs at start. Each wait gets a random extra in [0, jitter) (Envoy's interval_jitter) from
 * the injected rng, so that the probes of many nodes drift apart. Timers are unref'd and `stop()` aborts the probes in flight, so a stopping
 * node exits at once.
 */
import type { ActiveCheckSpec } from '../config/healthchecks.ts';
import type { Clock, TimerHandle } from '../core/clock.ts';
import type { Rng } from '../core/random.ts';
import type { TargetState } from '../upstreams/target.ts';
import { type Outcome, type RunningProbe, startProbe } from './probe.ts';

export interface ActiveHost {
  /** The upstream's targets now (the list changes with reloads). */
  targets(): readonly TargetState[];
  /** A probe finished (not called after stop). */
  result(t: TargetState, o: Outcome): void;
  /** Whether a status is a success (an HTTP probe with `http_body` reads only those bodies). */
  successStatus(status: number): boolean;
  /**
   * Whether this process probes the target this round (src/health/share.ts); absent: always. When
   * false, another process probes it and its outcome arrives through the share.
   */
  probes?(t: TargetState, intervalMs: number, round: number): boolean | Promise<boolean>;
  /**
   * When the next round starts, after round `after` (-1 before the first): the rounds of a
   * cluster's nodes start at the same instants (src/cluster/probe-rounds.ts). Absent: each round
   * waits the interval (and jitter) after the last one began, and the first starts at once.
   */
  nextRound?(intervalMs: number, after: number): { round: number; waitMs: number };
}

/**
 * The wait before the next round: what is left of the interval after a round that took
 * `elapsedMs`, plus a random extra in [0, jitterMs).
 */
export function nextWaitMs(intervalMs: number, elapsedMs: number, jitterMs: number, rng: Rng): number {
  const jitter = jitterMs > 0 ? rng.next() * jitterMs : 0;
  return Math.max(0, intervalMs - elapsedMs) + jitter;
}

export class ActiveChecker {
  private readonly spec: ActiveCheckSpec;
  private readonly hostHeader: string | undefined;
  private readonly clock: Clock;
  private readonly rng: Rng;
  private readonly host: ActiveHost;
  /** The clock of the waits between rounds (real time: probes are I/O). */
  private readonly ioClock: Clock;
  private readonly timers = new Set<TimerHandle>();
  private readonly running = new Set<RunningProbe>();
  private stopped = false;
  /** Completed rounds, by loop (for tests and status). */
  rounds = { healthy: 0, unhealthy: 0 };

  constructor(
    spec: ActiveCheckSpec,
    hostHeader: string | undefined,
    deps: { clock: Clock; ioClock: Clock; rng: Rng },
    host: ActiveHost,
  ) {
    this.spec = spec;
    this.hostHeader = hostHeader;
    this.clock = deps.clock;
    this.ioClock = deps.ioClock;
    this.rng = deps.rng;
    this.host = host;
  }

  start(): void {
    for (const which of ['healthy', 'unhealthy'] as const) {
      const intervalMs = this.spec[which].intervalMs;
      if (intervalMs <= 0) continue;
      const first = this.host.nextRound?.(intervalMs, -1);
      if (first === undefined) this.loop(which, intervalMs, -1);
      else this.wait(first.waitMs, which, intervalMs, first.round);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) this.ioClock.clearTimer(t);
    this.timers.clear();
    for (const p of this.running) p.abort();
    this.running.clear();
  }

  /** Timers and probes outstanding (0 after stop). */
  pending(): number {
    return this.timers.size + this.running.size;
  }

  private loop(which: 'healthy' | 'unhealthy', intervalMs: number, round: number): void {
    const begun = this.clock.monoMs();
    void this.round(which, intervalMs, round).then(() => {
      if (this.stopped) return;
      this.rounds[which]++;
      const next = this.host.nextRound?.(intervalMs, round);
      if (next !== undefined) return this.wait(next.waitMs, which, intervalMs, next.round);
      const wait = nextWaitMs(intervalMs, this.clock.monoMs() - begun, this.spec.jitterMs, this.rng);
      this.wait(wait, which, intervalMs, -1);
    });
  }

  private wait(ms: number, which: 'healthy' | 'unhealthy', intervalMs: number, round: number): void {
    const w: Waiting = { checker: this, timer: null, which, intervalMs, round };
    const timer = this.ioClock.setTimer(ms, onWaited, w);
    w.timer = timer;
    this.timers.add(timer);
  }

  /** @internal (a wait's timer fired) */
  waited(w: Waiting): void {
    if (w.timer !== null) this.timers.delete(w.timer);
    if (!this.stopped) this.loop(w.which, w.intervalMs, w.round);
  }

  /**
   * Probe every target in the loop's state that this process probes this round, `concurrency` at a
   * time. Whether it does (the gate) is asked for all of them at once, and each is probed as soon as
   * its answer comes: a cluster's gate may wait before claiming a target (a standby's slack), and
   * that wait must not hold back the targets decided already.
   */
  private async round(which: 'healthy' | 'unhealthy', intervalMs: number, round: number): Promise<void> {
    const targets = this.host.targets().filter((t) => t.health === which);
    const gate = this.host.probes;
    const queue: TargetState[] = [];
    let undecided = 0;
    const waiting: (() => void)[] = [];
    const decided = (t: TargetState, ok: boolean) => {
      undecided--;
      if (ok) queue.push(t);
      for (const w of waiting.splice(0)) w();
    };
    for (const t of targets) {
      const ok = gate === undefined ? true : gate.call(this.host, t, intervalMs, round);
      if (typeof ok === 'boolean') {
        if (ok) queue.push(t);
        continue;
      }
      undecided++;
      ok.then(
        (yes) => decided(t, yes),
        () => decided(t, false),
      );
    }
    const worker = async (): Promise<void> => {
      while (!this.stopped) {
        const t = queue.shift();
        if (t === undefined) {
          if (undecided === 0) return;
          await new Promise<void>((resolve) => waiting.push(resolve));
          continue;
        }
        const p = startProbe(this.spec, this.hostHeader, t, this.host.successStatus);
        this.running.add(p);
        const o = await p.result;
        this.running.delete(p);
        if (!this.stopped) this.host.result(t, o);
      }
    };
    const n = Math.min(this.spec.concurrency, targets.length);
    const workers: Promise<void>[] = [];
    for (let i = 0; i < n; i++) workers.push(worker());
    await Promise.all(workers);
  }
}

/** A wait between rounds of one loop (ActiveChecker.wait). */
interface Waiting {
  readonly checker: ActiveChecker;
  timer: TimerHandle | null;
  readonly which: 'healthy' | 'unhealthy';
  readonly intervalMs: number;
  readonly round: number;
}

function onWaited(w: Waiting): void {
  w.checker.waited(w);
}
