// conv2d forward, backward data and backward weights against the float64 reference, on every available device.
import { describe, expect, it } from 'vitest';

import { clearEagerCache, runOp } from '../../lib/ops/eager.js';
import { conv2d, conv2dBackwardData, conv2dBackwardWeights, conv2dOutputShape } from '../../lib/ops/conv2d.js';
import { ResnetError } from '../../lib/runtime/errors.js';
import { native } from '../../lib/runtime/native.js';
import { Tensor } from '../../lib/runtime/tensor.js';
import {
  type ConvShapes,
  conv2dBackwardDataRef,
  conv2dBackwardWeightsRef,
  conv2dRef,
  outputShape,
} from '../reference/conv2d.js';
import { dot, expectClose, numericGradient, sampleIndices } from '../util/check.js';
import { asF32, randn, size } from '../util/random.js';
import { tensor, testDevices, values } from '../util/tensors.js';

interface Case {
  name: string;
  x: number[];
  w: number[];
  stride?: [number, number];
  padding?: [number, number];
  dilation?: [number, number];
  bias: boolean;
}

const cases: Case[] = [
  { name: 'batch 1, 3→5 channels, 7x9, 3x3 pad 1, bias', x: [1, 3, 7, 9], w: [5, 3, 3, 3], padding: [1, 1], bias: true },
  { name: 'stride 2, pad 0', x: [2, 4, 8, 8], w: [6, 4, 3, 3], stride: [2, 2], bias: false },
  { name: '7x7 stride 2 pad 3 (stem), bias', x: [2, 3, 9, 7], w: [4, 3, 7, 7], stride: [2, 2], padding: [3, 3], bias: true },
  { name: '1x1', x: [3, 5, 6, 5], w: [3, 5, 1, 1], bias: false },
  { name: '1x1 stride 2 (shortcut)', x: [2, 2, 7, 9], w: [3, 2, 1, 1], stride: [2, 2], bias: false },
  { name: 'dilation 2 pad 2, bias', x: [2, 3, 9, 9], w: [2, 3, 3, 3], padding: [2, 2], dilation: [2, 2], bias: true },
  { name: '3x2 kernel, stride [1,2], pad [1,0]', x: [2, 3, 7, 9], w: [4, 3, 3, 2], stride: [1, 2], padding: [1, 0], bias: true },
  { name: '16→32 channels (blocked layouts), pad 1', x: [2, 16, 10, 10], w: [32, 16, 3, 3], padding: [1, 1], bias: false },
  { name: '17→33 channels (partial blocks), stride 2 pad 1', x: [2, 17, 9, 9], w: [33, 17, 3, 3], stride: [2, 2], padding: [1, 1], bias: true },
  { name: '32→32 3x3 pad 1 (Winograd)', x: [2, 32, 10, 10], w: [32, 32, 3, 3], padding: [1, 1], bias: true },
];

// Large enough per image that the CPU kernel splits the batch into one-image chunks run by several lanes.
const chunked: Case = { name: 'batch split into chunks', x: [4, 16, 72, 72], w: [16, 16, 3, 3], padding: [1, 1], bias: true };

function shapesOf(c: Case): ConvShapes {
  return { x: c.x, w: c.w, stride: c.stride ?? [1, 1], padding: c.padding ?? [0, 0], dilation: c.dilation ?? [1, 1] };
}

function geometry(c: Case) {
  return { stride: c.stride, padding: c.padding, dilation: c.dilation };
}

