// Float64 reference for the fully connected layer: y = x·wᵀ + b, x [N, in], w [out, in], b [out].
export interface LinearDims {
  n: number;
  inF: number;
  outF: number;
}

export function linearRef(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number> | undefined, d: LinearDims): Float64Array {
  const y = new Float64Array(d.n * d.outF);
  for (let i = 0; i < d.n; i++) {
    for (let o = 0; o < d.outF; o++) {
      let s = b ? b[o] : 0;
      for (let k = 0; k < d.inF; k++) s += x[i * d.inF + k] * w[o * d.inF + k];
      y[i * d.outF + o] = s;
    }
  }
  return y;
}

/** dx [N, in] = dy [N, out] · w [out, in]. */
export function linearBackwardDataRef(dy: ArrayLike<number>, w: ArrayLike<number>, d: LinearDims): Float64Array {
  const dx = new Float64Array(d.n * d.inF);
  for (let i = 0; i < d.n; i++) {
    for (let k = 0; k < d.inF; k++) {
      let s = 0;
      for (let o = 0; o < d.outF; o++) s += dy[i * d.outF + o] * w[o * d.inF + k];
      dx[i * d.inF + k] = s;
    }
  }
  return dx;
}

/** dw [out, in] = dyᵀ · x, db [out] = Σ_N dy. */
export function linearBackwardWeightsRef(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  d: LinearDims,
): { dw: Float64Array; db: Float64Array } {
  const dw = new Float64Array(d.outF * d.inF);
  const db = new Float64Array(d.outF);
  for (let o = 0; o < d.outF; o++) {
    for (let i = 0; i < d.n; i++) {
      const g = dy[i * d.outF + o];
      db[o] += g;
      for (let k = 0; k < d.inF; k++) dw[o * d.inF + k] += g * x[i * d.inF + k];
    }
  }
  return { dw, db };
}
