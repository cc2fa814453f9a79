// The CPU kernels' fused ReLU (the `relu` attribute of batch norm's three ops and of add) against the unfused
// sequence, in both layouts: forwards equal BN-then-ReLU and add-then-ReLU exactly, the backward equals
// reluBackward then batchNormBackward (the same float sums, so within 1e-5 relative, in practice exactly).
import { describe, expect, it } from 'vitest';

import { batchNormBackward, batchNormInference, batchNormTraining } from '../../lib/ops/batchnorm.js';
import { runOp } from '../../lib/ops/eager.js';
import { add, relu, reluBackward } from '../../lib/ops/elementwise.js';
import type { Layout } from '../../lib/runtime/layout.js';
import type { Tensor } from '../../lib/runtime/tensor.js';
import { expectClose } from '../util/check.js';
import { randn, size, uniform } from '../util/random.js';
import { tensor, values } from '../util/tensors.js';

// Blocked where C is a multiple of 16. [8, 16, 28, 28] blocked takes the sliced two-pass path only when fused (its
// reread x, dy and y outgrow a thread's cache where x and dy fit); [16, 16, 32, 32] takes it either way.
const cases: [number[], Layout[]][] = [
  [[1, 16, 5, 7], ['nchw', 'nChw16c']],
  [[3, 32, 4, 4], ['nchw', 'nChw16c']],
  [[2, 3, 5, 5], ['nchw']],
  [[8, 16, 28, 28], ['nchw', 'nChw16c']],
  [[16, 16, 32, 32], ['nChw16c']],
];
const flat = cases.flatMap(([shape, layouts]) => layouts.map((layout) => [shape, layout] as const));

function image(shape: number[], seed: number, offset = 0): Float64Array {
  return randn(size(shape), seed).map((v) => v + offset);
}

function channelVector(c: number, seed: number, lo: number, hi: number): Tensor {
  return tensor(uniform(c, seed, lo, hi), [c]);
}

async function expectExact(actual: Tensor, wanted: Tensor, what: string): Promise<void> {
  const a = await values(actual);
  const w = await values(wanted);
  expect(a.length, what).toBe(w.length);
  const bad = a.findIndex((v, i) => !Object.is(v, w[i]) && !(v === 0 && w[i] === 0));
  expect(bad, `${what}: first difference at ${bad}: ${a[bad]} vs ${w[bad]}`).toBe(-1);
}

/** Rejects with an Error whose message names the op and every fragment. */
async function expectError(promise: Promise<unknown>, fragments: string[]): Promise<void> {
  const error = await promise.then(
    () => expect.fail('expected the call to fail'),
    (e: unknown) => e as Error,
  );
  expect(error).toBeInstanceOf(Error);
  for (const f of fragments) expect(error.message).toContain(f);
}

describe.each(flat)('fused ReLU on %j %s', (shape, layout) => {
  const c = shape[1];
  const t = (data: ArrayLike<number>) => tensor(data, shape, { layout });
  // offset 0.3: y > 0 for a little over half the elements after normalisation with beta in [-1, 1]
  const x = () => t(image(shape, 11, 0.3));
  const gamma = channelVector(c, 12, 0.5, 1.5);
  const beta = channelVector(c, 13, -1, 1);
  const stats = () => [channelVector(c, 14, -1, 1), channelVector(c, 15, 0.5, 2)];

  it('training and inference forwards equal batch norm then relu', async () => {
    const input = x();
    const [rmFused, rvFused] = stats();
    const [rmPlain, rvPlain] = stats();
    const fused = await batchNormTraining(input, gamma, beta, rmFused, rvFused, { momentum: 0.3, relu: true });
    const plain = await batchNormTraining(input, gamma, beta, rmPlain, rvPlain, { momentum: 0.3 });
    expect(fused.y.layout).toBe(layout);
    await expectExact(fused.y, await relu(plain.y), 'training y');
    await expectExact(fused.saveMean, plain.saveMean, 'saveMean');
    await expectExact(fused.saveInvStd, plain.saveInvStd, 'saveInvStd');
    await expectExact(rmFused, rmPlain, 'runningMean');
    await expectExact(rvFused, rvPlain, 'runningVar');
    const ys = await values(fused.y);
    const positive = ys.filter((v) => v > 0).length;
    expect(positive).toBeGreaterThan(ys.length / 4);
    expect(positive).toBeLessThan(ys.length);

    const inferFused = await batchNormInference(input, gamma, beta, rmPlain, rvPlain, { relu: true });
    const inferPlain = await batchNormInference(input, gamma, beta, rmPlain, rvPlain);
    expect(inferFused.layout).toBe(layout);
    await expectExact(inferFused, await relu(inferPlain), 'inference y');
  });

  it('backward equals reluBackward then batch norm backward', async () => {
    const input = x();
    const [rm, rv] = stats();
    const { y, saveMean, saveInvStd } = await batchNormTraining(input, gamma, beta, rm, rv, { relu: true });
    const dy = t(image(shape, 16));
    const fused = await batchNormBackward(input, dy, gamma, saveMean, saveInvStd, { relu: true, y });
    const plain = await batchNormBackward(input, await reluBackward(y, dy), gamma, saveMean, saveInvStd);
    expect(fused.dx.layout).toBe(layout);
    // atol: a channel's Σdy can cancel to ~1e-2 of magnitudes ~1 (see layout.test.ts)
    for (const key of ['dx', 'dgamma', 'dbeta'] as const) {
      expectClose(await values(fused[key]), await values(plain[key]), { rtol: 1e-5, atol: 1e-6, what: key });
    }
    // the masked gradient differs from the unmasked one (the mask is applied at all)
    const unmasked = await batchNormBackward(input, dy, gamma, saveMean, saveInvStd);
    const a = await values(fused.dbeta);
    const b = await values(unmasked.dbeta);
    expect(a.some((v, i) => Math.abs(v - b[i]) > 1e-3)).toBe(true);
  });

  it('add with relu equals add then relu', async () => {
    const a = t(image(shape, 21));
    const b = t(image(shape, 22, -0.2));
    const fused = await add(a, b, { relu: true });
    expect(fused.layout).toBe(layout);
    await expectExact(fused, await relu(await add(a, b)), 'add relu');
    await expectExact(await add(a, b, { relu: false }), await add(a, b), 'add relu: false');
  });
});

