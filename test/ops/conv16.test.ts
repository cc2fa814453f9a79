// 16 → 16 channel 3x3 convolutions (stride 1, padding 1) on blocked activations: forward with and without bias and
// backward data, which run the hand-written AVX-512 kernels (Winograd F(2x2, 3x3) in native/cpu/wino16.cc by
// default, direct convolution in native/cpu/conv16.cc with setting cpu_conv=direct), and backward weights with and
// without the bias gradient (oneDNN on nhwc), against the same ops on nchw tensors (oneDNN, reordered), including
// odd heights and widths (partial 2x2 tiles) and widths that are not a multiple of the kernels' blocks.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { conv2d, conv2dBackwardData, conv2dBackwardWeights } from '../../lib/ops/conv2d.js';
import { clearEagerCache } from '../../lib/ops/eager.js';
import type { Layout } from '../../lib/runtime/layout.js';
import { native } from '../../lib/runtime/native.js';
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
  [2, 16, 9, 16],
  [1, 16, 17, 35],
];

function input(shape: number[], seed: number, layout: Layout): Tensor {
  return Tensor.fromArray(Float32Array.from(randn(size(shape), seed)), shape, { layout });
}

describe.each(['auto', 'direct'])('16-channel 3x3 convolution on blocked activations, cpu_conv=%s', (mode) => {
  // The kernel (Winograd or direct) is chosen when it is built: clear the eager cache around the setting.
  beforeAll(() => {
    native().setSetting('cpu_conv', mode);
    clearEagerCache();
  });
  afterAll(() => {
    native().setSetting('cpu_conv', 'auto');
    clearEagerCache();
  });
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

// Winograd's transforms (0, ±1, ±½) keep float32 results within ~1e-6 relative of direct convolution's; that they
// differ at all shows the setting switches kernels.
it('cpu_conv=auto (Winograd F(2x2, 3x3)) against cpu_conv=direct: different rounding, within 2e-6 relative', async () => {
  const shape = [3, 16, 32, 32];
  const w = input([16, 16, 3, 3], 2, 'nchw');
  const run = async (mode: string, backward: boolean): Promise<Float32Array> => {
    native().setSetting('cpu_conv', mode);
    clearEagerCache();
    const x = input(shape, backward ? 3 : 1, 'nChw16c');
    const y = backward ? await conv2dBackwardData(x, w, shape, { stride: 1, padding: 1 }) : await conv2d(x, w, { stride: 1, padding: 1 });
    const v = Float32Array.from(await values(y));
    for (const t of [x, y]) t.dispose();
    return v;
  };
  try {
    for (const backward of [false, true]) {
      const direct = await run('direct', backward);
      const winograd = await run('auto', backward);
      const scale = direct.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const error = direct.reduce((m, v, i) => Math.max(m, Math.abs(v - winograd[i])), 0) / scale;
      expect(error, `backward ${backward}`).toBeGreaterThan(0);
      expect(error, `backward ${backward}`).toBeLessThan(2e-6);
    }
  } finally {
    native().setSetting('cpu_conv', 'auto');
    clearEagerCache();
    w.dispose();
  }
});
