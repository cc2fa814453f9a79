// conv2d with blocked (nChw16c) activations: every mix of layouts for x/y (forward), dy/dx (backward data) and
// x/dy (backward weights) gives the nchw results; weights stay nchw.
import { describe, expect, it } from 'vitest';

import { conv2d, conv2dBackwardData, conv2dBackwardWeights, conv2dOutputShape } from '../../lib/ops/conv2d.js';
import { runOp } from '../../lib/ops/eager.js';
import { toLayout } from '../../lib/ops/layout.js';
import type { Layout } from '../../lib/runtime/layout.js';
import { Tensor } from '../../lib/runtime/tensor.js';
import { expectClose } from '../util/check.js';
import { randn, size } from '../util/random.js';
import { values } from '../util/tensors.js';

interface Case {
  name: string;
  x: number[];
  w: number[];
  stride: number;
  padding: number;
}

const cases: Case[] = [
  { name: '16→32, 3x3 pad 1, 5x7, batch 1', x: [1, 16, 5, 7], w: [32, 16, 3, 3], stride: 1, padding: 1 },
  { name: '32→16, 3x3 stride 2, batch 3 (chunked)', x: [3, 32, 9, 9], w: [16, 32, 3, 3], stride: 2, padding: 1 },
  { name: '32→32, 3x3 pad 1 (Winograd), batch 4 (chunked lanes)', x: [4, 32, 40, 40], w: [32, 32, 3, 3], stride: 1, padding: 1 },
  { name: '16→64 1x1 stride 2 (projection)', x: [2, 16, 6, 6], w: [64, 16, 1, 1], stride: 2, padding: 0 },
  { name: '256→256 3x3 (weights past a megabyte: whole batch)', x: [2, 256, 4, 4], w: [256, 256, 3, 3], stride: 1, padding: 1 },
];

const layouts: Layout[] = ['nchw', 'nChw16c'];

function input(shape: number[], seed: number, layout: Layout): Tensor {
  return Tensor.fromArray(Float32Array.from(randn(size(shape), seed)), shape, { layout });
}

describe('conv2d with blocked activations', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const geometry = { stride: c.stride, padding: c.padding };
      const yShape = conv2dOutputShape(c.x, c.w, geometry);
      const w = input(c.w, 2, 'nchw');
      const reference = {
        y: await values(await conv2d(input(c.x, 1, 'nchw'), w, geometry)),
        dx: await values(await conv2dBackwardData(input(yShape, 3, 'nchw'), w, c.x, geometry)),
        dw: await values((await conv2dBackwardWeights(input(c.x, 1, 'nchw'), input(yShape, 3, 'nchw'), c.w, geometry)).dw),
      };
      for (const inLayout of layouts) {
        for (const outLayout of layouts) {
          const what = `${inLayout} in, ${outLayout} out`;
          const x = input(c.x, 1, inLayout);
          const dy = input(yShape, 3, inLayout);
          const [y] = await runOp('conv2d_forward', [x, w], [{ shape: yShape, layout: outLayout }], { stride: [c.stride, c.stride], padding: [c.padding, c.padding], dilation: [1, 1] });
          expect(y.layout).toBe(outLayout);
          expectClose(await values(y), reference.y, { rtol: 1e-5, atol: 1e-4, what: `forward, ${what}` });
          const [dx] = await runOp('conv2d_backward_data', [input(yShape, 3, outLayout), w], [{ shape: c.x, layout: inLayout }], { stride: [c.stride, c.stride], padding: [c.padding, c.padding], dilation: [1, 1] });
          expectClose(await values(dx), reference.dx, { rtol: 1e-5, atol: 1e-4, what: `backward data, ${what}` });
          const { dw } = await conv2dBackwardWeights(x, dy, c.w, geometry);
          expect(dw.layout).toBe('nchw');
          expectClose(await values(dw), reference.dw, { rtol: 1e-5, atol: 1e-3, what: `backward weights, ${inLayout}` });
          for (const t of [x, dy, y, dx, dw]) t.dispose();
        }
      }
    });
  }

  it('blocked inputs give blocked outputs through the functional API, and toLayout round-trips', async () => {
    const x = input([2, 16, 6, 5], 4, 'nChw16c');
    const y = await conv2d(x, input([32, 16, 3, 3], 5, 'nchw'), { padding: 1 });
    expect(y.layout).toBe('nChw16c');
    const plain = await toLayout(y, 'nchw');
    expect(plain.layout).toBe('nchw');
    expect(Array.from(await values(plain))).toEqual(Array.from(await values(y)));
  });

  it('refuses blocked weights, naming the op', async () => {
    const x = input([2, 16, 6, 5], 4, 'nChw16c');
    const w = input([16, 16, 3, 3], 6, 'nChw16c');
    await expect(conv2d(x, w, { padding: 1 })).rejects.toThrow(/conv2d: Expected layout nchw for w/);
    // The process carries on: the next call works.
    const y = await conv2d(x, input([16, 16, 3, 3], 6, 'nchw'), { padding: 1 });
    expect(y.shape).toEqual([2, 16, 6, 5]);
  });
});
