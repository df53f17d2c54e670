/**
 * `rendezvous`: highest random weight hashing (Thaler and Ravishankar, "Using Name-Based Mappings to
 * Increase Hit Rates", 1998), weighted by the logarithmic method (Schindelhauer and Schomaker,
 * "Weighted Distributed Hash Tables", 2005; Resch, "New Hashing Algorithms for Data Storage"): each
 * target scores -weight / ln(h) for a uniform h in (0, 1) derived from the key and the target, and
 * the highest score wins.
 *
 * Why: no table to build or store, exact weighted shares in expectation, and the least possible
 * movement (only the keys of the target that joins or leaves move). The price is an O(n) pick, so
 * it suits tens of targets, not thousands (see the micro benchmark). The per-target uniform is the
 * key's 53-bit hash mixed with the target's precomputed one by MurmurHash3's finaliser. Unhealthy,
 * excluded and overloaded targets (`hash_balance_factor`) give way to the next-highest score.
 */
import type { Rng } from '../core/random.ts';
import type { TargetState } from '../upstreams/target.ts';
import { allowed, capPerWeight, checkBalanceFactor, HASH_BALANCE_FACTOR, underCap } from './common.ts';
import { declareBalancer } from './declaration.ts';
import { fmix32, hash53, keyHash, TWO_POW_32 } from './hash.ts';
import type { Balancer, BalancerFactory, PickContext, Picker } from './types.ts';

export interface RendezvousOptions {
  /** `hash_balance_factor`: 0 (off) or > 1, the bounded-load factor. */
  readonly hashBalanceFactor: number;
}

export const DEFAULT_RENDEZVOUS: RendezvousOptions = Object.freeze({ hashBalanceFactor: 0 });

/** Fills in defaults and checks ranges; throws a RangeError naming the field. */
export function rendezvousOptions(o: Partial<RendezvousOptions> = {}): RendezvousOptions {
  return Object.freeze({ hashBalanceFactor: checkBalanceFactor(o.hashBalanceFactor) });
}

class RendezvousPicker implements Picker {
  private readonly targets: readonly TargetState[];
  private readonly seedLo: Uint32Array;
  private readonly seedHi: Uint32Array;
  private readonly scores: Float64Array;
  private readonly rng: Rng;
  private readonly factor: number;

  constructor(targets: readonly TargetState[], rng: Rng, factor: number) {
    this.targets = targets;
    this.rng = rng;
    this.factor = factor;
    this.seedLo = new Uint32Array(targets.length);
    this.seedHi = new Uint32Array(targets.length);
    this.scores = new Float64Array(targets.length);
    targets.forEach((t, i) => {
      const h = hash53(t.target, 0x72656e64);
      this.seedLo[i] = h % TWO_POW_32;
      this.seedHi[i] = Math.floor(h / TWO_POW_32);
    });
  }

  pick(ctx: PickContext, exclude: readonly TargetState[] | null): TargetState | null {
    const h = keyHash(ctx.hashKey, this.rng);
    const lo = h % TWO_POW_32;
    const hi = Math.floor(h / TWO_POW_32);
    const cap = capPerWeight(this.targets, this.factor);
    return this.rank(lo, hi, exclude, cap) ?? (exclude === null ? null : this.rank(lo, hi, null, cap));
  }

  /** The allowed target with the highest score that is under the cap, else the highest allowed. */
  private rank(
    lo: number,
    hi: number,
    exclude: readonly TargetState[] | null,
    cap: number,
  ): TargetState | null {
    const ts = this.targets;
    const scores = this.scores;
    let best = -1;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i]!;
      if (!allowed(t, exclude)) {
        scores[i] = -1;
        continue;
      }
      const x = fmix32(lo ^ this.seedLo[i]!);
      const y = fmix32((hi ^ this.seedHi[i]!) + x);
      // 52 uniform bits, offset by half a unit so that u is never 0 or 1 (all exact in a double).
      const u = (x * 1048576 + (y >>> 12) + 0.5) / 4503599627370496;
      scores[i] = -t.effectiveWeight / Math.log(u);
      if (best < 0 || scores[i]! > scores[best]!) best = i;
    }
    if (best < 0 || underCap(ts[best]!, cap)) return best < 0 ? null : ts[best]!;
    // Bounded load: walk down the ranking, at most n steps.
    const top = best;
    for (let k = 1; k < ts.length; k++) {
      scores[best] = -1;
      best = -1;
      for (let i = 0; i < ts.length; i++)
        if (scores[i]! >= 0 && (best < 0 || scores[i]! > scores[best]!)) best = i;
      if (best < 0) break;
      if (underCap(ts[best]!, cap)) return ts[best]!;
    }
    return ts[top]!;
  }
}

/** A `rendezvous` factory with these options (validated now). */
export function rendezvousFactory(options: Partial<RendezvousOptions> = {}): BalancerFactory {
  const o = rendezvousOptions(options);
  return {
    id: 'rendezvous',
    create: ({ rng }): Balancer => ({
      update: (targets) => new RendezvousPicker(targets, rng, o.hashBalanceFactor),
    }),
  };
}

export const rendezvous: BalancerFactory = rendezvousFactory();

export const rendezvousAlgorithm = declareBalancer({
  id: 'rendezvous',
  aliases: [],
  hashing: true,
  options: { hashBalanceFactor: HASH_BALANCE_FACTOR },
  factory: rendezvous,
  configure: (o) => rendezvousFactory({ hashBalanceFactor: o.hashBalanceFactor }),
});
