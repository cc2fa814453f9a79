// Fully connected forward, backward data and backward weights against float64 references and finite differences.
import { describe, expect, it } from 'vitest';

import { linear, linearBackwardData, linearBackwardWeights } from '../../lib/ops/linear.js';
import { ResnetError } from '../../lib/runtime/errors.js';
import { linearBackwardDataRef, linearBackwardWeightsRef, linearRef, type LinearDims } from '../reference/linear.js';
import { dot, expectClose, numericGradient, sampleIndices } from '../util/check.js';
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

// [N, in, out, bias]
const cases: [number, number, number, boolean][] = [
  [1, 1, 1, true],
  [3, 5, 7, true],
  [2, 17, 1, false],
  [16, 33, 9, false],
  [128, 64, 10, true],
  [5, 40, 100, true],
];

describe.each(testDevices)('linear on %s', (device) => {
  it.each(cases)('forward and backward N=%i in=%i out=%i bias=%s', async (n, inF, outF, bias) => {
    const d: LinearDims = { n, inF, outF };
    const seed = n * 1000 + inF * 10 + outF;
    const x = asF32(randn(n * inF, seed));
    const w = asF32(randn(outF * inF, seed + 1, 1 / Math.sqrt(inF)));
    const b = bias ? asF32(randn(outF, seed + 2)) : undefined;
    const dy = asF32(randn(n * outF, seed + 3));
    const tx = tensor(x, [n, inF], { device });
    const tw = tensor(w, [outF, inF], { device });
    const tb = b ? tensor(b, [outF], { device }) : undefined;

    const y = await linear(tx, tw, tb);
    expect(y.shape).toEqual([n, outF]);
    expectClose(await values(y), linearRef(x, w, b, d), { what: 'linear forward' });

    const tdy = tensor(dy, [n, outF], { device });
    const dx = await linearBackwardData(tdy, tw);
    expect(dx.shape).toEqual([n, inF]);
    expectClose(await values(dx), linearBackwardDataRef(dy, w, d), { what: 'linear backward data' });

    const ref = linearBackwardWeightsRef(x, dy, d);
    const grads = await linearBackwardWeights(tx, tdy, { bias });
    expect(grads.dw.shape).toEqual([outF, inF]);
    expectClose(await values(grads.dw), ref.dw, { what: 'linear backward weights' });
    if (bias) {
      expect(grads.db!.shape).toEqual([outF]);
      expectClose(await values(grads.db!), ref.db, { what: 'linear backward bias' });
    } else {
      expect(grads.db).toBeUndefined();
    }
    for (const t of [tx, tw, tdy, y, dx, grads.dw, grads.db, tb]) t?.dispose();
  });

  it('reference backward matches finite differences of Σ y·dy for x, w and b', () => {
    const d: LinearDims = { n: 3, inF: 5, outF: 4 };
    const x = randn(15, 31);
    const w = randn(20, 32);
    const b = randn(4, 33);
    const r = randn(12, 34);
    const dx = linearBackwardDataRef(r, w, d);
    const { dw, db } = linearBackwardWeightsRef(x, r, d);
    const checks: [Float64Array, Float64Array, (v: Float64Array) => number][] = [
      [x, dx, (v) => dot(linearRef(v, w, b, d), r)],
      [w, dw, (v) => dot(linearRef(x, v, b, d), r)],
      [b, db, (v) => dot(linearRef(x, w, v, d), r)],
    ];
    for (const [point, analytic, f] of checks) {
      const fd = numericGradient(f, point, 1e-6);
      expect(fd.size).toBe(point.length);
      for (const [i, g] of fd) expect(analytic[i]).toBeCloseTo(g, 6);
    }
  });

  it('forward at the ImageNet classifier size 16x2048→1000 (200 sampled outputs)', async () => {
    const d: LinearDims = { n: 16, inF: 2048, outF: 1000 };
    const x = asF32(randn(d.n * d.inF, 41));
    const w = asF32(randn(d.outF * d.inF, 42, 0.02));
    const b = asF32(randn(d.outF, 43));
    const y = await values(await linear(tensor(x, [16, 2048], { device }), tensor(w, [1000, 2048], { device }), tensor(b, [1000], { device })));
    const ref = linearRef(x, w, b, d);
    const at = sampleIndices(y.length, 200, 5);
    expectClose(at.map((i) => y[i]), at.map((i) => ref[i]), { what: 'linear 16x2048→1000', rtol: 1e-4, atol: 1e-4 });
  });

  it('rejects bad inputs naming the op and shapes, then still works', async () => {
    const x = tensor(randn(6, 1), [2, 3], { device });
    const w = tensor(randn(12, 2), [4, 3], { device });
    const wBad = tensor(randn(8, 3), [4, 2], { device });
    const bBad = tensor(randn(5, 4), [5], { device });
    await expectRejects(linear(x, wBad), 'RN_SHAPE_MISMATCH', 'linear:', '[4,2]', '[2,3]');
    await expectRejects(linear(x, w, bBad), 'RN_SHAPE_MISMATCH', 'linear:', 'float32[5]', '[4,3]');
    await expectRejects(linear(tensor([1, 2, 3], [3], { device }), w), 'RN_SHAPE_MISMATCH', 'linear:', 'rank-2', '[3]');
    const xInt = tensor([1, 2, 3, 4, 5, 6], [2, 3], { device, dtype: 'int32' });
    await expectRejects(linear(xInt, w), 'RN_DTYPE_MISMATCH', 'linear:', 'float32', 'int32', '[2,3]');
    const dyBad = tensor(randn(12, 5), [3, 4], { device });
    await expectRejects(linearBackwardWeights(x, dyBad, { bias: true }), 'RN_SHAPE_MISMATCH', 'linearBackwardWeights:', '[3,4]', '[2,3]');
    const dyOdd = tensor(randn(15, 5), [3, 5], { device });
    await expectRejects(linearBackwardData(dyOdd, w), 'RN_SHAPE_MISMATCH', 'linearBackwardData:', '[4,3]', '[3,5]');
    const dy = tensor(randn(8, 6), [2, 4], { device });
    await expectRejects(
      linearBackwardWeights(x, dy, { bias: true, scale: 2 } as never),
      'RN_UNKNOWN_ATTRIBUTE',
      'linearBackwardWeights:',
      "'scale'",
    );
    await expectRejects(linearBackwardWeights(x, dy, {} as never), 'RN_INVALID_ARGUMENT', 'linearBackwardWeights:', 'bias');
    const gone = tensor(randn(6, 7), [2, 3], { device });
    gone.dispose();
    await expectRejects(linear(gone, w), 'RN_DISPOSED', 'linear:', 'float32[2,3]');
    // A valid call after the failures.
    const y = await linear(x, w);
    expectClose(await values(y), linearRef(await values(x), await values(w), undefined, { n: 2, inF: 3, outF: 4 }), { what: 'linear after errors' });
    const { dw, db } = await linearBackwardWeights(x, dy, { bias: true });
    expect(dw.shape).toEqual([4, 3]);
    expect(db!.shape).toEqual([4]);
  });

  it('the native kernel rejects inconsistent shapes on its own', async () => {
    const { runOp } = await import('../../lib/ops/eager.js');
    const x = tensor(randn(6, 1), [2, 3], { device });
    const w = tensor(randn(8, 2), [4, 2], { device });
    await expectRejects(runOp('linear_forward', [x, w], [{ shape: [2, 4] }]), 'RN_SHAPE_MISMATCH', 'linear_forward', '[4,3]', '[4,2]');
    await expectRejects(runOp('linear_forward', [x, tensor(randn(12, 2), [4, 3], { device })], [{ shape: [2, 4] }], { alpha: 2 }), 'RN_UNKNOWN_ATTRIBUTE', 'linear_forward', 'alpha');
  });
});
