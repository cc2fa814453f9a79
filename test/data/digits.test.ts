// The bundled digits: counts, the stratified split, gray images, and the normalisation constants recomputed.
import { stat } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { DIGITS_NORMALIZATION, digitsDir, loadDigits } from '../../lib/data/digits.js';
import { IMAGE_BYTES } from './fixtures.js';

const PLANE = 32 * 32;
// Per-class counts of scikit-learn's load_digits (its DESCR file and the UCI test set).
const SKLEARN_PER_CLASS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];

function perClass(labels: Int32Array): number[] {
  const counts = new Array(10).fill(0);
  for (const label of labels) counts[label]++;
  return counts;
}

describe('loadDigits', () => {
  it('holds 1,497 training and 300 test images, 30 of each class in test', async () => {
    const data = await loadDigits();
    expect(data).toMatchObject({ name: 'digits', classes: 10, normalization: DIGITS_NORMALIZATION });
    expect(data.train.count).toBe(1497);
    expect(data.test.count).toBe(300);
    expect(perClass(data.test.labels)).toEqual(new Array(10).fill(30));
    expect(perClass(data.train.labels)).toEqual(SKLEARN_PER_CLASS.map((n) => n - 30));
    expect((await stat(join(digitsDir(), 'train.bin'))).size).toBe(1497 * (1 + IMAGE_BYTES));
    expect((await stat(join(digitsDir(), 'test.bin'))).size).toBe(300 * (1 + IMAGE_BYTES));
  });

  it('stores the same gray on all three channels, black background and full white strokes', async () => {
    const { train, test } = await loadDigits();
    for (const set of [train, test]) {
      let mismatches = 0;
      let brightest = 0;
      for (let n = 0; n < set.count; n++) {
        const base = n * IMAGE_BYTES;
        for (let i = 0; i < PLANE; i++) {
          const r = set.images[base + i];
          if (set.images[base + PLANE + i] !== r || set.images[base + 2 * PLANE + i] !== r) mismatches++;
          brightest = Math.max(brightest, r);
        }
        // The corners of a digit are background.
        expect(set.images[base]).toBe(0);
      }
      expect(mismatches).toBe(0);
      expect(brightest).toBe(255);
    }
  });

  it('has the per-channel training mean and std that DIGITS_NORMALIZATION states', async () => {
    const { train } = await loadDigits();
    for (let c = 0; c < 3; c++) {
      let sum = 0;
      let squares = 0;
      for (let n = 0; n < train.count; n++) {
        const plane = train.images.subarray(n * IMAGE_BYTES + c * PLANE, n * IMAGE_BYTES + (c + 1) * PLANE);
        for (const v of plane) {
          sum += v;
          squares += v * v;
        }
      }
      const count = train.count * PLANE;
      const mean = sum / count;
      const std = Math.sqrt(squares / count - mean * mean);
      expect(mean).toBeCloseTo(DIGITS_NORMALIZATION.mean[c], 3);
      expect(std).toBeCloseTo(DIGITS_NORMALIZATION.std[c], 3);
    }
  });
});
