/**
 * Success-rate outlier detection, Envoy's model (source/common/upstream/outlier_detection_impl.cc,
 * successRateEjectionThreshold): over one interval, the targets with at least `request_volume`
 * requests each have a success rate; when at least `minimum_hosts` of them qualify, those below
 * mean − (stdev_factor / 1000) × σ (σ the population standard deviation) are outliers. Pure: the
 * window is closed by the caller's clock reading, so tests drive it with a fake clock.
 */
import type { SuccessRateSpec } from '../config/healthchecks.ts';

export interface RateSample<K> {
  readonly key: K;
  readonly ok: number;
  readonly total: number;
}

export interface RateVerdict<K> {
  /** Outliers, lowest success rate first. */
  readonly outliers: { key: K; rate: number }[];
  readonly mean: number;
  readonly stdev: number;
  readonly threshold: number;
}

/** The verdict on one interval's samples, or null when too few targets qualify. */
export function successRateOutliers<K>(
  samples: Iterable<RateSample<K>>,
  spec: SuccessRateSpec,
): RateVerdict<K> | null {
  const rated: { key: K; rate: number }[] = [];
  for (const s of samples)
    if (s.total >= spec.requestVolume) rated.push({ key: s.key, rate: (100 * s.ok) / s.total });
  if (rated.length < spec.minimumHosts || rated.length === 0) return null;
  let sum = 0;
  for (const r of rated) sum += r.rate;
  const mean = sum / rated.length;
  let variance = 0;
  for (const r of rated) variance += (r.rate - mean) ** 2;
  const stdev = Math.sqrt(variance / rated.length);
  const threshold = mean - (spec.stdevFactor / 1000) * stdev;
  const outliers = rated.filter((r) => r.rate < threshold).sort((a, b) => a.rate - b.rate);
  return { outliers, mean, stdev, threshold };
}

/** One upstream's running interval: outcomes by target, closed when the interval has passed. */
export class SuccessRateWindow<K> {
  private readonly spec: SuccessRateSpec;
  private startMs: number;
  private readonly stats = new Map<K, { ok: number; total: number }>();

  constructor(spec: SuccessRateSpec, nowMs: number) {
    this.spec = spec;
    this.startMs = nowMs;
  }

  /**
   * Count one outcome. When the interval that holds it has ended, return the verdict on that
   * interval (this outcome included) and start the next; else undefined.
   */
  record(key: K, ok: boolean, nowMs: number): RateVerdict<K> | null | undefined {
    let s = this.stats.get(key);
    if (s === undefined) {
      s = { ok: 0, total: 0 };
      this.stats.set(key, s);
    }
    s.total++;
    if (ok) s.ok++;
    if (nowMs - this.startMs < this.spec.intervalMs) return undefined;
    const samples: RateSample<K>[] = [];
    for (const [k, v] of this.stats) samples.push({ key: k, ok: v.ok, total: v.total });
    this.stats.clear();
    this.startMs = nowMs;
    return successRateOutliers(samples, this.spec);
  }

  /** Forget a target (removed by a reload). */
  forget(key: K): void {
    this.stats.delete(key);
  }
}