describe('fused ReLU argument checks', () => {
  const shape = [2, 16, 3, 3];
  const c = shape[1];
  const setup = async () => {
    const x = tensor(image(shape, 31), shape);
    const gamma = channelVector(c, 32, 0.5, 1.5);
    const fwd = await batchNormTraining(x, gamma, gamma, channelVector(c, 33, -1, 1), channelVector(c, 34, 0.5, 2), {
      relu: true,
    });
    return { x, gamma, dy: tensor(image(shape, 35), shape), ...fwd };
  };

  it('batchNormBackward with relu needs y of x shape and layout, and y only with relu', async () => {
    const { x, gamma, dy, y, saveMean, saveInvStd } = await setup();
    await expectError(batchNormBackward(x, dy, gamma, saveMean, saveInvStd, { relu: true }), ['batchNormBackward', 'y']);
    const wrong = tensor(image([2, 16, 3, 4], 36), [2, 16, 3, 4]);
    await expectError(batchNormBackward(x, dy, gamma, saveMean, saveInvStd, { relu: true, y: wrong }), [
      'batchNormBackward',
      'y',
      '[2,16,3,4]',
    ]);
    const blockedY = tensor(await values(y), shape, { layout: 'nChw16c' });
    await expectError(batchNormBackward(x, dy, gamma, saveMean, saveInvStd, { relu: true, y: blockedY }), [
      'batchNormBackward',
      'nChw16c',
    ]);
    await expectError(batchNormBackward(x, dy, gamma, saveMean, saveInvStd, { y }), ['batchNormBackward', 'y']);
    await expectError(
      batchNormBackward(x, dy, gamma, saveMean, saveInvStd, { relu: 1 as unknown as boolean, y }),
      ['batchNormBackward', 'relu'],
    );
  });

  it('the native ops refuse a fused backward without y or with a mis-shaped one', async () => {
    const { x, gamma, dy, saveMean, saveInvStd } = await setup();
    const outs = [{ shape }, { shape: [c] }, { shape: [c] }];
    await expectError(runOp('batchnorm_backward', [x, dy, gamma, saveMean, saveInvStd], outs, { relu: true }), [
      'batchnorm_backward',
    ]);
    const wrong = tensor(image([2, 16, 3, 4], 37), [2, 16, 3, 4]);
    await expectError(runOp('batchnorm_backward', [x, dy, gamma, saveMean, saveInvStd, wrong], outs, { relu: true }), [
      'batchnorm_backward',
      'y',
    ]);
    // and the unfused op a sixth input
    await expectError(runOp('batchnorm_backward', [x, dy, gamma, saveMean, saveInvStd, dy], outs), ['batchnorm_backward']);
  });

  it('add and the forwards check the option', async () => {
    const { x, gamma } = await setup();
    await expectError(add(x, x, { relu: 'yes' as unknown as boolean }), ['add', 'relu']);
    await expectError(add(x, x, { inPlace: true } as unknown as { relu?: boolean }), ['add', 'inPlace']);
    await expectError(
      batchNormInference(x, gamma, gamma, gamma, gamma, { relu: 0 as unknown as boolean }),
      ['batchNormInference', 'relu'],
    );
  });
});
