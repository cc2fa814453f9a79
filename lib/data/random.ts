// Seeded random numbers for the data pipeline: xoshiro128** whose state is four plain numbers, so a run can resume exactly.
import { expected } from '../runtime/errors.js';

/** The four 32-bit words of an Rng, as unsigned integers: JSON-safe, and enough to continue the stream exactly. */
export type RngState = [number, number, number, number];

const TWO_POW_32 = 4294967296;

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The splitmix32 finaliser: a bijection on 32-bit words that spreads every input bit over the output. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

function checkSeed(seed: number, op: string): void {
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw expected('RN_INVALID_ARGUMENT', op, 'seed', 'a non-negative safe integer', String(seed));
  }
}

/** xoshiro128** (Blackman & Vigna): 2^128−1 period, 32-bit outputs. */
export class Rng {
  #s0 = 0;
  #s1 = 0;
  #s2 = 0;
  #s3 = 0;

  private constructor() {}

  /** A stream determined by the seeds: distinct seed lists give unrelated streams. */
  static seeded(...seeds: number[]): Rng {
    const rng = new Rng();
    rng.reseed(...seeds);
    return rng;
  }

  /** Continues exactly where the Rng that returned `state` from state() stood. */
  static fromState(state: RngState): Rng {
    const ok =
      Array.isArray(state) &&
      state.length === 4 &&
      state.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_POW_32) &&
      state.some((w) => w !== 0);
    if (!ok) {
      throw expected('RN_INVALID_ARGUMENT', 'Rng.fromState', 'state', 'four 32-bit unsigned integers, not all zero', JSON.stringify(state));
    }
    const rng = new Rng();
    [rng.#s0, rng.#s1, rng.#s2, rng.#s3] = state.map((w) => w | 0);
    return rng;
  }

  /** Restarts this Rng as Rng.seeded(...seeds) would, without allocating one. */
  reseed(...seeds: number[]): void {
    let h = 0x6a09e667;
    for (const seed of seeds) {
      checkSeed(seed, 'Rng.seeded');
      // Both halves of a seed above 2^32 count.
      h = mix32(h ^ (seed >>> 0)) + 0x9e3779b9;
      h = mix32(h ^ Math.floor(seed / TWO_POW_32)) + 0x9e3779b9;
    }
    // splitmix32 from h fills the state; four outputs of a bijection on a counter are never all zero.
    const words = [0, 0, 0, 0];
    for (let i = 0; i < 4; i++) {
      h = (h + 0x9e3779b9) | 0;
      words[i] = mix32(h) | 0;
    }
    [this.#s0, this.#s1, this.#s2, this.#s3] = words;
  }

  state(): RngState {
    return [this.#s0 >>> 0, this.#s1 >>> 0, this.#s2 >>> 0, this.#s3 >>> 0];
  }

  /** A uniform integer in [0, 2^32). */
  uint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9);
    const t = this.#s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result >>> 0;
  }

  /** A uniform float in [0, 1) with 32 random bits. */
  float(): number {
    return this.uint32() / TWO_POW_32;
  }

  /** A uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw expected('RN_INVALID_ARGUMENT', 'Rng.int', 'n', 'an integer in 1..2^32', String(n));
    }
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let x = this.uint32();
    while (x >= limit) x = this.uint32();
    return x % n;
  }
}

/** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
export function randperm(n: number, rng: Rng): Int32Array {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) {
    throw expected('RN_INVALID_ARGUMENT', 'randperm', 'n', 'a non-negative 31-bit integer', String(n));
  }
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const swap = perm[i];
    perm[i] = perm[j];
    perm[j] = swap;
  }
  return perm;
}
