/**
 * The simulator: a discrete-event simulation on virtual time of one upstream under one algorithm.
 *
 * It drives the production balancers (the runtime's BalancerStack: the algorithm inside zones inside
 * priority levels; TargetState with its slow start ramp and peak-EWMA latency) the way the runtime
 * and the forwarder do (src/runtime/
 * generation.ts, src/proxy/exchange.ts): one picker rebuilt on every fleet change and every slow
 * start tick, `pick(ctx, tried)` per try, `start()` at dispatch, `observeLatency` and `done(true)` on
 * a response, `done(false)` on a transport failure, a retry on another target, health changes
 * without a rebuild. Only the targets are simulated: each serves `capacity` requests at once and
 * queues the rest, with service times from its distribution times its current slow-down factor; a
 * dead target refuses connections after `fail_ms`, and its in-flight requests are reset.
 *
 * Time is a ManualClock moved by the event loop, randomness two seeded streams: the workload's
 * (arrivals, keys, request sizes: identical for every algorithm, so they are compared on the same
 * requests) and the balancer's.
 */
import { isHashing } from '../balancers/configure.ts';
import { BalancerStack } from '../balancers/stack.ts';
import type { Picker } from '../balancers/types.ts';
import { ManualClock } from '../core/clock.ts';
import { seededRng } from '../core/random.ts';
import { RAMP_TICK_MS, type Rampable } from '../upstreams/slow-start.ts';
import { type RampHost, TargetState } from '../upstreams/target.ts';
import { EventQueue, type Timed } from './event-queue.ts';
import type { Scenario, SimTargetSpec } from './scenario.ts';
import { exponentialGapMs, KeySampler, normal, percentile, serviceMs } from './variates.ts';

/** Keys sampled to measure how many move on a fleet change (all of them when fewer). */
const KEY_SAMPLE = 20_000;

export interface FleetChange {
  readonly atMs: number;
  /** e.g. `t-3 joined`, `t-2 ejected`. */
  readonly what: string;
  /** Share of the sampled keys whose target changed, in [0, 1]. */
  readonly keysMoved: number;
  /** The same, weighted by each key's probability (the traffic that moved). */
  readonly trafficMoved: number;
  /** The minimum a consistent hash can move: the changed target's share of the weight. */
  readonly ideal: number;
}

export interface TargetResult {
  readonly name: string;
  /** Tries sent to the target (a retried request counts on both targets). */
  readonly tries: number;
  readonly share: number;
  readonly failures: number;
  /** Time-averaged in-flight while the target was in the fleet, and the most at once. */
  readonly meanInflight: number;
  readonly peakInflight: number;
}

export interface AlgorithmResult {
  readonly algorithm: string;
  readonly hashing: boolean;
  readonly requests: number;
  readonly completed: number;
  /** Requests that failed after their retries, or found no target. */
  readonly failed: number;
  /** Requests tried more than once. */
  readonly retried: number;
  /** Client-side latency of completed requests (arrival to response, retries included), ms. */
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  /** Time-averaged in-flight: of the busiest target, and the mean over targets. */
  readonly loadMax: number;
  readonly loadMean: number;
  /** The most requests in flight on one target at any instant. */
  readonly peak: number;
  readonly targets: readonly TargetResult[];
  readonly changes: readonly FleetChange[];
  readonly series: {
    readonly bucketMs: number;
    /** Per bucket: latency percentiles of the requests completed in it (NaN when none). */
    readonly p50: readonly number[];
    readonly p99: readonly number[];
    readonly failed: readonly number[];
    /** Per target (as `targets`), per bucket: time-averaged in-flight (NaN before it joined). */
    readonly load: readonly (readonly number[])[];
  };
  /** Scenario events, for the chart's markers. */
  readonly marks: readonly { readonly atMs: number; readonly label: string }[];
}

interface Req {
  arriveMs: number;
  key: number;
  u: number;
  z: number;
  tries: number;
  tried: TargetState[] | null;
}

