// Dropout: keep rate, scaling, determinism per seed, the backward through the mask, and bad inputs.
import { describe, expect, it } from 'vitest';

import { dropout, dropoutBackward } from '../../lib/ops/dropout.js';
import { native } from '../../lib/runtime/native.js';
import { ResnetError } from '../../lib/runtime/errors.js';
import { dropoutRef } from '../reference/misc.js';
import { expectClose } from '../util/check.js';
import { asF32, randn } from '../util/random.js';
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

describe.each(testDevices)('dropout on %s', (device) => {
  it.each([0, 0.1, 0.5, 0.9])('p=%d keeps ≈ 1-p of 100k elements, scaled by 1/(1-p)', async (p) => {
    const n = 100_000;
    const x = asF32(randn(n, 5));
    const { y, mask } = await dropout(tensor(x, [100, 1000], { device }), { p, seed: 1234 });
    expect(y.shape).toEqual([100, 1000]);
    expect(mask.shape).toEqual([100, 1000]);
    expect(mask.dtype).toBe('uint8');
    const m = (await mask.toArray()) as Uint8Array;
    let kept = 0;
    let invalid = 0;
    for (const v of m) {
      kept += v;
      invalid += v === 0 || v === 1 ? 0 : 1;
    }
    expect(invalid).toBe(0);
    // Binomial: 5 standard deviations (0 when p = 0).
    const sd = Math.sqrt(n * p * (1 - p));
    expect(Math.abs(kept - n * (1 - p))).toBeLessThanOrEqual(5 * sd + 1e-9);
    expectClose(await values(y), dropoutRef(x, m, p), { what: `dropout p=${p}` });
  });

  it('is deterministic for a seed, differs across seeds, and does not depend on the thread count', async () => {
    const x = tensor(asF32(randn(4099, 6)), [4099], { device });
    const first = (await (await dropout(x, { p: 0.5, seed: 42 })).mask.toArray()) as Uint8Array;
    const again = (await (await dropout(x, { p: 0.5, seed: 42n })).mask.toArray()) as Uint8Array;
    expect(Array.from(again)).toEqual(Array.from(first));
    const other = (await (await dropout(x, { p: 0.5, seed: 43 })).mask.toArray()) as Uint8Array;
    let differ = 0;
    for (let i = 0; i < first.length; i++) differ += first[i] !== other[i] ? 1 : 0;
    expect(differ).toBeGreaterThan(first.length / 4);
    // Negative and 64-bit seeds are accepted.
    expect((await dropout(x, { p: 0.5, seed: -(2n ** 63n) })).mask.shape).toEqual([4099]);
    const addon = native();
    const before = addon.cpuInfo().threads;
    expect(before).toBeGreaterThanOrEqual(1);
    try {
      addon.setNumThreads(1);
      const single = (await (await dropout(x, { p: 0.5, seed: 42 })).mask.toArray()) as Uint8Array;
      expect(Array.from(single)).toEqual(Array.from(first));
    } finally {
      addon.setNumThreads(before);
    }
    // A prefix of a larger tensor gets the same mask: each element depends only on (seed, index).
    const big = tensor(asF32(randn(10_000, 7)), [10_000], { device });
    const bigMask = (await (await dropout(big, { p: 0.5, seed: 42 })).mask.toArray()) as Uint8Array;
    expect(Array.from(bigMask.slice(0, 4099))).toEqual(Array.from(first));
  });

  it('backward scales dy through the mask', async () => {
    for (const p of [0, 0.3]) {
      const shape = [3, 5, 7];
      const n = 105;
      const x = tensor(asF32(randn(n, 8)), shape, { device });
      const { mask } = await dropout(x, { p, seed: 99 });
      const dy = asF32(randn(n, 9));
      const dx = await dropoutBackward(tensor(dy, shape, { device }), mask, { p });
      expect(dx.shape).toEqual(shape);
      const m = (await mask.toArray()) as Uint8Array;
      expectClose(await values(dx), dropoutRef(dy, m, p), { what: `dropout backward p=${p}` });
      // The mask really dropped something, so the check above exercises both branches.
      if (p > 0) expect(Array.from(m)).toContain(0);
    }
  });

  it('rejects bad inputs naming the op and shapes, then still works', async () => {
    const x = tensor(randn(24, 1), [2, 3, 4], { device });
    await expectRejects(dropout(x, { p: 1, seed: 1 }), 'RN_INVALID_ARGUMENT', 'dropout:', 'p', '1');
    await expectRejects(dropout(x, { p: -0.1, seed: 1 }), 'RN_INVALID_ARGUMENT', 'dropout:', 'p');
    await expectRejects(dropout(x, { p: 0.5, seed: 1.5 }), 'RN_INVALID_ARGUMENT', 'dropout:', 'seed');
    await expectRejects(dropout(x, { p: 0.5, seed: 2n ** 63n }), 'RN_INVALID_ARGUMENT', 'dropout:', 'seed');
    await expectRejects(dropout(x, { p: 0.5, seed: 1, train: true } as never), 'RN_UNKNOWN_ATTRIBUTE', 'dropout:', "'train'");
    await expectRejects(dropout(tensor([1, 2], [2], { device, dtype: 'int32' }), { p: 0.5, seed: 1 }), 'RN_DTYPE_MISMATCH', 'dropout:', 'int32', '[2]');
    const { y, mask } = await dropout(x, { p: 0.5, seed: 7 });
    await expectRejects(dropoutBackward(y, x, { p: 0.5 }), 'RN_DTYPE_MISMATCH', 'dropoutBackward:', 'uint8', 'float32', '[2,3,4]');
    const mask2 = tensor(Array(6).fill(1), [2, 3], { device, dtype: 'uint8' });
    await expectRejects(dropoutBackward(y, mask2, { p: 0.5 }), 'RN_SHAPE_MISMATCH', 'dropoutBackward:', '[2,3]', '[2,3,4]');
    const gone = tensor(randn(24, 2), [2, 3, 4], { device });
    gone.dispose();
    await expectRejects(dropout(gone, { p: 0.5, seed: 1 }), 'RN_DISPOSED', 'dropout:', 'float32[2,3,4]');
    const dx = await dropoutBackward(y, mask, { p: 0.5 });
    expectClose(await values(dx), dropoutRef(await values(y), (await mask.toArray()) as Uint8Array, 0.5), { what: 'dropout backward after errors' });
  });
});
