// Max, average and global average pooling against the float64 reference, on every device.
import { describe, expect, it } from 'vitest';

import { runOp } from '../../lib/ops/eager.js';
import {
  type AvgPool2dOptions,
  avgPool2d,
  avgPool2dBackward,
  globalAvgPool,
  globalAvgPoolBackward,
  maxPool2d,
  maxPool2dBackward,
  pool2dOutputShape,
} from '../../lib/ops/pool.js';
import {
  type PoolParams,
  avgPoolBackwardRef,
  avgPoolRef,
  globalAvgPoolBackwardRef,
  globalAvgPoolRef,
  maxPoolBackwardRef,
  maxPoolRef,
  poolShapeRef,
} from '../reference/pool.js';
import { dot, expectClose, numericGradient } from '../util/check.js';
import { asF32, randint, randn, size } from '../util/random.js';
import { tensor, testDevices, values } from '../util/tensors.js';

// Spot-check coordinates: the first, the last and `count` random ones (check.ts's sampleIndices can loop forever
// when n is a power of two ≥ 16: its LCG loses precision in float64).
function spotIndices(n: number, count: number, seed: number): number[] {
  return [...new Set([0, n - 1, ...randint(count, seed, n)])];
}

async function expectError(promise: Promise<unknown>, code: string, fragments: string[]): Promise<void> {
  const error = await promise.then(
    () => expect.fail('expected the call to fail'),
    (e: unknown) => e as Error & { code?: string },
  );
  expect(error.code, error.message).toBe(code);
  for (const f of fragments) expect(error.message).toContain(f);
}

function expectThrows(f: () => unknown, code: string, fragments: string[]): void {
  let error: (Error & { code?: string }) | undefined;
  try {
    f();
  } catch (e) {
    error = e as Error & { code?: string };
  }
  expect(error, 'expected the call to throw').toBeDefined();
  expect(error?.code, error?.message).toBe(code);
  for (const fragment of fragments) expect(error?.message).toContain(fragment);
}

interface Case {
  shape: number[];
  options: AvgPool2dOptions;
}

// batch 1, odd channels, non-square 7×9, strides 1, 2 and 3 (stride > kernel), padding 1, ceil mode, rectangular kernels
const cases: Case[] = [
  { shape: [1, 3, 6, 6], options: { kernel: 2 } },
  { shape: [2, 5, 7, 9], options: { kernel: 3, stride: 2, padding: 1 } },
  { shape: [2, 3, 7, 9], options: { kernel: 3, stride: 2, padding: 1, ceilMode: true } },
  { shape: [1, 2, 7, 9], options: { kernel: 2, stride: 2, ceilMode: true } },
  { shape: [3, 1, 8, 5], options: { kernel: [3, 2], stride: [1, 2], padding: [1, 1] } },
  { shape: [2, 3, 6, 7], options: { kernel: [2, 3], stride: [2, 1], padding: [1, 1] } },
  { shape: [2, 2, 9, 7], options: { kernel: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false } },
  { shape: [1, 4, 5, 7], options: { kernel: 2, stride: 3, padding: 1, ceilMode: true } },
  { shape: [2, 3, 4, 4], options: { kernel: 4 } },
];

function params(o: AvgPool2dOptions): PoolParams {
  const pair = (v: number | readonly [number, number] | undefined, d: [number, number]): [number, number] =>
    v === undefined ? d : typeof v === 'number' ? [v, v] : [v[0], v[1]];
  const kernel = pair(o.kernel, [0, 0]);
  return {
    kernel,
    stride: pair(o.stride, kernel),
    padding: pair(o.padding, [0, 0]),
    ceilMode: o.ceilMode ?? false,
    countIncludePad: o.countIncludePad ?? true,
  };
}

const maxOptions = ({ countIncludePad: _, ...rest }: AvgPool2dOptions) => rest;

