// The CPU kernels that take nChw16c operands against their plain selves: the same op on the same data in both
// layouts must agree (float results within 1e-5 relative, indices exactly), give fresh 4-D outputs the input's
// layout, and refuse a call that mixes layouts.
import { describe, expect, it } from 'vitest';

import { batchNormBackward, batchNormInference, batchNormTraining } from '../../lib/ops/batchnorm.js';
import { runOp } from '../../lib/ops/eager.js';
import { type Pool2dOptions, globalAvgPool, globalAvgPoolBackward, maxPool2d, maxPool2dBackward } from '../../lib/ops/pool.js';
import { shortcutA, shortcutABackward } from '../../lib/ops/shortcut.js';
import type { Layout } from '../../lib/runtime/layout.js';
import type { Tensor } from '../../lib/runtime/tensor.js';
import { expectClose } from '../util/check.js';
import { randn, size, uniform } from '../util/random.js';
import { tensor, values } from '../util/tensors.js';

const BLOCKED: Layout = 'nChw16c';

// C = 16 (one block) and 32, odd planes, batch 1 and 3.
const shapes: number[][] = [
  [1, 16, 5, 7],
  [3, 32, 5, 7],
  [3, 16, 8, 8],
  [1, 32, 2, 3],
];

function image(shape: number[], seed: number, offset = 0): Float64Array {
  return randn(size(shape), seed).map((v) => v + offset);
}

/** The tensor in both layouts, from one row-major array. */
function both(data: ArrayLike<number>, shape: number[]): [Tensor, Tensor] {
  return [tensor(data, shape), tensor(data, shape, { layout: BLOCKED })];
}

function channelVector(c: number, seed: number, lo: number, hi: number): Tensor {
  return tensor(uniform(c, seed, lo, hi), [c]);
}

// atol covers a channel sum that cancels: Σdy over ~200 unit values can land near 0.01, where the two kernels'
// float summation orders differ by ~1e-6 (1e-8 of the magnitudes summed).
async function expectSame(blocked: Tensor, plain: Tensor, what: string, atol = 1e-6): Promise<void> {
  expectClose(await values(blocked), await values(plain), { rtol: 1e-5, atol, what });
}

/** Rejects with a JS Error naming the op and the layouts. */
async function expectLayoutError(promise: Promise<unknown>, op: string): Promise<void> {
  const error = await promise.then(
    () => expect.fail('expected the call to fail'),
    (e: unknown) => e as Error,
  );
  expect(error).toBeInstanceOf(Error);
  expect(error.message).toContain(op);
  expect(error.message).toContain('nChw16c');
}

