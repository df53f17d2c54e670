/**
 * String and integer hashes for the hashing balancers. `hash53` is bryc's cyrb53 (public domain): two
 * 32-bit multiply-xorshift lanes giving a 53-bit result that fits a double exactly, so ring points
 * and table slots are plain numbers, with no BigInt on the pick path. 53 bits make ring collisions
 * negligible at any ring size we build (at most millions of points). `fmix32` is MurmurHash3's
 * finaliser, used to derive a per-target uniform value from a key hash (rendezvous).
 */

export const TWO_POW_32 = 4294967296;
export const TWO_POW_53 = 9007199254740992;

/** A 53-bit hash of a string (UTF-16 code units), as an integer-valued double in [0, 2^53). */
export function hash53(s: string, seed = 0): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
  h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
  h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return TWO_POW_32 * (2097151 & h2) + (h1 >>> 0);
}

/** MurmurHash3's 32-bit finaliser: a bijection with full avalanche. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The hash of a request's key, or a random point when it has none (`hash_fallback` gave nothing). */
export function keyHash(key: string | null | undefined, rng: { next(): number }): number {
  if (key != null) return hash53(key);
  // Two draws: a 32-bit generator scaled to 53 bits would leave the low bits zero.
  return Math.floor(rng.next() * TWO_POW_32) + Math.floor(rng.next() * 2097152) * TWO_POW_32;
}

/** Whether n is prime (for Maglev's table size); trial division, called at config time only. */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}