describe.each(testDevices)('pooling on %s', (device) => {
  const t = (v: ArrayLike<number>, shape: readonly number[]) => tensor(v, shape, { device });

  it.each(cases)('output shape of $shape with $options', ({ shape, options }) => {
    expect(pool2dOutputShape(shape, options)).toEqual(poolShapeRef(shape, params(options)));
  });

  it('output shapes follow PyTorch in ceil mode', () => {
    // torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True) on 7×9 → 4×5; on 112×112 (floor) → 56×56
    expect(pool2dOutputShape([1, 1, 7, 9], { kernel: 3, stride: 2, padding: 1, ceilMode: true })).toEqual([1, 1, 4, 5]);
    expect(pool2dOutputShape([1, 1, 112, 112], { kernel: 3, stride: 2, padding: 1 })).toEqual([1, 1, 56, 56]);
    // the last window would start in the right padding: dropped (6 + 2 - 2 = 6, ceil(6/4)+1 = 3 → 2)
    expect(pool2dOutputShape([1, 1, 6, 6], { kernel: 2, stride: 4, padding: 1, ceilMode: true })).toEqual([1, 1, 2, 2]);
  });

  it.each(cases)('max pool forward and backward $shape $options', async ({ shape, options }) => {
    const p = params(options);
    const x = asF32(randn(size(shape), 10 + size(shape)));
    const { y, indices } = await maxPool2d(t(x, shape), maxOptions(options));
    const ref = maxPoolRef(x, shape, p);
    expect(y.shape).toEqual(poolShapeRef(shape, p));
    expect(indices.dtype).toBe('int32');
    expectClose(await values(y), ref.y, { what: 'max pool y' });
    expect(Array.from(await values(indices))).toEqual(Array.from(ref.indices));

    const dy = asF32(randn(ref.y.length, 20 + size(shape)));
    const dx = await maxPool2dBackward(t(dy, y.shape), indices, shape, maxOptions(options));
    expectClose(await values(dx), maxPoolBackwardRef(dy, ref.indices, shape), { what: 'max pool dx' });
  });

  it('max pool ignores padding even when every input is negative', async () => {
    const shape = [1, 1, 3, 3];
    const x = [-9, -8, -7, -6, -5, -4, -3, -2, -1];
    const { y, indices } = await maxPool2d(t(x, shape), { kernel: 2, stride: 2, padding: 1 });
    expect(Array.from(await values(y))).toEqual([-9, -7, -3, -1]);
    expect(Array.from(await values(indices))).toEqual([0, 2, 6, 8]);
  });

  it.each(cases)('avg pool forward and backward $shape $options', async ({ shape, options }) => {
    const p = params(options);
    const x = asF32(randn(size(shape), 30 + size(shape)));
    const y = await avgPool2d(t(x, shape), options);
    const ref = avgPoolRef(x, shape, p);
    expect(y.shape).toEqual(poolShapeRef(shape, p));
    expectClose(await values(y), ref, { what: 'avg pool y' });

    const dy = asF32(randn(ref.length, 40 + size(shape)));
    const dx = await avgPool2dBackward(t(dy, y.shape), shape, options);
    expectClose(await values(dx), avgPoolBackwardRef(dy, shape, p), { what: 'avg pool dx' });
  });

  it.each(cases)('reference avg pool backward $shape $options matches finite differences', ({ shape, options }) => {
    const p = params(options);
    const x = randn(size(shape), 50 + size(shape));
    const r = randn(size(poolShapeRef(shape, p)), 60 + size(shape));
    const analytic = avgPoolBackwardRef(r, shape, p);
    const indices = spotIndices(x.length, 16, size(shape));
    const numeric = numericGradient((v) => dot(avgPoolRef(v, shape, p), r), x, 1e-6, indices);
    expectClose(
      indices.map((i) => analytic[i]),
      indices.map((i) => numeric.get(i) as number),
      { what: 'd/dx', rtol: 1e-5, atol: 1e-7 },
    );
  });

  it.each([[[1, 3, 7, 9]], [[4, 5, 1, 1]], [[2, 16, 8, 8]]])('global avg pool %j', async (shape: number[]) => {
    const x = asF32(randn(size(shape), 70 + size(shape)));
    const y = await globalAvgPool(t(x, shape));
    expect(y.shape).toEqual([shape[0], shape[1]]);
    expectClose(await values(y), globalAvgPoolRef(x, shape), { what: 'global avg pool y' });
    const dy = asF32(randn(shape[0] * shape[1], 80 + size(shape)));
    const dx = await globalAvgPoolBackward(t(dy, y.shape), shape);
    expectClose(await values(dx), globalAvgPoolBackwardRef(dy, shape), { what: 'global avg pool dx' });
  });

  describe('bad inputs', () => {
    const shape = [2, 3, 7, 9];
    const x = asF32(randn(size(shape), 90));

    async function validCallWorks(): Promise<void> {
      const options = { kernel: 3, stride: 2, padding: 1 };
      const y = await avgPool2d(t(x, shape), options);
      expectClose(await values(y), avgPoolRef(x, shape, params(options)), { what: 'avg pool after an error' });
    }

    it('rejects padding over half the kernel and windows larger than the padded input', async () => {
      await expectError(maxPool2d(t(x, shape), { kernel: 3, padding: 2 }), 'RN_INVALID_ARGUMENT', ['maxPool2d', 'padding', '[3,3]', '[2,2]']);
      await expectError(avgPool2d(t(x, shape), { kernel: [9, 3] }), 'RN_SHAPE_MISMATCH', ['avgPool2d', '[9,3]', '[2,3,7,9]']);
      expectThrows(() => pool2dOutputShape([1, 1, 2, 2], { kernel: 5, padding: 1 }), 'RN_SHAPE_MISMATCH', [
        'pool2dOutputShape',
        '[5,5]',
        '[1,1,2,2]',
      ]);
      await validCallWorks();
    });

    it('rejects unknown option keys, bad sizes and wrong dtypes', async () => {
      await expectError(maxPool2d(t(x, shape), { kernel: 2, countIncludePad: true } as never), 'RN_UNKNOWN_ATTRIBUTE', [
        'maxPool2d',
        'countIncludePad',
      ]);
      await expectError(avgPool2d(t(x, shape), { kernel: 2, dilation: 2 } as never), 'RN_UNKNOWN_ATTRIBUTE', ['avgPool2d', 'dilation']);
      await expectError(avgPool2d(t(x, shape), { kernel: 0 }), 'RN_INVALID_ARGUMENT', ['avgPool2d', 'kernel']);
      await expectError(avgPool2d(t(x, shape), { kernel: 2, ceilMode: 1 } as never), 'RN_INVALID_ARGUMENT', ['avgPool2d', 'ceilMode']);
      await expectError(maxPool2d(t(x, shape), undefined as never), 'RN_INVALID_ARGUMENT', ['maxPool2d', 'options']);
      await expectError(
        maxPool2d(tensor(x, shape, { device, dtype: 'int32' }), { kernel: 2 }),
        'RN_DTYPE_MISMATCH',
        ['maxPool2d', 'int32', '[2,3,7,9]'],
      );
      await expectError(globalAvgPool(t(x, [2, 3, 63])), 'RN_SHAPE_MISMATCH', ['globalAvgPool', 'rank-4', '[2,3,63]']);
      await validCallWorks();
    });

    it('rejects gradients whose shape does not match the forward', async () => {
      const options = { kernel: 3, stride: 2, padding: 1 };
      const { y, indices } = await maxPool2d(t(x, shape), options);
      await expectError(maxPool2dBackward(y, indices, [2, 3, 9, 9], options), 'RN_SHAPE_MISMATCH', [
        'maxPool2dBackward',
        'dy',
        '[2,3,4,5]',
        '[2,3,5,5]',
      ]);
      await expectError(maxPool2dBackward(y, y, shape, options), 'RN_DTYPE_MISMATCH', ['maxPool2dBackward', 'indices', 'float32']);
      await expectError(avgPool2dBackward(y, [2, 3, 7, 7], options), 'RN_SHAPE_MISMATCH', ['avgPool2dBackward', '[2,3,4,4]', '[2,3,4,5]']);
      await expectError(globalAvgPoolBackward(t([1, 2, 3], [1, 3]), shape), 'RN_SHAPE_MISMATCH', [
        'globalAvgPoolBackward',
        '[2,3]',
        '[1,3]',
      ]);
      await validCallWorks();
    });

    it('the native kernels check attributes, shapes and indices themselves', async () => {
      const { y, indices } = await maxPool2d(t(x, shape), { kernel: 2 });
      await expectError(runOp('maxpool2d_backward', [y, indices], [{ shape }], { kernel: [2, 2] }), 'RN_UNKNOWN_ATTRIBUTE', [
        'maxpool2d_backward',
        'kernel',
      ]);
      await expectError(
        runOp('avgpool2d_forward', [t(x, shape)], [{ shape: [2, 3, 3, 3] }], { kernel: [2, 2] }),
        'RN_SHAPE_MISMATCH',
        ['avgpool2d_forward', '[2,3,3,4]', '[2,3,3,3]'],
      );
      await expectError(
        runOp('avgpool2d_forward', [t(x, shape)], [{ shape: [2, 3, 3, 4] }], { kernel: [2, 2], padding: [2, 2] }),
        'RN_INVALID_ARGUMENT',
        ['avgpool2d_forward', 'padding', '[2,3,7,9]'],
      );
      const bad = tensor(Array.from({ length: y.shape.reduce((a, b) => a * b, 1) }, () => 63), y.shape, { device, dtype: 'int32' });
      await expectError(runOp('maxpool2d_backward', [y, bad], [{ shape }]), 'RN_INVALID_ARGUMENT', ['maxpool2d_backward', '63-element']);
      await validCallWorks();
    });
  });
});
