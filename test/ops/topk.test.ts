// Top-k correct counts against a sort-based float64 reference, with ties, K < 5 and bad inputs.
import { describe, expect, it } from 'vitest';

import { topkCorrect } from '../../lib/ops/topk.js';
import { ResnetError } from '../../lib/runtime/errors.js';
import { topkCorrectRef } from '../reference/misc.js';
import { asF32, randint, randn } from '../util/random.js';
import { tensor, testDevices } from '../util/tensors.js';

async function expectRejects(promise: Promise<unknown>, code: string, ...parts: string[]): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeInstanceOf(Error);
  expect((error as ResnetError).code).toBe(code);
  for (const part of parts) expect((error as Error).message).toContain(part);
}

describe.each(testDevices)('top-k correct on %s', (device) => {
  const labelsOf = (l: ArrayLike<number>) => tensor(l, [l.length], { device, dtype: 'int32' });

  it.each([
    [1, 10],
    [7, 3],
    [64, 10],
    [33, 100],
    [16, 1000],
  ])('random logits N=%i K=%i', async (n, k) => {
    const logits = asF32(randn(n * k, n + 3 * k));
    const labels = randint(n, n * 5 + k, k);
    const ks = [1, 2, 5, 10];
    const got = await topkCorrect(tensor(logits, [n, k], { device }), labelsOf(labels), ks);
    expect(got).toEqual(topkCorrectRef(logits, labels, n, k, ks));
    // Counts never decrease with k and never exceed N.
    for (let q = 1; q < got.length; q++) expect(got[q]).toBeGreaterThanOrEqual(got[q - 1]);
    expect(got[got.length - 1]).toBeLessThanOrEqual(n);
  });

  it('defaults to ks = [1, 5] and counts a hand-made batch', async () => {
    // Row 0: label 2 is the max → top-1. Row 1: label 0 is 3rd → top-5 only. Row 2: label 5 is last of 6 → neither.
    const logits = [
      [0, 1, 9, 2, 3, 4],
      [5, 7, 1, 6, 0, 2],
      [3, 4, 5, 6, 7, -1],
    ].flat();
    expect(await topkCorrect(tensor(logits, [3, 6], { device }), labelsOf([2, 0, 5]))).toEqual([1, 2]);
  });

  it('ties count in the label’s favour: rank = number of strictly greater logits', async () => {
    const logits = [
      [1, 1, 1, 1], // all tied: rank 0 → top-1
      [2, 3, 3, 0], // label 2 tied with 1 for the max → top-1
      [5, 5, 5, 4], // label 3 below three tied → rank 3
      [0, 0, 0, 0],
    ].flat();
    const labels = [3, 2, 3, 0];
    const ks = [1, 3, 4];
    const got = await topkCorrect(tensor(logits, [4, 4], { device }), labelsOf(labels), ks);
    expect(got).toEqual([3, 3, 4]);
    expect(got).toEqual(topkCorrectRef(logits, labels, 4, 4, ks));
  });

  it('k larger than K counts as K (fewer than 5 classes, fb.resnet.torch #184)', async () => {
    for (const k of [1, 2, 3]) {
      const n = 9;
      const logits = asF32(randn(n * k, 70 + k));
      const labels = randint(n, 80 + k, k);
      const got = await topkCorrect(tensor(logits, [n, k], { device }), labelsOf(labels), [1, 5]);
      expect(got[1]).toBe(n);
      expect(got).toEqual(topkCorrectRef(logits, labels, n, k, [1, 5]));
    }
  });

  it('rejects bad inputs naming the op and shapes, then still works', async () => {
    const logits = tensor(randn(12, 5), [3, 4], { device });
    await expectRejects(topkCorrect(logits, labelsOf([0, 1, 4])), 'RN_INVALID_ARGUMENT', 'topk_correct', 'label 4 at index 2', '[3,4]');
    await expectRejects(topkCorrect(logits, tensor([0, 1, 2], [3], { device })), 'RN_DTYPE_MISMATCH', 'topkCorrect:', 'int32', 'float32', '[3]');
    await expectRejects(topkCorrect(logits, labelsOf([0, 1])), 'RN_SHAPE_MISMATCH', 'topkCorrect:', 'int32[2]', 'float32[3,4]');
    await expectRejects(topkCorrect(logits, labelsOf([0, 1, 2]), [0]), 'RN_INVALID_ARGUMENT', 'topkCorrect:', 'ks');
    await expectRejects(topkCorrect(logits, labelsOf([0, 1, 2]), []), 'RN_INVALID_ARGUMENT', 'topkCorrect:', 'ks');
    await expectRejects(topkCorrect(logits, labelsOf([0, 1, 2]), [1.5]), 'RN_INVALID_ARGUMENT', 'topkCorrect:', 'ks');
    const gone = tensor(randn(12, 6), [3, 4], { device });
    gone.dispose();
    await expectRejects(topkCorrect(gone, labelsOf([0, 1, 2])), 'RN_DISPOSED', 'topkCorrect:', 'float32[3,4]');
    const l = await logits.toArray();
    expect(await topkCorrect(logits, labelsOf([0, 1, 2]), [1, 4])).toEqual(topkCorrectRef(l as Float32Array, [0, 1, 2], 3, 4, [1, 4]));
  });
});
