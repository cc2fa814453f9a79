// Batch norm 2d against the float64 reference, the reference backward against finite differences, on every device.
import { describe, expect, it } from 'vitest';

import { runOp } from '../../lib/ops/eager.js';
import { batchNormBackward, batchNormInference, batchNormTraining } from '../../lib/ops/batchnorm.js';
import type { Tensor } from '../../lib/runtime/tensor.js';
import { batchNormBackwardRef, batchNormInferenceRef, batchNormTrainingRef } from '../reference/batchnorm.js';
import { dot, expectClose, numericGradient } from '../util/check.js';
import { asF32, randint, randn, size, uniform } from '../util/random.js';
import { tensor, testDevices, values } from '../util/tensors.js';

// Spot-check coordinates: the first, the last and `count` random ones (check.ts's sampleIndices can loop forever
// when n is a power of two ≥ 16: its LCG loses precision in float64).
function spotIndices(n: number, count: number, seed: number): number[] {
  return [...new Set([0, n - 1, ...randint(count, seed, n)])];
}

/** Rejects with `code` and a message naming the op and every listed fragment (shapes). */
async function expectError(promise: Promise<unknown>, code: string, fragments: string[]): Promise<void> {
  const error = await promise.then(
    () => expect.fail('expected the call to fail'),
    (e: unknown) => e as Error & { code?: string },
  );
  expect(error.code, error.message).toBe(code);
  for (const f of fragments) expect(error.message).toContain(f);
}

