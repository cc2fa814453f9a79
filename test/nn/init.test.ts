// Initial values: fb.resnet.torch's distributions, measured on big layers, and reproducible from a seed.
import { describe, expect, it } from 'vitest';

import { BatchNorm2d, Conv2d, Linear, Sequential, normal, uniform } from '../../lib/nn/index.js';
import { rng } from '../util/random.js';

function stats(values: Float32Array): { mean: number; std: number; min: number; max: number } {
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    sum += v;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  const mean = sum / values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  return { mean, std: Math.sqrt(sq / values.length), min, max };
}

describe('initialisation', () => {
  it('conv weights ~ N(0, 2/(kh·kw·outChannels)) on a 256→256 3×3 layer', () => {
    const conv = new Conv2d(256, 256, 3);
    const w = conv.initialState(rng(7)).get('weight') as Float32Array;
    expect(w).toBeInstanceOf(Float32Array);
    expect(w.length).toBe(256 * 256 * 9);
    const expectedStd = Math.sqrt(2 / (3 * 3 * 256));
    const s = stats(w);
    // n = 589,824: the sample std is within ~0.1% of σ and the mean within 4σ/√n of 0.
    expect(Math.abs(s.std / expectedStd - 1)).toBeLessThan(0.01);
    expect(Math.abs(s.mean)).toBeLessThan((4 * expectedStd) / Math.sqrt(w.length));
    // Gaussian tails: about 0.27% of samples lie beyond 3σ.
    const beyond = w.filter((v) => Math.abs(v) > 3 * expectedStd).length / w.length;
    expect(beyond).toBeGreaterThan(0.002);
    expect(beyond).toBeLessThan(0.0035);
  });

  it('conv bias (when asked for) starts at zero', () => {
    const state = new Conv2d(3, 5, 1, { bias: true }).initialState(rng(1));
    expect(Array.from(state.get('bias') as Float32Array)).toEqual([0, 0, 0, 0, 0]);
  });

  it('linear weights ~ U(±1/√fanIn), bias zero', () => {
    const fc = new Linear(2048, 300);
    const state = fc.initialState(rng(3));
    const w = state.get('weight') as Float32Array;
    const bound = 1 / Math.sqrt(2048);
    const s = stats(w);
    expect(s.min).toBeGreaterThanOrEqual(-bound);
    expect(s.max).toBeLessThanOrEqual(bound);
    expect(s.max).toBeGreaterThan(0.999 * bound);
    expect(Math.abs(s.std / (bound / Math.sqrt(3)) - 1)).toBeLessThan(0.01);
    expect((state.get('bias') as Float32Array).every((v) => v === 0)).toBe(true);
  });

  it('BN: γ = 1, β = 0, running mean 0, running var 1, num_batches_tracked 0 (int64); γ = 0 when asked', () => {
    const state = new BatchNorm2d(6).initialState(rng(1));
    expect([...state.keys()]).toEqual(['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
    expect(Array.from(state.get('weight') as Float32Array)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(Array.from(state.get('bias') as Float32Array)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(state.get('running_mean') as Float32Array)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(state.get('running_var') as Float32Array)).toEqual([1, 1, 1, 1, 1, 1]);
    const steps = state.get('num_batches_tracked');
    expect(steps).toBeInstanceOf(BigInt64Array);
    expect(Array.from(steps as BigInt64Array)).toEqual([0n]);
    const zero = new BatchNorm2d(6, { initGamma: 0 }).initialState(rng(1));
    expect(Array.from(zero.get('weight') as Float32Array)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('state follows stateDictKeys and reproduces from the seed', () => {
    const m = new Sequential([['conv', new Conv2d(3, 4, 3)], ['bn', new BatchNorm2d(4)], ['fc', new Linear(4, 2)]]);
    const a = m.initialState(rng(42));
    const b = m.initialState(rng(42));
    const c = m.initialState(rng(43));
    expect([...a.keys()]).toEqual(m.stateDictKeys());
    for (const key of a.keys()) expect(b.get(key)).toEqual(a.get(key));
    expect(c.get('conv.weight')).not.toEqual(a.get('conv.weight'));
    for (const p of m.namedParameters()) expect(a.get(p.name)!.length).toBe(p.shape.reduce((x, y) => x * y, 1));
    expect(() => m.initialState(42 as never)).toThrow(/Expected a function returning uniform \[0,1\) numbers for rng/);
  });

  it('normal() and uniform() helpers have the asked-for moments', () => {
    const n = normal(rng(9), 100_001, 2);
    const sn = stats(n);
    expect(Math.abs(sn.std / 2 - 1)).toBeLessThan(0.01);
    expect(Math.abs(sn.mean)).toBeLessThan(4 * 2 / Math.sqrt(n.length));
    const u = uniform(rng(9), 100_000, 0.5);
    const su = stats(u);
    expect(su.min).toBeGreaterThanOrEqual(-0.5);
    expect(su.max).toBeLessThan(0.5);
    expect(Math.abs(su.std / (0.5 / Math.sqrt(3)) - 1)).toBeLessThan(0.01);
  });
});
