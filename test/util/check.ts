// Numerical comparisons and finite differences for op tests.
import { expect } from 'vitest';

/** max |a-b| / (atol + rtol·|b|) ≤ 1 elementwise, with the worst index in the failure message. */
export function expectClose(
  actual: ArrayLike<number>,
  wanted: ArrayLike<number>,
  { rtol = 1e-4, atol = 1e-5, what = 'value' }: { rtol?: number; atol?: number; what?: string } = {},
): void {
  expect(actual.length, `${what}: length`).toBe(wanted.length);
  let worst = 0;
  let worstAt = -1;
  for (let i = 0; i < wanted.length; i++) {
    const a = Number(actual[i]);
    const b = Number(wanted[i]);
    const err = Math.abs(a - b) / (atol + rtol * Math.abs(b));
    if (!(err <= worst)) {
      worst = Number.isNaN(err) ? Infinity : err;
      worstAt = i;
    }
  }
  if (worst > 1) {
    expect.fail(
      `${what}: element ${worstAt} is ${actual[worstAt]} but the reference is ${wanted[worstAt]} ` +
        `(error ${worst.toFixed(2)}× the tolerance rtol=${rtol}, atol=${atol})`,
    );
  }
}

/**
 * Central finite differences of a scalar function f at x, for the listed coordinates (all when omitted).
 * f is evaluated in float64, so eps can be small.
 */
export function numericGradient(
  f: (x: Float64Array) => number,
  x: Float64Array,
  eps = 1e-6,
  indices?: readonly number[],
): Map<number, number> {
  const grad = new Map<number, number>();
  const at = indices ?? Array.from(x.keys());
  for (const i of at) {
    const saved = x[i];
    x[i] = saved + eps;
    const plus = f(x);
    x[i] = saved - eps;
    const minus = f(x);
    x[i] = saved;
    grad.set(i, (plus - minus) / (2 * eps));
  }
  return grad;
}

/** A few spread-out coordinates of an n-element tensor for finite-difference spot checks. */
export function sampleIndices(n: number, count: number, seed = 1): number[] {
  const out = new Set<number>([0, n - 1]);
  let s = seed;
  while (out.size < Math.min(count, n)) {
    s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff;
    out.add(s % n);
  }
  return [...out];
}

/** Σ y·r: the scalar whose gradient w.r.t. y is r — turns a backward op into a checkable gradient. */
export function dot(y: ArrayLike<number>, r: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * r[i];
  return s;
}