interface Attempt {
  readonly req: Req;
  readonly target: SimTarget;
  readonly startMs: number;
  cancelled: boolean;
}

const ARRIVAL = 0;
const COMPLETE = 1;
const REFUSED = 2;
const SCENARIO = 3;
const RAMP = 4;

interface Ev extends Timed {
  readonly kind: number;
  readonly attempt: Attempt | null;
  readonly index: number;
}

class SimTarget {
  readonly st: TargetState;
  readonly spec: SimTargetSpec;
  readonly index: number;
  readonly joinedMs: number;
  readonly queue: Attempt[] = [];
  qHead = 0;
  busy = 0;
  factor = 1;
  dead = false;
  readonly active = new Set<Attempt>();
  lastMs: number;
  area = 0;
  bucketArea = 0;
  areaAtEnd = 0;
  peak = 0;
  tries = 0;
  failures = 0;
  readonly load: number[] = [];

  constructor(st: TargetState, spec: SimTargetSpec, index: number, nowMs: number) {
    this.st = st;
    this.spec = spec;
    this.index = index;
    this.joinedMs = nowMs;
    this.lastMs = nowMs;
  }

  /** Accumulates in-flight × time up to `at`; call before in-flight changes. */
  touch(at: number): void {
    const d = at - this.lastMs;
    if (d > 0) {
      const x = this.st.inflight * d;
      this.area += x;
      this.bucketArea += x;
      this.lastMs = at;
    }
  }
}

