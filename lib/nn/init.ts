// Initial values drawn from a caller's uniform [0,1) generator, so every initialisation reproduces from a seed.
export type Rng = () => number;

/** Values ~ N(0, std²) by Box–Muller. */
export function normal(rng: Rng, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - rng()));
    const angle = 2 * Math.PI * rng();
    out[i] = std * radius * Math.cos(angle);
    if (i + 1 < n) out[i + 1] = std * radius * Math.sin(angle);
  }
  return out;
}

/** Values ~ U(−bound, bound). */
export function uniform(rng: Rng, n: number, bound: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * rng() - 1) * bound;
  return out;
}

export function constant(n: number, value: number): Float32Array {
  return new Float32Array(n).fill(value);
}
