// The seeded RNG: the reference xoshiro128** stream, exact save and restore, unbiased integers, permutations.
import { describe, expect, it } from 'vitest';

import { ResnetError } from '../../lib/runtime/errors.js';
import { Rng, randperm } from '../../lib/data/random.js';

const draw = (rng: Rng, n: number) => Array.from({ length: n }, () => rng.uint32());

describe('Rng', () => {
  it('matches the reference xoshiro128** outputs from state {1, 2, 3, 4}', () => {
    // From the reference C code (Blackman & Vigna, xoshiro128starstar.c) run on s = {1, 2, 3, 4}.
    expect(draw(Rng.fromState([1, 2, 3, 4]), 10)).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });

  it('gives the same stream for the same seeds and different streams otherwise', () => {
    expect(draw(Rng.seeded(7), 20)).toEqual(draw(Rng.seeded(7), 20));
    const streams = [[0], [1], [7], [2 ** 32 + 7], [7, 0], [0, 7]].map((seeds) => draw(Rng.seeded(...seeds), 4).join());
    expect(new Set(streams).size).toBe(streams.length);
  });

  it('reseed restarts the stream exactly as seeded does', () => {
    const rng = Rng.seeded(1);
    draw(rng, 5);
    rng.reseed(3, 9);
    expect(draw(rng, 8)).toEqual(draw(Rng.seeded(3, 9), 8));
  });

  it('continues exactly from a saved state, also after a JSON round trip', () => {
    const rng = Rng.seeded(42);
    draw(rng, 123);
    const saved = JSON.parse(JSON.stringify(rng.state()));
    const expected = draw(rng, 50);
    expect(draw(Rng.fromState(saved), 50)).toEqual(expected);
    expect(saved.every((w: number) => Number.isInteger(w) && w >= 0 && w < 2 ** 32)).toBe(true);
  });

  it('rejects states that are not four 32-bit words or are all zero', () => {
    for (const bad of [[0, 0, 0, 0], [1, 2, 3], [1, 2, 3, 2 ** 32], [1, 2, 3, -1], [1.5, 2, 3, 4], 'abcd']) {
      expect(() => Rng.fromState(bad as never)).toThrow(ResnetError);
    }
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(/Expected four 32-bit unsigned integers, not all zero for state but received \[0,0,0,0\]/);
  });

  it('rejects seeds that are not non-negative safe integers', () => {
    for (const bad of [-1, 1.5, NaN, 2 ** 53]) expect(() => Rng.seeded(bad)).toThrow(/Expected a non-negative safe integer for seed/);
  });

  it('float() lies in [0, 1) and int(n) in [0, n), both without visible bias', () => {
    const rng = Rng.seeded(5);
    const n = 6;
    const draws = 60_000;
    const counts = new Array(n).fill(0);
    let sum = 0;
    let lowest = 1;
    let highest = 0;
    for (let i = 0; i < draws; i++) {
      const f = rng.float();
      sum += f;
      lowest = Math.min(lowest, f);
      highest = Math.max(highest, f);
      counts[rng.int(n)]++;
    }
    expect(lowest).toBeGreaterThanOrEqual(0);
    expect(highest).toBeLessThan(1);
    expect(sum / draws).toBeCloseTo(0.5, 2);
    // χ² with 5 degrees of freedom: 20.5 is its 0.999 quantile.
    const chi2 = counts.reduce((s, c) => s + (c - draws / n) ** 2 / (draws / n), 0);
    expect(chi2).toBeLessThan(20.5);
    expect(() => rng.int(0)).toThrow(/Expected an integer in 1..2\^32 for n but received 0/);
  });
});

describe('randperm', () => {
  it('returns each of 0..n-1 once', () => {
    for (const n of [0, 1, 2, 17, 1000]) {
      const perm = randperm(n, Rng.seeded(n));
      expect(perm).toBeInstanceOf(Int32Array);
      expect(Array.from(perm).sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
    }
  });

  it('is determined by the RNG and differs between seeds', () => {
    expect(randperm(100, Rng.seeded(3))).toEqual(randperm(100, Rng.seeded(3)));
    expect(randperm(100, Rng.seeded(3))).not.toEqual(randperm(100, Rng.seeded(4)));
  });

  it('puts every element in every place about equally often', () => {
    const n = 4;
    const trials = 24_000;
    const rng = Rng.seeded(11);
    const placed = new Array(n * n).fill(0);
    for (let t = 0; t < trials; t++) randperm(n, rng).forEach((value, place) => placed[value * n + place]++);
    for (const count of placed) expect(Math.abs(count - trials / n)).toBeLessThan(0.05 * (trials / n));
  });
});