/** Runs `scenario` under one algorithm (a canonical id). `keys` may be shared across runs. */
export function simulate(s: Scenario, algorithm: string, keys = new KeySampler(s.keys)): AlgorithmResult {
  const clock = new ManualClock(0);
  const work = seededRng(s.seed);
  const hashing = isHashing(algorithm);
  const balancer = new BalancerStack(
    { algorithm, balancer: s.balancer, overprovisioningFactor: s.overprovisioningFactor },
    { rng: seededRng((s.seed ^ 0x5bd1e995) >>> 0), clock, zone: s.zone },
  );
  const ramp = s.slowStart.windowMs > 0 ? s.slowStart : null;

  const queue = new EventQueue<Ev>();
  const sims: SimTarget[] = [];
  const byState = new Map<TargetState, SimTarget>();
  const byName = new Map<string, SimTarget>();
  const fleet: TargetState[] = [];
  let picker: Picker;
  const rebuild = () => {
    picker = balancer.update(fleet.slice());
  };

  const ramping = new Set<Rampable>();
  let rampScheduled = false;
  const scheduleRamp = () => {
    if (rampScheduled || ramping.size === 0) return;
    rampScheduled = true;
    queue.push({ t: clock.monoMs() + RAMP_TICK_MS, seq: 0, kind: RAMP, attempt: null, index: 0 });
  };
  // The runtime's SlowStart, on virtual time: same calls into TargetState, same tick.
  const rampHost: RampHost = {
    begin(t, refreshNow) {
      if (!t.beginRamp(clock.monoMs())) return;
      ramping.add(t);
      if (refreshNow) rebuild();
      scheduleRamp();
    },
  };

  /** A target known to the simulation; the caller puts it in the fleet. */
  const add = (spec: SimTargetSpec): SimTarget => {
    const st = new TargetState('sim', spec.name, spec.name, 0, spec.weight);
    st.priority = spec.priority;
    st.zone = spec.zone;
    st.slowStart = ramp;
    st.rampHost = rampHost;
    const t = new SimTarget(st, spec, sims.length, clock.monoMs());
    for (let b = 0; b < bucketIndex; b++) t.load.push(Number.NaN);
    sims.push(t);
    byState.set(st, t);
    byName.set(spec.name, t);
    return t;
  };

  // ---- time buckets, for the chart ----
  const bucketMs = s.durationMs / s.buckets;
  let bucketIndex = 0;
  let bucketLat: number[] = [];
  let bucketFailed = 0;
  const seriesP50: number[] = [];
  const seriesP99: number[] = [];
  const seriesFailed: number[] = [];
  const closeBucket = () => {
    const end = (bucketIndex + 1) * bucketMs;
    for (const t of sims) {
      t.touch(end);
      t.load.push(t.bucketArea / Math.min(bucketMs, end - t.joinedMs));
      t.bucketArea = 0;
      if (bucketIndex === s.buckets - 1) t.areaAtEnd = t.area;
    }
    const lat = Float64Array.from(bucketLat).sort();
    seriesP50.push(percentile(lat, 0.5));
    seriesP99.push(percentile(lat, 0.99));
    seriesFailed.push(bucketFailed);
    bucketLat = [];
    bucketFailed = 0;
    bucketIndex++;
  };

  for (const spec of s.targets) fleet.push(add(spec).st);
  rebuild();

  // ---- keys moved on fleet changes (hashing algorithms) ----
  const ctx = { clientIp: '192.0.2.1', hashKey: null as string | null };
  // Every key when there are few; else the hottest half of the sample exactly and the rest spread
  // evenly over the tail, each tail key standing for `stride` keys (so shares stay unbiased).
  const sampleN = Math.min(keys.count, KEY_SAMPLE);
  const head = keys.count <= KEY_SAMPLE ? sampleN : KEY_SAMPLE / 2;
  const stride = head === sampleN ? 1 : (keys.count - head) / (sampleN - head);
  const sampleKey = new Int32Array(sampleN);
  const sampleStands = new Float64Array(sampleN);
  for (let i = 0; i < sampleN; i++) {
    sampleKey[i] = i < head ? i : head + Math.floor((i - head) * stride);
    sampleStands[i] = i < head ? 1 : stride;
  }
  // Measured on the idle fleet (in-flight counts set aside for the walk): the tables' own
  // consistency, not the bounded-load spill of the moment, which the load columns show.
  const mapKeys = (): Int32Array | null => {
    if (!hashing) return null;
    const saved = fleet.map((t) => t.inflight);
    for (const t of fleet) t.inflight = 0;
    const out = new Int32Array(sampleN);
    for (let i = 0; i < sampleN; i++) {
      ctx.hashKey = `k${sampleKey[i]}`;
      const st = picker.pick(ctx, null);
      out[i] = st === null ? -1 : byState.get(st)!.index;
    }
    fleet.forEach((t, i) => {
      t.inflight = saved[i]!;
    });
    return out;
  };
  const changes: FleetChange[] = [];
  const marks: { atMs: number; label: string }[] = [];
  const usableWeight = () => fleet.reduce((a, t) => a + (t.healthy ? t.weight : 0), 0);
  interface Pending {
    readonly atMs: number;
    readonly what: string;
    readonly ideal: number;
    readonly before: Int32Array;
  }
  /** Changes whose target still ramps up (slow start): measured once the ramp is over. */
  const pending = new Map<Rampable, Pending>();
  const settle = (p: Pending) => {
    const after = mapKeys()!;
    let moved = 0;
    let traffic = 0;
    let total = 0;
    for (let i = 0; i < sampleN; i++) {
      const w = sampleStands[i]!;
      const pr = keys.probability(sampleKey[i]!) * w;
      total += pr;
      if (p.before[i] !== after[i]) {
        moved += w;
        traffic += pr;
      }
    }
    changes.push({
      atMs: p.atMs,
      what: p.what,
      keysMoved: moved / keys.count,
      trafficMoved: total > 0 ? traffic / total : 0,
      ideal: p.ideal,
    });
  };
  const fleetChange = (what: string, st: TargetState, apply: () => void) => {
    const before = mapKeys();
    const w0 = usableWeight();
    apply();
    marks.push({ atMs: clock.monoMs(), label: what });
    if (before === null) return;
    const wMax = Math.max(w0, usableWeight());
    const p = { atMs: clock.monoMs(), what, ideal: wMax > 0 ? st.weight / wMax : 0, before };
    if (ramping.has(st)) pending.set(st, p);
    else settle(p);
  };

  // ---- counters ----
  let requests = 0;
  let completed = 0;
  let failed = 0;
  let retried = 0;
  let latencies = new Float64Array(1024);

  const now = () => clock.monoMs();

  const beginService = (t: SimTarget, a: Attempt) => {
    t.busy++;
    t.active.add(a);
    const ms = serviceMs(t.spec.latency, a.req.u, a.req.z) * t.factor;
    queue.push({ t: now() + ms, seq: 0, kind: COMPLETE, attempt: a, index: 0 });
  };

  const dispatch = (req: Req) => {
    ctx.hashKey = hashing ? `k${req.key}` : null;
    const st = picker.pick(ctx, req.tried);
    if (st === null) {
      failed++;
      bucketFailed++;
      return;
    }
    const t = byState.get(st)!;
    req.tries++;
    t.touch(now());
    st.start();
    t.tries++;
    if (st.inflight > t.peak) t.peak = st.inflight;
    const a: Attempt = { req, target: t, startMs: now(), cancelled: false };
    if (t.dead) queue.push({ t: now() + s.failMs, seq: 0, kind: REFUSED, attempt: a, index: 0 });
    else if (t.busy < t.spec.capacity) beginService(t, a);
    else t.queue.push(a);
  };

  const fail = (a: Attempt) => {
    const t = a.target;
    const st = t.st;
    t.touch(now());
    st.done(false);
    t.failures++;
    // Passive health: consecutive transport failures eject the target (no picker rebuild, as the runtime).
    if (s.tcpFailures > 0 && st.healthy && st.consecutiveFailures >= s.tcpFailures)
      fleetChange(`${st.target} ejected`, st, () => st.setHealthy(false));
    const req = a.req;
    if (req.tries <= s.retries) {
      if (req.tried === null) {
        req.tried = [];
        retried++;
      }
      req.tried.push(st);
      dispatch(req);
    } else {
      failed++;
      bucketFailed++;
    }
  };

  const complete = (a: Attempt) => {
    if (a.cancelled) return;
    const t = a.target;
    const st = t.st;
    const at = now();
    t.busy--;
    t.active.delete(a);
    t.touch(at);
    st.observeLatency(at - a.startMs, at);
    st.done(true);
    const lat = at - a.req.arriveMs;
    if (completed === latencies.length) {
      const grown = new Float64Array(latencies.length * 2);
      grown.set(latencies);
      latencies = grown;
    }
    latencies[completed++] = lat;
    if (at <= s.durationMs) bucketLat.push(lat);
    if (t.qHead < t.queue.length && !t.dead) {
      beginService(t, t.queue[t.qHead++]!);
      if (t.qHead > 1024 && t.qHead * 2 > t.queue.length) {
        t.queue.splice(0, t.qHead);
        t.qHead = 0;
      }
    }
  };

  const scenarioEvent = (i: number) => {
    const e = s.events[i]!;
    if (e.kind === 'join') {
      const t = add(e.spec);
      fleetChange(`${e.spec.name} joined`, t.st, () => {
        fleet.push(t.st);
        // A target added to a running upstream ramps (the runtime's `added && existed`).
        rampHost.begin(t.st, false);
        rebuild();
      });
      return;
    }
    const t = byName.get(e.target)!;
    if (e.kind === 'slow') {
      t.factor = e.factor;
      marks.push({ atMs: now(), label: `${e.target} x${e.factor}` });
    } else if (e.kind === 'die') {
      t.dead = true;
      marks.push({ atMs: now(), label: `${e.target} dies` });
      // Connections reset: everything in flight there fails now (and is retried elsewhere).
      const victims = [...t.active, ...t.queue.slice(t.qHead)];
      t.active.clear();
      t.queue.length = 0;
      t.qHead = 0;
      t.busy = 0;
      for (const a of victims) {
        a.cancelled = true;
        fail(a);
      }
    } else {
      t.dead = false;
      t.factor = 1;
      if (t.st.healthy) marks.push({ atMs: now(), label: `${e.target} recovers` });
      else fleetChange(`${e.target} back`, t.st, () => t.st.setHealthy(true));
    }
  };

  // ---- the event loop ----
  let nextArrival = exponentialGapMs(work, s.rate);
  if (nextArrival < s.durationMs)
    queue.push({ t: nextArrival, seq: 0, kind: ARRIVAL, attempt: null, index: 0 });
  s.events.forEach((e, i) => {
    queue.push({ t: e.atMs, seq: 0, kind: SCENARIO, attempt: null, index: i });
  });
  // Bounded: each request makes at most (retries + 1) × 2 events; ramp ticks stop with the run.
  const maxEvents = 64 + ((s.rate * s.durationMs) / 1000) * (s.retries + 2) * 4 + s.durationMs / RAMP_TICK_MS;
  for (let n = 0; queue.size > 0; n++) {
    if (n > maxEvents * 4) throw new Error('simulate: event bound exceeded');
    const ev = queue.pop()!;
    while (bucketIndex < s.buckets && ev.t >= (bucketIndex + 1) * bucketMs) closeBucket();
    clock.advance(ev.t - clock.monoMs());
    switch (ev.kind) {
      case ARRIVAL: {
        requests++;
        const req: Req = { arriveMs: ev.t, key: 0, u: 0, z: 0, tries: 0, tried: null };
        req.key = keys.draw(work);
        req.u = work.next();
        req.z = normal(work);
        dispatch(req);
        nextArrival = ev.t + exponentialGapMs(work, s.rate);
        if (nextArrival < s.durationMs)
          queue.push({ t: nextArrival, seq: 0, kind: ARRIVAL, attempt: null, index: 0 });
        break;
      }
      case COMPLETE:
        complete(ev.attempt!);
        break;
      case REFUSED:
        fail(ev.attempt!);
        break;
      case SCENARIO:
        scenarioEvent(ev.index);
        break;
      case RAMP: {
        rampScheduled = false;
        const at = now();
        const over: Rampable[] = [];
        for (const t of ramping)
          if (!t.updateRamp(at)) {
            ramping.delete(t);
            over.push(t);
          }
        rebuild();
        for (const t of over) {
          const p = pending.get(t);
          pending.delete(t);
          if (p) settle(p);
        }
        if (at < s.durationMs) scheduleRamp();
        break;
      }
    }
  }
  while (bucketIndex < s.buckets) closeBucket();
  // Ramps still under way when the run ended: measured where they stand.
  for (const p of pending.values()) settle(p);

  const sorted = latencies.subarray(0, completed).sort();
  const totalTries = sims.reduce((a, t) => a + t.tries, 0);
  const targets: TargetResult[] = sims.map((t) => ({
    name: t.spec.name,
    tries: t.tries,
    share: totalTries > 0 ? t.tries / totalTries : 0,
    failures: t.failures,
    meanInflight: t.areaAtEnd / Math.max(s.durationMs - t.joinedMs, 1e-9),
    peakInflight: t.peak,
  }));
  const means = targets.map((t) => t.meanInflight);
  return {
    algorithm,
    hashing,
    requests,
    completed,
    failed,
    retried,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    loadMax: Math.max(...means),
    loadMean: means.reduce((a, b) => a + b, 0) / means.length,
    peak: Math.max(...targets.map((t) => t.peakInflight)),
    targets,
    changes,
    series: { bucketMs, p50: seriesP50, p99: seriesP99, failed: seriesFailed, load: sims.map((t) => t.load) },
    marks,
  };
}