describe.each(shapes)('blocked kernels on [%i, %i, %i, %i]', (...shape) => {
  const c = shape[1];

  it('batch norm training forward, inference and backward match plain', async () => {
    const [xPlain, xBlocked] = both(image(shape, 1, 3), shape);
    const [dyPlain, dyBlocked] = both(image(shape, 2), shape);
    const gamma = channelVector(c, 3, 0.5, 1.5);
    const beta = channelVector(c, 4, -1, 1);
    const stats = () => [channelVector(c, 5, -1, 1), channelVector(c, 6, 0.5, 2)];
    const [rmPlain, rvPlain] = stats();
    const [rmBlocked, rvBlocked] = stats();

    const plain = await batchNormTraining(xPlain, gamma, beta, rmPlain, rvPlain, { momentum: 0.3 });
    const blocked = await batchNormTraining(xBlocked, gamma, beta, rmBlocked, rvBlocked, { momentum: 0.3 });
    expect(blocked.y.layout).toBe(BLOCKED);
    await expectSame(blocked.y, plain.y, 'y');
    await expectSame(blocked.saveMean, plain.saveMean, 'saveMean');
    await expectSame(blocked.saveInvStd, plain.saveInvStd, 'saveInvStd');
    await expectSame(rmBlocked, rmPlain, 'runningMean');
    await expectSame(rvBlocked, rvPlain, 'runningVar');

    const inferPlain = await batchNormInference(xPlain, gamma, beta, rmPlain, rvPlain);
    const inferBlocked = await batchNormInference(xBlocked, gamma, beta, rmPlain, rvPlain);
    expect(inferBlocked.layout).toBe(BLOCKED);
    await expectSame(inferBlocked, inferPlain, 'inference y');

    const gPlain = await batchNormBackward(xPlain, dyPlain, gamma, plain.saveMean, plain.saveInvStd);
    const gBlocked = await batchNormBackward(xBlocked, dyBlocked, gamma, plain.saveMean, plain.saveInvStd);
    expect(gBlocked.dx.layout).toBe(BLOCKED);
    await expectSame(gBlocked.dx, gPlain.dx, 'dx');
    await expectSame(gBlocked.dgamma, gPlain.dgamma, 'dgamma', 1e-5);
    await expectSame(gBlocked.dbeta, gPlain.dbeta, 'dbeta', 1e-5);
  });

  it('SyncBN pieces match plain (one replica: the stats and sums go straight to the apply ops)', async () => {
    const run = async (layout: Layout) => {
      const x = tensor(image(shape, 16, 2), shape, { layout });
      const dy = tensor(image(shape, 17), shape, { layout });
      const gamma = channelVector(c, 18, 0.5, 1.5);
      const beta = channelVector(c, 19, -1, 1);
      const runningMean = channelVector(c, 20, 1, 3);
      const runningVar = channelVector(c, 21, 0.5, 2);
      const vector = (n: number) => ({ shape: [n] });
      const [stats] = await runOp('batchnorm_stats', [x, runningMean], [vector(2 * c + 1)]);
      const [y, , , saveMean, saveInvStd] = await runOp(
        'batchnorm_apply_training',
        [x, gamma, beta, runningMean, runningVar, stats],
        [{ shape }, runningMean, runningVar, vector(c), vector(c)],
        { eps: 1e-5, momentum: 0.1 },
      );
      const [dgamma, dbeta, sums] = await runOp(
        'batchnorm_backward_reduce',
        [x, dy, saveMean, saveInvStd],
        [vector(c), vector(c), vector(2 * c + 1)],
      );
      const [dx] = await runOp('batchnorm_backward_apply', [x, dy, gamma, saveMean, saveInvStd, sums, stats], [{ shape }]);
      return { stats, y, runningMean, runningVar, saveMean, saveInvStd, dgamma, dbeta, sums, dx };
    };
    const plain = await run('nchw');
    const blocked = await run(BLOCKED);
    expect(blocked.y.layout).toBe(BLOCKED);
    expect(blocked.dx.layout).toBe(BLOCKED);
    for (const key of Object.keys(plain) as (keyof typeof plain)[]) {
      // stats and sums hold the channel sums themselves (see the atol note at expectSame)
      await expectSame(blocked[key], plain[key], key, ['stats', 'sums', 'dgamma', 'dbeta'].includes(key) ? 1e-5 : 1e-6);
    }
  });

  it('batch norm refuses operands in two layouts', async () => {
    const [xPlain, xBlocked] = both(image(shape, 7), shape);
    const [dyPlain] = both(image(shape, 8), shape);
    const gamma = channelVector(c, 3, 0.5, 1.5);
    const { saveMean, saveInvStd } = await batchNormTraining(
      xPlain, gamma, gamma, channelVector(c, 5, -1, 1), channelVector(c, 6, 0.5, 2),
    );
    await expectLayoutError(batchNormBackward(xBlocked, dyPlain, gamma, saveMean, saveInvStd), 'batchnorm_backward');
  });

  it.each<Pool2dOptions>([
    { kernel: [3, 3], stride: [2, 2], padding: [1, 1] },
    { kernel: [2, 2], stride: [2, 2], padding: [0, 0], ceilMode: true },
    { kernel: [1, 3], stride: [1, 1], padding: [0, 1] },
  ])('max pooling forward and backward match plain (%o)', async (options) => {
    const [xPlain, xBlocked] = both(image(shape, 9), shape);
    const plain = await maxPool2d(xPlain, options);
    const blocked = await maxPool2d(xBlocked, options);
    expect(blocked.y.layout).toBe(BLOCKED);
    expect(blocked.indices.layout).toBe('nchw');
    await expectSame(blocked.y, plain.y, 'y');
    expect(Array.from((await blocked.indices.toArray()) as Int32Array)).toEqual(Array.from((await plain.indices.toArray()) as Int32Array));

    const pooled = plain.y.shape.slice();
    const [dyPlain, dyBlocked] = both(image(pooled, 10), pooled);
    const dxPlain = await maxPool2dBackward(dyPlain, plain.indices, shape, options);
    const dxBlocked = await maxPool2dBackward(dyBlocked, blocked.indices, shape, options);
    expect(dxBlocked.layout).toBe(BLOCKED);
    await expectSame(dxBlocked, dxPlain, 'dx');
  });

  it('max pooling backward refuses dy and dx in two layouts', async () => {
    const options: Pool2dOptions = { kernel: [2, 2], stride: [2, 2], ceilMode: true };
    const { y, indices } = await maxPool2d(tensor(image(shape, 11), shape), options);
    const dx = { shape, layout: BLOCKED };
    await expectLayoutError(runOp('maxpool2d_backward', [y, indices], [dx]), 'maxpool2d_backward');
  });

  it('global average pooling forward and backward match plain', async () => {
    const [xPlain, xBlocked] = both(image(shape, 12, 1), shape);
    const yPlain = await globalAvgPool(xPlain);
    const yBlocked = await globalAvgPool(xBlocked);
    expect(yBlocked.layout).toBe('nchw');
    await expectSame(yBlocked, yPlain, 'y');

    const dy = tensor(randn(shape[0] * c, 13), [shape[0], c]);
    const dxPlain = await globalAvgPoolBackward(dy, shape);
    const [dxBlocked] = await runOp('global_avgpool_backward', [dy], [{ shape, layout: BLOCKED }]);
    expect(dxBlocked.layout).toBe(BLOCKED);
    await expectSame(dxBlocked, dxPlain, 'dx');
  });

  it.each([
    { stride: 1, outChannels: c },
    { stride: 2, outChannels: c + 16 },
    { stride: 3, outChannels: 2 * c },
  ])('shortcut A forward and backward match plain (%o)', async (options) => {
    const [xPlain, xBlocked] = both(image(shape, 14), shape);
    const yPlain = await shortcutA(xPlain, options);
    const yBlocked = await shortcutA(xBlocked, options);
    expect(yBlocked.layout).toBe(BLOCKED);
    await expectSame(yBlocked, yPlain, 'y');

    const outShape = yPlain.shape.slice();
    const [dyPlain, dyBlocked] = both(image(outShape, 15), outShape);
    const dxPlain = await shortcutABackward(dyPlain, shape, { stride: options.stride });
    const dxBlocked = await shortcutABackward(dyBlocked, shape, { stride: options.stride });
    expect(dxBlocked.layout).toBe(BLOCKED);
    await expectSame(dxBlocked, dxPlain, 'dx');
  });
});