describe.each(testDevices)('batch norm 2d on %s', (device) => {
  // batch 1, odd channel counts, non-square images, a channel of one plane element; 7x7 planes over more images
  // than the CPU's small-plane sums take per group (16), the last group partial
  const shapes: number[][] = [
    [1, 3, 5, 5],
    [2, 5, 7, 9],
    [4, 16, 4, 4],
    [3, 1, 1, 2],
    [8, 7, 3, 3],
    [40, 3, 7, 7],
  ];

  function inputs(shape: number[], seed: number, offset = 0) {
    const c = shape[1];
    return {
      x: asF32(randn(size(shape), seed).map((v) => v * 2 + offset)),
      gamma: asF32(uniform(c, seed + 1, 0.5, 1.5)),
      beta: asF32(randn(c, seed + 2)),
      runningMean: asF32(randn(c, seed + 3)),
      runningVar: asF32(uniform(c, seed + 4, 0.5, 2)),
    };
  }

  const t = (v: ArrayLike<number>, shape: readonly number[]) => tensor(v, shape, { device });

  it.each(shapes)('training forward and running statistics over two calls %j', async (...shape: number[]) => {
    const c = shape[1];
    const first = inputs(shape, 100 + size(shape));
    const second = inputs(shape, 200 + size(shape));
    const runningMean = t(first.runningMean, [c]);
    const runningVar = t(first.runningVar, [c]);
    const options = { momentum: 0.3, eps: 1e-3 };

    const out1 = await batchNormTraining(t(first.x, shape), t(first.gamma, [c]), t(first.beta, [c]), runningMean, runningVar, options);
    const ref1 = batchNormTrainingRef(first.x, shape, first.gamma, first.beta, first.runningMean, first.runningVar, options);
    expectClose(await values(out1.y), ref1.y, { what: 'y' });
    expectClose(await values(out1.saveMean), ref1.mean, { what: 'saveMean' });
    expectClose(await values(out1.saveInvStd), ref1.invStd, { what: 'saveInvStd' });
    expectClose(await values(runningMean), ref1.runningMean, { what: 'running mean after one call' });
    expectClose(await values(runningVar), ref1.runningVar, { what: 'running var after one call' });

    await batchNormTraining(t(second.x, shape), t(second.gamma, [c]), t(second.beta, [c]), runningMean, runningVar, options);
    const ref2 = batchNormTrainingRef(second.x, shape, second.gamma, second.beta, ref1.runningMean, ref1.runningVar, options);
    expectClose(await values(runningMean), ref2.runningMean, { what: 'running mean after two calls' });
    expectClose(await values(runningVar), ref2.runningVar, { what: 'running var after two calls' });
  });

  it('training statistics stay accurate when the mean is far larger than the spread', async () => {
    const shape = [4, 3, 6, 5];
    const input = inputs(shape, 7, 300);
    const { y, saveMean, saveInvStd } = await batchNormTraining(
      t(input.x, shape),
      t(input.gamma, [3]),
      t(input.beta, [3]),
      t(input.runningMean, [3]),
      t(input.runningVar, [3]),
    );
    const ref = batchNormTrainingRef(input.x, shape, input.gamma, input.beta, input.runningMean, input.runningVar);
    expectClose(await values(saveMean), ref.mean, { what: 'saveMean' });
    expectClose(await values(saveInvStd), ref.invStd, { what: 'saveInvStd', rtol: 1e-3 });
    expectClose(await values(y), ref.y, { what: 'y', rtol: 1e-3, atol: 1e-3 });
  });

  it.each(shapes)('inference forward %j', async (...shape: number[]) => {
    const c = shape[1];
    const input = inputs(shape, 300 + size(shape));
    const y = await batchNormInference(
      t(input.x, shape),
      t(input.gamma, [c]),
      t(input.beta, [c]),
      t(input.runningMean, [c]),
      t(input.runningVar, [c]),
      { eps: 1e-4 },
    );
    const ref = batchNormInferenceRef(input.x, shape, input.gamma, input.beta, input.runningMean, input.runningVar, 1e-4);
    expectClose(await values(y), ref, { what: 'inference y' });
  });

  it.each(shapes)('backward %j against the reference', async (...shape: number[]) => {
    const c = shape[1];
    const input = inputs(shape, 400 + size(shape));
    const dy = asF32(randn(size(shape), 500 + size(shape)));
    const x = t(input.x, shape);
    const gamma = t(input.gamma, [c]);
    const fwd = await batchNormTraining(x, gamma, t(input.beta, [c]), t(input.runningMean, [c]), t(input.runningVar, [c]));
    const grads = await batchNormBackward(x, t(dy, shape), gamma, fwd.saveMean, fwd.saveInvStd);
    const ref = batchNormBackwardRef(input.x, dy, shape, input.gamma, await values(fwd.saveMean), await values(fwd.saveInvStd));
    const gradScale = { rtol: 1e-4, atol: 1e-4 };
    expectClose(await values(grads.dx), ref.dx, { what: 'dx', ...gradScale });
    expectClose(await values(grads.dgamma), ref.dgamma, { what: 'dgamma', ...gradScale });
    expectClose(await values(grads.dbeta), ref.dbeta, { what: 'dbeta', ...gradScale });
  });

  it.each(shapes)('reference backward %j matches finite differences of Σ y·r', (...shape: number[]) => {
    const c = shape[1];
    const input = inputs(shape, 600 + size(shape));
    const r = randn(size(shape), 700 + size(shape));
    const x = Float64Array.from(input.x);
    const gamma = Float64Array.from(input.gamma);
    const beta = Float64Array.from(input.beta);
    const loss = () => dot(batchNormTrainingRef(x, shape, gamma, beta, input.runningMean, input.runningVar).y, r);
    const fwd = batchNormTrainingRef(x, shape, gamma, beta, input.runningMean, input.runningVar);
    const ref = batchNormBackwardRef(x, r, shape, gamma, fwd.mean, fwd.invStd);
    const check = (analytic: Float64Array, wrt: Float64Array, what: string) => {
      const indices = spotIndices(wrt.length, 12, c + wrt.length);
      const numeric = numericGradient(loss, wrt, 1e-6, indices);
      expectClose(
        indices.map((i) => analytic[i]),
        indices.map((i) => numeric.get(i) as number),
        { what, rtol: 1e-5, atol: 1e-6 },
      );
    };
    check(ref.dx, x, 'd/dx');
    check(ref.dgamma, gamma, 'd/dgamma');
    check(ref.dbeta, beta, 'd/dbeta');
  });

  describe('bad inputs', () => {
    const shape = [2, 3, 4, 4];
    const input = inputs(shape, 9);
    const good = () => ({
      x: t(input.x, shape),
      gamma: t(input.gamma, [3]),
      beta: t(input.beta, [3]),
      runningMean: t(input.runningMean, [3]),
      runningVar: t(input.runningVar, [3]),
    });

    async function validCallWorks(): Promise<void> {
      const g = good();
      const { y } = await batchNormTraining(g.x, g.gamma, g.beta, g.runningMean, g.runningVar);
      const ref = batchNormTrainingRef(input.x, shape, input.gamma, input.beta, input.runningMean, input.runningVar);
      expectClose(await values(y), ref.y, { what: 'y after an error' });
    }

    it('rejects gamma and beta whose length is not the channel count', async () => {
      const g = good();
      await expectError(
        batchNormTraining(g.x, t([1, 1, 1, 1], [4]), g.beta, g.runningMean, g.runningVar),
        'RN_SHAPE_MISMATCH',
        ['batchNormTraining', 'gamma', '[2,3,4,4]', '[4]'],
      );
      await expectError(
        batchNormInference(g.x, g.gamma, t([0, 0], [2]), g.runningMean, g.runningVar),
        'RN_SHAPE_MISMATCH',
        ['batchNormInference', 'beta', '[2,3,4,4]', '[2]'],
      );
      await validCallWorks();
    });

    it('rejects wrong dtypes, ranks and dy shapes', async () => {
      const g = good();
      await expectError(
        batchNormTraining(tensor(input.x, shape, { device, dtype: 'int32' }), g.gamma, g.beta, g.runningMean, g.runningVar),
        'RN_DTYPE_MISMATCH',
        ['batchNormTraining', 'x', 'int32', '[2,3,4,4]'],
      );
      await expectError(
        batchNormTraining(t(input.x, [2, 3, 16]), g.gamma, g.beta, g.runningMean, g.runningVar),
        'RN_SHAPE_MISMATCH',
        ['batchNormTraining', 'rank-4', '[2,3,16]'],
      );
      await expectError(
        batchNormBackward(g.x, t(input.x, [2, 3, 2, 8]), g.gamma, g.runningMean, g.runningVar),
        'RN_SHAPE_MISMATCH',
        ['batchNormBackward', 'dy', '[2,3,4,4]', '[2,3,2,8]'],
      );
      await validCallWorks();
    });

    it('rejects unknown options, bad eps and momentum, and one value per channel', async () => {
      const g = good();
      await expectError(
        batchNormTraining(g.x, g.gamma, g.beta, g.runningMean, g.runningVar, { momentum: 0.1, epsilon: 1 } as never),
        'RN_UNKNOWN_ATTRIBUTE',
        ['batchNormTraining', 'epsilon'],
      );
      await expectError(
        batchNormTraining(g.x, g.gamma, g.beta, g.runningMean, g.runningVar, { momentum: 1.5 }),
        'RN_INVALID_ARGUMENT',
        ['batchNormTraining', 'momentum', '1.5'],
      );
      await expectError(
        batchNormInference(g.x, g.gamma, g.beta, g.runningMean, g.runningVar, { eps: -1 }),
        'RN_INVALID_ARGUMENT',
        ['batchNormInference', 'eps', '-1'],
      );
      await expectError(
        batchNormTraining(t([1, 2, 3], [1, 3, 1, 1]), g.gamma, g.beta, g.runningMean, g.runningVar),
        'RN_INVALID_ARGUMENT',
        ['batchNormTraining', 'more than one value per channel', '[1,3,1,1]'],
      );
      await expectError(
        batchNormTraining(g.x, g.gamma, g.beta, g.runningMean, g.runningMean),
        'RN_INVALID_ARGUMENT',
        ['batchNormTraining', 'runningMean and runningVar'],
      );
      await validCallWorks();
    });

    it('the native kernels check attributes and shapes themselves', async () => {
      const g = good();
      const bound = (extra: Tensor[] = []) => [g.x, g.gamma, g.beta, g.runningMean, g.runningVar, ...extra];
      await expectError(
        runOp('batchnorm_forward_inference', bound(), [{ shape }], { eps: 1e-5, momentum: 0.1 }),
        'RN_UNKNOWN_ATTRIBUTE',
        ['batchnorm_forward_inference', 'momentum'],
      );
      await expectError(
        runOp('batchnorm_forward_inference', [g.x, g.gamma, g.beta, g.runningMean, t([1, 1], [2])], [{ shape }]),
        'RN_SHAPE_MISMATCH',
        ['batchnorm_forward_inference', 'running_var', '[2,3,4,4]', '[2]'],
      );
      await expectError(
        runOp('batchnorm_backward', [g.x, g.x, g.gamma, g.runningMean, g.runningVar], [{ shape }, { shape: [3] }, { shape: [3] }], {
          eps: -1,
        }),
        'RN_INVALID_ARGUMENT',
        ['batchnorm_backward', 'eps', '[2,3,4,4]'],
      );
      await validCallWorks();
    });
  });
});
