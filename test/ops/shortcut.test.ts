// Shortcut type A (strided subsampling + zero channels) against float64 references and finite differences.
import { describe, expect, it } from 'vitest';

import { shortcutA, shortcutABackward } from '../../lib/ops/shortcut.js';
import { ResnetError } from '../../lib/runtime/errors.js';
import { shortcutABackwardRef, shortcutARef, shortcutOutShape, type ShortcutShape } from '../reference/misc.js';
import { dot, numericGradient } from '../util/check.js';
import { asF32, randn, size } from '../util/random.js';
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

const cases: ShortcutShape[] = [
  { n: 1, c: 1, h: 1, w: 1, cOut: 1, stride: 1 },
  { n: 2, c: 16, h: 8, w: 8, cOut: 32, stride: 2 }, // the CIFAR stage transition
  { n: 3, c: 5, h: 7, w: 9, cOut: 10, stride: 2 }, // odd, non-square: ceil(7/2)=4, ceil(9/2)=5
  { n: 1, c: 3, h: 5, w: 4, cOut: 7, stride: 3 },
  { n: 2, c: 4, h: 6, w: 5, cOut: 4, stride: 1 }, // identity
  { n: 2, c: 3, h: 2, w: 3, cOut: 5, stride: 4 }, // stride larger than the image: one sample per plane
];

describe.each(testDevices)('shortcut A on %s', (device) => {
  it.each(cases)('forward and backward %j', async (s) => {
    const inShape = [s.n, s.c, s.h, s.w];
    const outShape = shortcutOutShape(s);
    const x = asF32(randn(size(inShape), s.n * 100 + s.c * 10 + s.h));
    const y = await shortcutA(tensor(x, inShape, { device }), { stride: s.stride, outChannels: s.cOut });
    expect(y.shape).toEqual(outShape);
    expect(Array.from(await values(y))).toEqual(Array.from(shortcutARef(x, s)));

    const dy = asF32(randn(size(outShape), 7 + s.w));
    const dx = await shortcutABackward(tensor(dy, outShape, { device }), inShape, { stride: s.stride });
    expect(dx.shape).toEqual(inShape);
    expect(Array.from(await values(dx))).toEqual(Array.from(shortcutABackwardRef(dy, s)));
  });

  it('reference backward matches finite differences of Σ y·dy', () => {
    for (const s of [cases[2], cases[3]]) {
      const x = randn(size([s.n, s.c, s.h, s.w]), 401);
      const r = randn(size(shortcutOutShape(s)), 402);
      const analytic = shortcutABackwardRef(r, s);
      for (const [i, g] of numericGradient((v) => dot(shortcutARef(v, s), r), x, 1e-6)) expect(analytic[i]).toBeCloseTo(g, 6);
    }
  });

  it('padding channels are zero and the sampled grid starts at (0, 0)', async () => {
    const x = Array.from({ length: 16 }, (_, i) => i + 1); // [1,1,4,4]
    const y = await values(await shortcutA(tensor(x, [1, 1, 4, 4], { device }), { stride: 2, outChannels: 2 }));
    expect(Array.from(y)).toEqual([1, 3, 9, 11, 0, 0, 0, 0]);
  });

  it('rejects bad inputs naming the op and shapes, then still works', async () => {
    const x = tensor(randn(2 * 4 * 5 * 5, 1), [2, 4, 5, 5], { device });
    await expectRejects(shortcutA(x, { stride: 2, outChannels: 3 }), 'RN_SHAPE_MISMATCH', 'shortcutA:', 'float32[2,4,5,5]');
    await expectRejects(shortcutA(x, { stride: 0, outChannels: 8 }), 'RN_INVALID_ARGUMENT', 'shortcutA:', 'stride');
    await expectRejects(shortcutA(x, { stride: 2, outChannels: 8, pad: 1 } as never), 'RN_UNKNOWN_ATTRIBUTE', 'shortcutA:', "'pad'");
    await expectRejects(shortcutA(tensor(randn(8, 2), [2, 4], { device }), { stride: 2, outChannels: 8 }), 'RN_SHAPE_MISMATCH', 'shortcutA:', 'rank-4', '[2,4]');
    await expectRejects(
      shortcutA(tensor(Array(100).fill(1), [1, 4, 5, 5], { device, dtype: 'int32' }), { stride: 2, outChannels: 8 }),
      'RN_DTYPE_MISMATCH',
      'shortcutA:',
      'int32',
      '[1,4,5,5]',
    );
    const dy = tensor(randn(2 * 8 * 3 * 3, 3), [2, 8, 3, 3], { device });
    await expectRejects(shortcutABackward(dy, [2, 4, 7, 7], { stride: 2 }), 'RN_SHAPE_MISMATCH', 'shortcutABackward:', '[2,4,7,7]', 'float32[2,8,3,3]');
    await expectRejects(shortcutABackward(dy, [2, 9, 5, 5], { stride: 2 }), 'RN_SHAPE_MISMATCH', 'shortcutABackward:', '[2,9,5,5]');
    await expectRejects(shortcutABackward(dy, [2, 4, 5, 5], { stride: 2, outChannels: 8 } as never), 'RN_UNKNOWN_ATTRIBUTE', 'shortcutABackward:');
    const gone = tensor(randn(100, 4), [1, 4, 5, 5], { device });
    gone.dispose();
    await expectRejects(shortcutA(gone, { stride: 2, outChannels: 8 }), 'RN_DISPOSED', 'shortcutA:', 'float32[1,4,5,5]');
    const y = await shortcutA(x, { stride: 2, outChannels: 8 });
    expect(y.shape).toEqual([2, 8, 3, 3]);
    const dx = await shortcutABackward(dy, [2, 4, 5, 5], { stride: 2 });
    expect(dx.shape).toEqual([2, 4, 5, 5]);
  });
});
