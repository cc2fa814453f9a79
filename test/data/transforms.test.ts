// fillBatch against a direct transcription of fb.resnet.torch's CIFAR transforms, and the geometry of flip and crop by hand.
import { describe, expect, it } from 'vitest';

import { CIFAR10_NORMALIZATION } from '../../lib/data/cifar.js';
import type { ImageSet } from '../../lib/data/cifar.js';
import { fillBatch, placementAt } from '../../lib/data/transforms.js';
import { expectClose } from '../util/check.js';
import { IMAGE_BYTES, indexedSet, reference } from './fixtures.js';

const S = 32;
const PLANE = S * S;

/** One image, all zeros but a single 255 at (y0, x0) of channel 0. */
function dotImage(y0: number, x0: number): ImageSet {
  return indexedSet(1, (_, byte) => (byte === y0 * S + x0 ? 255 : 0));
}

/** The first position of stream `seed` whose placement passes `want`. */
function findPosition(seed: number, want: (p: ReturnType<typeof placementAt>) => boolean): number {
  for (let position = 0; ; position++) if (want(placementAt(seed, position))) return position;
}

describe('fillBatch', () => {
  it('without augmentation writes (x − mean) / std per channel, the CIFAR-10 constants exact', () => {
    const set = indexedSet(3);
    const out = new Float32Array(3 * IMAGE_BYTES);
    fillBatch(out, set, [2, 0, 1], CIFAR10_NORMALIZATION);
    const { mean, std } = CIFAR10_NORMALIZATION;
    const wanted = new Float64Array(3 * IMAGE_BYTES);
    [2, 0, 1].forEach((image, k) => {
      for (let i = 0; i < IMAGE_BYTES; i++) {
        const c = Math.floor(i / PLANE);
        wanted[k * IMAGE_BYTES + i] = (set.images[image * IMAGE_BYTES + i] - mean[c]) / std[c];
      }
    });
    expectClose(out, wanted, { rtol: 1e-6, atol: 1e-6, what: 'normalised batch' });
    const black = indexedSet(1, () => 0);
    const white = indexedSet(1, () => 255);
    const one = new Float32Array(IMAGE_BYTES);
    fillBatch(one, black, [0], CIFAR10_NORMALIZATION);
    expect([one[0], one[PLANE], one[2 * PLANE]]).toEqual([-125.3 / 63.0, -123.0 / 62.1, -113.9 / 66.7].map(Math.fround));
    fillBatch(one, white, [0], CIFAR10_NORMALIZATION);
    expect([one[0], one[PLANE], one[2 * PLANE]]).toEqual([129.7 / 63.0, 132.0 / 62.1, 141.1 / 66.7].map(Math.fround));
  });

  it('matches the step-by-step reference for every flip and crop', () => {
    const set = indexedSet(5);
    const norm = { mean: [100, 120, 140], std: [50, 60, 70] };
    const seed = 1234;
    const indices = [4, 1, 3, 0, 2, 2, 1, 0];
    const first = 20;
    const out = new Float32Array(indices.length * IMAGE_BYTES);
    fillBatch(out, set, indices, norm, { seed, first });
    const wanted = new Float64Array(out.length);
    indices.forEach((image, k) => {
      const p = placementAt(seed, first + k);
      wanted.set(reference(set, image, norm, p.flip, p.cropX, p.cropY, 4), k * IMAGE_BYTES);
    });
    expectClose(out, wanted, { rtol: 1e-6, atol: 1e-6, what: 'augmented batch' });
  });

  it('moves a lone pixel by the crop offset and mirrors it on a flip', () => {
    const [y0, x0] = [5, 10];
    const set = dotImage(y0, x0);
    const norm = { mean: [0, 0, 0], std: [1, 1, 1] };
    const seed = 99;
    const out = new Float32Array(IMAGE_BYTES);
    const cases = [
      findPosition(seed, (p) => !p.flip && p.cropX === 0 && p.cropY === 8),
      findPosition(seed, (p) => !p.flip && p.cropX === 7 && p.cropY === 2),
      findPosition(seed, (p) => p.flip && p.cropX === 1 && p.cropY === 4),
    ];
    for (const position of cases) {
      const { flip, cropX, cropY } = placementAt(seed, position);
      fillBatch(out, set, [0], norm, { seed, first: position });
      // In the padded 40×40 image the pixel sits at (y0 + 4, x0 + 4), or at x = 31 − x0 + 4 once mirrored.
      const y = y0 + 4 - cropY;
      const x = (flip ? S - 1 - x0 : x0) + 4 - cropX;
      const lit = Array.from(out.keys()).filter((i) => out[i] !== 0);
      expect(lit, `placement ${JSON.stringify({ flip, cropX, cropY })}`).toEqual([y * S + x]);
      expect(out[y * S + x]).toBe(255);
    }
  });

  it('pads with zeros after normalisation, not with the normalised value of black', () => {
    const set = indexedSet(1, () => 0);
    const norm = { mean: [10, 20, 30], std: [2, 4, 5] };
    const seed = 7;
    const position = findPosition(seed, (p) => p.cropX === 8 && p.cropY === 0);
    const out = new Float32Array(IMAGE_BYTES);
    fillBatch(out, set, [0], norm, { seed, first: position });
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < S; y++) {
        for (let x = 0; x < S; x++) {
          // Crop at (8, 0): the top 4 rows and right 4 columns come from the padding.
          const inPadding = y < 4 || x >= S - 4;
          expect(out[c * PLANE + y * S + x], `c${c} y${y} x${x}`).toBe(inPadding ? 0 : -norm.mean[c] / norm.std[c]);
        }
      }
    }
  });

  it('draws flips half the time and every crop offset 0..8 about equally often', () => {
    const trials = 18_000;
    let flips = 0;
    const xs = new Array(9).fill(0);
    const ys = new Array(9).fill(0);
    for (let position = 0; position < trials; position++) {
      const p = placementAt(5, position);
      flips += p.flip ? 1 : 0;
      xs[p.cropX]++;
      ys[p.cropY]++;
    }
    expect(Math.abs(flips / trials - 0.5)).toBeLessThan(0.02);
    for (const count of [...xs, ...ys]) expect(Math.abs(count - trials / 9)).toBeLessThan(0.1 * (trials / 9));
    expect(placementAt(5, 17)).toEqual(placementAt(5, 17));
  });

  it('with padding 0 only mirrors', () => {
    const set = indexedSet(1);
    const norm = { mean: [0, 0, 0], std: [1, 1, 1] };
    const out = new Float32Array(IMAGE_BYTES);
    for (let position = 0; position < 6; position++) {
      const p = placementAt(3, position, 0);
      expect([p.cropX, p.cropY]).toEqual([0, 0]);
      fillBatch(out, set, [0], norm, { seed: 3, first: position, padding: 0 });
      expectClose(out, reference(set, 0, norm, p.flip, 0, 0, 0), { what: `position ${position}` });
    }
  });

  it('rejects bad normalisation, indices, output and padding with the argument named', () => {
    const set = indexedSet(2);
    const out = new Float32Array(IMAGE_BYTES);
    expect(() => fillBatch(out, set, [0], { mean: [0, 0], std: [1, 1] })).toThrow(/Expected \{mean, std\} with 3 finite values each and std > 0 for normalization/);
    expect(() => fillBatch(out, set, [0], { mean: [0, 0, 0], std: [1, 0, 1] })).toThrow(/for normalization/);
    expect(() => fillBatch(out, set, [2], CIFAR10_NORMALIZATION)).toThrow(/Expected an image index in 0..1 for indices\[0\] but received 2/);
    expect(() => fillBatch(out, set, [0, 1], CIFAR10_NORMALIZATION)).toThrow(/Expected a Float32Array of at least 2×3072 values for out but received 3072 values/);
    expect(() => fillBatch(out, set, [0], CIFAR10_NORMALIZATION, { seed: 0, first: 0, padding: 32 })).toThrow(/Expected an integer in 0..31 for augmentation.padding/);
  });
});
