// Softmax cross-entropy forward and backward against a float64 reference and finite differences.
import { describe, expect, it } from 'vitest';

import { softmaxCrossEntropy, softmaxCrossEntropyBackward } from '../../lib/ops/loss.js';
import { ResnetError } from '../../lib/runtime/errors.js';
import { softmaxCrossEntropyBackwardRef, softmaxCrossEntropyRef } from '../reference/loss.js';
import { expectClose, numericGradient } from '../util/check.js';
import { asF32, randint, randn } from '../util/random.js';
import { tensor, testDevices, values } from '../util/tensors.js';

async function expectRejects(promise: Promise<unknown>, code: string, ...parts: string[]): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}`).toBeInstanceOf(Error);
  expect((error as ResnetError).code).toBe(code);
  for (const part of parts) expect((error as Error).message).toContain(part);
}

// [N, K, logit scale]
const cases: [number, number, number][] = [
  [1, 1, 1],
  [1, 10, 3],
  [7, 3, 1],
  [32, 10, 5],
  [5, 1000, 2],
  [4, 6, 80], // large logits: only stable with the max subtracted
];

describe.each(testDevices)('softmax cross-entropy on %s', (device) => {
  it.each(cases)('forward and backward N=%i K=%i scale=%d', async (n, k, scale) => {
    const logits = asF32(randn(n * k, n * 31 + k, scale));
    const labels = randint(n, n + 7 * k, k);
    const tl = tensor(logits, [n, k], { device });
    const tlab = tensor(labels, [n], { device, dtype: 'int32' });
    const ref = softmaxCrossEntropyRef(logits, labels, n, k);
    const { loss, losses, probs } = await softmaxCrossEntropy(tl, tlab);
    expect(loss.shape).toEqual([1]);
    expect(losses.shape).toEqual([n]);
    expect(probs.shape).toEqual([n, k]);
    expectClose(await values(loss), [ref.loss], { what: 'loss', atol: 1e-5 });
    expectClose(await values(losses), ref.losses, { what: 'per-sample losses', atol: 1e-5 });
    expectClose(await values(probs), ref.probs, { what: 'probs', atol: 1e-6 });
    expect((await values(losses)).every(Number.isFinite)).toBe(true);

    for (const g of [1, 0.37]) {
      const dlogits = await softmaxCrossEntropyBackward(probs, tlab, tensor([g], [1], { device }));
      expect(dlogits.shape).toEqual([n, k]);
      expectClose(await values(dlogits), softmaxCrossEntropyBackwardRef(ref.probs, labels, g, n, k), {
        what: `dlogits (dloss ${g})`,
        atol: 1e-6,
      });
      dlogits.dispose();
    }
    for (const t of [tl, tlab, loss, losses, probs]) t.dispose();
  });

  it('reference backward matches finite differences of the mean loss in the logits', () => {
    const n = 4;
    const k = 7;
    const logits = randn(n * k, 51, 2);
    const labels = randint(n, 52, k);
    const dloss = 1.7;
    const analytic = softmaxCrossEntropyBackwardRef(softmaxCrossEntropyRef(logits, labels, n, k).probs, labels, dloss, n, k);
    const fd = numericGradient((v) => dloss * softmaxCrossEntropyRef(v, labels, n, k).loss, logits, 1e-6);
    for (const [i, g] of fd) expect(analytic[i]).toBeCloseTo(g, 6);
  });

  it('every probability row sums to 1 and the loss of a confident right answer is ~0', async () => {
    const logits = [50, 0, 0, 0, 50, 0];
    const { loss, probs } = await softmaxCrossEntropy(tensor(logits, [2, 3], { device }), tensor([0, 1], [2], { device, dtype: 'int32' }));
    expect((await values(loss))[0]).toBeLessThan(1e-6);
    const p = await values(probs);
    expect(p[0] + p[1] + p[2]).toBeCloseTo(1, 6);
  });

  it('rejects bad inputs naming the op and shapes, then still works', async () => {
    const logits = tensor(randn(12, 61), [3, 4], { device });
    const labels = tensor([0, 3, 1], [3], { device, dtype: 'int32' });
    // Out-of-range label: found when the op runs, names the label and its index.
    await expectRejects(
      softmaxCrossEntropy(logits, tensor([0, 4, 1], [3], { device, dtype: 'int32' })),
      'RN_INVALID_ARGUMENT',
      'softmax_cross_entropy_forward',
      'label 4 at index 1',
      '[0, 4)',
    );
    await expectRejects(
      softmaxCrossEntropy(logits, tensor([0, 1, -2], [3], { device, dtype: 'int32' })),
      'RN_INVALID_ARGUMENT',
      'label -2 at index 2',
    );
    const probs = tensor(Array(12).fill(0.25), [3, 4], { device });
    await expectRejects(
      softmaxCrossEntropyBackward(probs, tensor([9, 0, 0], [3], { device, dtype: 'int32' }), tensor([1], [1], { device })),
      'RN_INVALID_ARGUMENT',
      'softmax_cross_entropy_backward',
      'label 9 at index 0',
    );
    // Float labels.
    await expectRejects(softmaxCrossEntropy(logits, tensor([0, 1, 2], [3], { device })), 'RN_DTYPE_MISMATCH', 'softmaxCrossEntropy:', 'int32', 'float32', '[3]');
    // Wrong label count.
    await expectRejects(
      softmaxCrossEntropy(logits, tensor([0, 1], [2], { device, dtype: 'int32' })),
      'RN_SHAPE_MISMATCH',
      'softmaxCrossEntropy:',
      'int32[2]',
      'float32[3,4]',
    );
    await expectRejects(softmaxCrossEntropy(tensor(randn(12, 1), [12], { device }), labels), 'RN_SHAPE_MISMATCH', 'softmaxCrossEntropy:', '[12]');
    await expectRejects(
      softmaxCrossEntropyBackward(probs, labels, tensor([1, 1], [2], { device })),
      'RN_SHAPE_MISMATCH',
      'softmaxCrossEntropyBackward:',
      'float32[2]',
    );
    const gone = tensor(randn(12, 2), [3, 4], { device });
    gone.dispose();
    await expectRejects(softmaxCrossEntropy(gone, labels), 'RN_DISPOSED', 'softmaxCrossEntropy:', 'float32[3,4]');
    // Valid calls after the failures.
    const { loss } = await softmaxCrossEntropy(logits, labels);
    expectClose(await values(loss), [softmaxCrossEntropyRef(await values(logits), [0, 3, 1], 3, 4).loss], { what: 'loss after errors' });
    const d = await softmaxCrossEntropyBackward(probs, labels, tensor([1], [1], { device }));
    expect(d.shape).toEqual([3, 4]);
  });
});
