// Seeded random inputs for tests: every failure reproduces with the printed seed.
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // mulberry32
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal values (Box–Muller) as a Float64Array. */
export function randn(n: number, seed: number, scale = 1): Float64Array {
  const u = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u() || 1e-12));
    const a = 2 * Math.PI * u();
    out[i] = r * Math.cos(a) * scale;
    if (i + 1 < n) out[i + 1] = r * Math.sin(a) * scale;
  }
  return out;
}

export function uniform(n: number, seed: number, lo = 0, hi = 1): Float64Array {
  const u = rng(seed);
  return Float64Array.from({ length: n }, () => lo + (hi - lo) * u());
}

export function randint(n: number, seed: number, hi: number): Int32Array {
  const u = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(u() * hi));
}

export function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Rounds a float64 array to float32 and back, so the reference sees exactly what the op sees. */
export function asF32(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(Float32Array.from(values));
}
