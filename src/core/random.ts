/**
 * Randomness, injected. `Math.random` appears only here; algorithms receive an Rng so that tests
 * can seed it and assert exact sequences (ARCHITECTURE.md convention 3).
 */
export interface Rng {
  /** A float in [0, 1). */
  next(): number;
}

export const systemRng: Rng = { next: () => Math.random() };

/** mulberry32: a tiny, fast, well-distributed 32-bit generator; plenty for balancing and tests. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  return {
    next(): number {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    },
  };
}