/** Checks that `promise` rejects with a ResnetError of `code` whose message contains every fragment. */
async function expectError(promise: Promise<unknown>, code: string, fragments: string[]): Promise<void> {
  const error = await promise.then(
    () => expect.fail('expected an error'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Error);
  expect((error as ResnetError).code, (error as Error).message).toBe(code);
  for (const f of fragments) expect((error as Error).message).toContain(f);
}

describe('conv2d float64 reference', () => {
  it.each(cases)('backward matches finite differences of Σ conv(x, w)·r: $name', (c) => {
    const s = shapesOf(c);
    const yShape = outputShape(s);
    const x = randn(size(c.x), 1);
    const w = randn(size(c.w), 2);
    const b = randn(c.w[0], 3);
    const r = randn(size(yShape), 4);
    const dx = conv2dBackwardDataRef(s, r, w);
    const { dw, db } = conv2dBackwardWeightsRef(s, x, r);
    const check = (analytic: Float64Array, f: (v: Float64Array) => number, at: Float64Array, what: string) => {
      const indices = sampleIndices(at.length, 6);
      const numeric = numericGradient(f, at, 1e-6, indices);
      expectClose(
        indices.map((i) => analytic[i]),
        indices.map((i) => numeric.get(i)!),
        { rtol: 1e-6, atol: 1e-6, what },
      );
    };
    check(dx, (v) => dot(conv2dRef(s, v, w, b), r), x, 'dx');
    check(dw, (v) => dot(conv2dRef(s, x, v, b), r), w, 'dw');
    check(db, (v) => dot(conv2dRef(s, x, w, v), r), b, 'db');
  });
});

/**
 * Float32 results against the float64 reference. Each output element is a sum of many products, so its
 * rounding error scales with the magnitude of the terms, not of the (possibly cancelling) sum: the absolute
 * tolerance grows with the largest reference element.
 */
function expectNear(actual: ArrayLike<number>, wanted: Float64Array, what: string): void {
  const largest = wanted.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expectClose(actual, wanted, { rtol: 1e-4, atol: 1e-4 + 1e-5 * largest, what });
}

describe.each(testDevices)('conv2d on %s', (device) => {

  async function checkAllDirections(c: Case): Promise<void> {
    const s = shapesOf(c);
    const yShape = outputShape(s);
    expect(conv2dOutputShape(c.x, c.w, geometry(c))).toEqual(yShape);
    const x = asF32(randn(size(c.x), 11));
    const w = asF32(randn(size(c.w), 12, 0.5));
    const b = asF32(randn(c.w[0], 13));
    const dy = asF32(randn(size(yShape), 14));
    const tx = tensor(x, c.x, { device });
    const tw = tensor(w, c.w, { device });
    const tdy = tensor(dy, yShape, { device });

    const y = await conv2d(tx, tw, { ...geometry(c), bias: c.bias ? tensor(b, [c.w[0]], { device }) : undefined });
    expect(y.shape).toEqual(yShape);
    expectNear(await values(y), conv2dRef(s, x, w, c.bias ? b : undefined), 'y');

    const dx = await conv2dBackwardData(tdy, tw, c.x, geometry(c));
    expect(dx.shape).toEqual(c.x);
    expectNear(await values(dx), conv2dBackwardDataRef(s, dy, w), 'dx');

    const ref = conv2dBackwardWeightsRef(s, x, dy);
    const grads = await conv2dBackwardWeights(tx, tdy, c.w, { ...geometry(c), bias: c.bias });
    expectNear(await values(grads.dw), ref.dw, 'dw');
    if (c.bias) {
      expect(grads.db).toBeDefined();
      expectNear(await values(grads.db!), ref.db, 'db');
    } else {
      expect(grads.db).toBeUndefined();
    }
    for (const t of [tx, tw, tdy, y, dx, grads.dw, grads.db]) t?.dispose();
  }

  it.each(cases)('forward and both backwards match the reference: $name', checkAllDirections);

  it.runIf(device === 'cpu')('setting cpu_conv=direct rules Winograd out: 3x3 32→32 within 2e-6 of float64', async () => {
    const c = cases.find((k) => k.name.includes('Winograd'))!;
    const s = shapesOf(c);
    const x = asF32(randn(size(c.x), 21));
    const w = asF32(randn(size(c.w), 22, 0.5));
    const errorWith = async (mode: string): Promise<number> => {
      native().setSetting('cpu_conv', mode);
      clearEagerCache(); // the algorithm is chosen when a kernel is built
      const tx = tensor(x, c.x, { device });
      const tw = tensor(w, c.w, { device });
      const y = await values(await conv2d(tx, tw, geometry(c)));
      const want = conv2dRef(s, x, w);
      const scale = Math.max(...want.map(Math.abs));
      return Math.max(...want.map((v, i) => Math.abs(y[i] - v))) / scale;
    };
    try {
      const direct = await errorWith('direct');
      const auto = await errorWith('auto');
      expect(direct, `direct ${direct}, auto ${auto}`).toBeLessThan(2e-6);
      expect(auto).toBeGreaterThan(direct); // Winograd's transforms round more
      expect(auto).toBeLessThan(1e-3); // within the op tolerance all the same
      native().setSetting('cpu_conv', 'fast');
      clearEagerCache();
      await expect(conv2d(tensor(x, c.x, { device }), tensor(w, c.w, { device }), geometry(c))).rejects.toThrow(
        /Expected auto or direct for setting cpu_conv but received 'fast'/,
      );
    } finally {
      native().setSetting('cpu_conv', 'auto');
      clearEagerCache();
    }
  });

  it.each([1, 2])('a batch split into chunks over %i thread(s) matches the reference', async (threads) => {
    const previous = native().cpuInfo().threads;
    native().setNumThreads(threads);
    clearEagerCache(); // kernels plan their threads when they are built
    try {
      await checkAllDirections(chunked);
    } finally {
      native().setNumThreads(previous);
    }
  });

  it('repeated runs of one cached program see new data', async () => {
    const c = cases[7];
    const s = shapesOf(c);
    const w = asF32(randn(size(c.w), 22));
    const tw = tensor(w, c.w, { device });
    for (const seed of [31, 32]) {
      const x = asF32(randn(size(c.x), seed));
      const y = await conv2d(tensor(x, c.x, { device }), tw, geometry(c));
      expectNear(await values(y), conv2dRef(s, x, w), `y (seed ${seed})`);
    }
  });

  describe('bad input', () => {
    const x = () => Tensor.zeros([2, 5, 8, 8], { device });
    const w = () => Tensor.zeros([4, 3, 3, 3], { device });

    it('names the op and both shapes on a channel mismatch', async () => {
      await expectError(conv2d(x(), w()), 'RN_SHAPE_MISMATCH', [
        'conv2d: Expected 3 input channels (weight [4,3,3,3]) for x but received 5 (x [2,5,8,8])',
      ]);
    });

    it('rejects a kernel larger than the padded input', async () => {
      const small = Tensor.zeros([1, 3, 2, 2], { device });
      await expectError(conv2d(small, Tensor.zeros([4, 3, 5, 5], { device }), { padding: 1 }), 'RN_SHAPE_MISMATCH', [
        'conv2d:',
        '[4,3,5,5]',
        '[1,3,2,2]',
      ]);
      await expectError(
        conv2d(small, Tensor.zeros([4, 3, 3, 3], { device }), { dilation: 2, padding: 1 }),
        'RN_SHAPE_MISMATCH',
        ['conv2d:', 'dilation 2', '[1,3,2,2]'],
      );
    });

    it('rejects bad sizes, ranks and options', async () => {
      await expectError(conv2d(x(), w(), { stride: 0 }), 'RN_INVALID_ARGUMENT', ['conv2d:', 'stride[0]']);
      await expectError(conv2d(x(), w(), { padding: [-1, 0] }), 'RN_INVALID_ARGUMENT', ['conv2d:', 'padding[0]']);
      await expectError(conv2d(x(), w(), { groups: 2 } as never), 'RN_UNKNOWN_ATTRIBUTE', ['conv2d:', "'groups'"]);
      await expectError(conv2d(Tensor.zeros([5, 8, 8], { device }), w()), 'RN_SHAPE_MISMATCH', ['conv2d:', 'x', '[5,8,8]']);
      await expectError(
        conv2d(Tensor.zeros([2, 3, 8, 8], { device }), w(), { bias: Tensor.zeros([3], { device }) }),
        'RN_SHAPE_MISMATCH',
        ['conv2d:', 'bias', '[4,3,3,3]', '[3]'],
      );
      await expectError(conv2dBackwardData(Tensor.zeros([2, 4, 6, 6], { device }), w(), [2, 3, 0, 8]), 'RN_SHAPE_MISMATCH', [
        'conv2dBackwardData:',
        '[2,3,0,8]',
      ]);
      await expectError(
        conv2dBackwardWeights(Tensor.zeros([2, 3, 8, 8], { device }), Tensor.zeros([2, 4, 6, 6], { device }), [4, 3, 3, 3], {
          bias: 1 as never,
        }),
        'RN_INVALID_ARGUMENT',
        ['conv2dBackwardWeights:', 'bias'],
      );
    });

    it('rejects a gradient whose shape is not the output shape', async () => {
      const dy = Tensor.zeros([2, 4, 8, 8], { device });
      await expectError(conv2dBackwardData(dy, w(), [2, 3, 8, 8]), 'RN_SHAPE_MISMATCH', [
        'conv2dBackwardData:',
        'dy',
        '[2,4,6,6]',
        '[2,4,8,8]',
        '[4,3,3,3]',
      ]);
      await expectError(conv2dBackwardWeights(Tensor.zeros([2, 3, 8, 8], { device }), dy, [4, 3, 3, 3]), 'RN_SHAPE_MISMATCH', [
        'conv2dBackwardWeights:',
        '[2,4,6,6]',
      ]);
    });

    it('native factories check shapes and attributes too', async () => {
      const tx = Tensor.zeros([2, 3, 8, 8], { device });
      await expectError(runOp('conv2d_forward', [x(), w()], [{ shape: [2, 4, 6, 6] }]), 'RN_SHAPE_MISMATCH', [
        'conv2d_forward',
        '[2,5,8,8]',
        '[4,3,3,3]',
      ]);
      await expectError(runOp('conv2d_forward', [tx, w()], [{ shape: [2, 4, 8, 8] }]), 'RN_SHAPE_MISMATCH', [
        'conv2d_forward',
        '[2,4,6,6]',
        '[2,4,8,8]',
      ]);
      await expectError(
        runOp('conv2d_forward', [tx, w()], [{ shape: [2, 4, 6, 6] }], { stride: [0, 1] }),
        'RN_INVALID_ARGUMENT',
        ['conv2d_forward', 'stride'],
      );
      await expectError(runOp('conv2d_forward', [tx, w()], [{ shape: [2, 4, 6, 6] }], { groups: 2 }), 'RN_UNKNOWN_ATTRIBUTE', [
        'conv2d_forward',
        'groups',
      ]);
      await expectError(
        runOp('conv2d_backward_data', [Tensor.zeros([2, 4, 5, 6], { device }), w()], [{ shape: [2, 3, 8, 8] }]),
        'RN_SHAPE_MISMATCH',
        ['conv2d_backward_data', 'dy', '[2,4,6,6]'],
      );
      await expectError(
        runOp('conv2d_backward_weights', [tx, Tensor.zeros([2, 4, 6, 6], { device })], [{ shape: [4, 3, 3, 3] }, { shape: [5] }]),
        'RN_SHAPE_MISMATCH',
        ['conv2d_backward_weights', 'db', '[4]', '[5]'],
      );
    });

    it('a valid call still works after the errors', async () => {
      const c = cases[0];
      const s = shapesOf(c);
      const xv = asF32(randn(size(c.x), 41));
      const wv = asF32(randn(size(c.w), 42));
      const y = await conv2d(tensor(xv, c.x, { device }), tensor(wv, c.w, { device }), geometry(c));
      expectNear(await values(y), conv2dRef(s, xv, wv), 'y');
    });
  });
});
