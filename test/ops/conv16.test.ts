// 16 → 16 channel 3x3 convolutions (stride 1, padding 1) on blocked activations: forward with and without bias and
// backward data, which run the hand-written AVX-512 kernel (native/cpu/conv16.cc), and backward weights with and
// without the bias gradient (oneDNN on nhwc), against the same ops on nchw tensors (oneDNN, reordered), including
// widths that are not a multiple of the kernel's 16-pixel block.
import { describe, expect, it } from 'vitest';

import { conv2d, conv2dBackwardData, conv2dBackwardWeights } from '../../lib/ops/conv2d.js';
import type { Layout } from '../../lib/runtime/layout.js';
import { Tensor } from '../../lib/runtime/tensor.js';
import { expectClose } from '../util/check.js';
import { randn, size } from '../util/random.js';
import { values } from '../util/tensors.js';

const shapes = [
  [1, 16, 1, 1],
  [2, 16, 3, 5],
  [3, 16, 32, 32],
  [1, 16, 7, 33],
  [2, 16, 2, 17],
  [1, 16, 5, 1],
];

function input(shape: number[], seed: number, layout: Layout): Tensor {
  return Tensor.fromArray(Float32Array.from(randn(size(shape), seed)), shape, { layout });
}

describe('16-channel 3x3 convolution on blocked activations', () => {
  for (const shape of shapes) {
    it(`[${shape.join(',')}]`, async () => {
      const geometry = { stride: 1, padding: 1 };
      const w = input([16, 16, 3, 3], 2, 'nchw');
      const b = input([16], 4, 'nchw');
      const tolerance = { rtol: 1e-5, atol: 1e-4 };
      for (const bias of [false, true]) {
        const reference = await conv2d(input(shape, 1, 'nchw'), w, { ...geometry, ...(bias ? { bias: b } : {}) });
        const y = await conv2d(input(shape, 1, 'nChw16c'), w, { ...geometry, ...(bias ? { bias: b } : {}) });
        expect(y.layout).toBe('nChw16c');
        expectClose(await values(y), await values(reference), { ...tolerance, what: `forward${bias ? ' with bias' : ''}` });
        for (const t of [reference, y]) t.dispose();
      }
      const dxReference = await conv2dBackwardData(input(shape, 3, 'nchw'), w, shape, geometry);
      const dx = await conv2dBackwardData(input(shape, 3, 'nChw16c'), w, shape, geometry);
      expect(dx.layout).toBe('nChw16c');
      expectClose(await values(dx), await values(dxReference), { ...tolerance, what: 'backward data' });
      for (const bias of [false, true]) {
        const reference = await conv2dBackwardWeights(input(shape, 1, 'nchw'), input(shape, 3, 'nchw'), [16, 16, 3, 3], { ...geometry, bias });
        const got = await conv2dBackwardWeights(input(shape, 1, 'nChw16c'), input(shape, 3, 'nChw16c'), [16, 16, 3, 3], { ...geometry, bias });
        expect(got.dw.layout).toBe('nchw');
        expectClose(await values(got.dw), await values(reference.dw), { ...tolerance, what: 'backward weights' });
        expect(got.db === undefined).toBe(!bias);
        if (bias) expectClose(await values(got.db!), await values(reference.db!), { ...tolerance, what: 'bias gradient' });
        for (const t of [reference.dw, reference.db, got.dw, got.db]) t?.dispose();
      }
      for (const t of [dxReference, dx, w, b]) t.dispose();
    });
  }
});
