// Channel concatenation and its backward against float64 references and finite differences.
import { describe, expect, it } from 'vitest';

import { concat, concatBackward } from '../../lib/ops/concat.js';
import { ResnetError } from '../../lib/runtime/errors.js';
import { concatBackwardRef, concatRef } from '../reference/misc.js';
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

// [N, channels of each part, inner dims]
const cases: [number, number[], number[]][] = [
  [1, [3], [2, 2]],
  [2, [1, 1], [1, 1]],
  [3, [5, 2, 7], [4, 3]],
  [4, [16, 16], [8, 8]],
  [2, [3, 5], []], // rank 2: [N, C]
  [1, [2, 3, 1, 4], [5, 7]],
  [8, [16, 16], [16, 16]], // large enough for the threaded copy
];

describe.each(testDevices)('concat on %s', (device) => {
  it.each(cases)('forward and backward N=%i channels=%j inner=%j', async (n, channels, innerDims) => {
    const inner = size(innerDims);
    const parts = channels.map((c, i) => asF32(randn(n * c * inner, 100 + i * 7 + c)));
    const tparts = parts.map((p, i) => tensor(p, [n, channels[i], ...innerDims], { device }));
    const total = channels.reduce((a, b) => a + b, 0);
    const y = await concat(tparts);
    expect(y.shape).toEqual([n, total, ...innerDims]);
    expect(Array.from(await values(y))).toEqual(Array.from(concatRef(parts, channels, n, inner))); // exact: a copy

    const dy = asF32(randn(n * total * inner, 200 + total));
    const grads = await concatBackward(tensor(dy, y.shape, { device }), channels);
    expect(grads.length).toBe(channels.length);
    const ref = concatBackwardRef(dy, channels, n, inner);
    for (const [i, g] of grads.entries()) {
      expect(g.shape).toEqual([n, channels[i], ...innerDims]);
      expect(Array.from(await values(g)), `concat backward part ${i}`).toEqual(Array.from(ref[i]));
    }
  });

  it('reference backward matches finite differences of Σ y·dy for every part', () => {
    const channels = [2, 3];
    const n = 2;
    const inner = 3;
    const parts = channels.map((c, i) => randn(n * c * inner, 300 + i));
    const r = randn(n * 5 * inner, 310);
    const analytic = concatBackwardRef(r, channels, n, inner);
    parts.forEach((point, q) => {
      const f = (v: Float64Array) => dot(concatRef(parts.map((p, j) => (j === q ? v : p)), channels, n, inner), r);
      for (const [i, g] of numericGradient(f, point, 1e-6)) expect(analytic[q][i]).toBeCloseTo(g, 6);
    });
  });

  it('rejects bad inputs naming the op and shapes, then still works', async () => {
    const a = tensor(randn(24, 1), [2, 3, 2, 2], { device });
    const b = tensor(randn(16, 2), [2, 2, 2, 2], { device });
    const bad = tensor(randn(24, 3), [2, 2, 3, 2], { device });
    await expectRejects(concat([a, bad]), 'RN_SHAPE_MISMATCH', 'concat:', 'parts[1]', '[2,2,3,2]', '[2,3,2,2]');
    await expectRejects(concat([a, tensor(randn(4, 4), [2, 2], { device })]), 'RN_SHAPE_MISMATCH', 'concat:', '[2,2]');
    await expectRejects(concat([]), 'RN_INVALID_ARGUMENT', 'concat:', 'parts');
    await expectRejects(concat([a, tensor(randn(16, 2), [2, 2, 2, 2], { device, dtype: 'int32' })]), 'RN_DTYPE_MISMATCH', 'concat:', 'int32', '[2,2,2,2]');
    const dy = tensor(randn(40, 5), [2, 5, 2, 2], { device });
    await expectRejects(concatBackward(dy, [3, 3]), 'RN_SHAPE_MISMATCH', 'concatBackward:', '[3,3]', 'float32[2,5,2,2]');
    await expectRejects(concatBackward(dy, [5, 0]), 'RN_INVALID_ARGUMENT', 'concatBackward:', 'channelCounts[1]');
    const gone = tensor(randn(16, 6), [2, 2, 2, 2], { device });
    gone.dispose();
    await expectRejects(concat([a, gone]), 'RN_DISPOSED', 'concat:', 'float32[2,2,2,2]');
    const y = await concat([a, b]);
    expect(y.shape).toEqual([2, 5, 2, 2]);
    const [da, db] = await concatBackward(y, [3, 2]);
    expect(Array.from(await values(da))).toEqual(Array.from(await values(a)));
    expect(Array.from(await values(db))).toEqual(Array.from(await values(b)));
  });
});
