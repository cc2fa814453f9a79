// ReLU, add and accumulate against float64 references, on every available device.
import { describe, expect, it } from 'vitest';

import { accumulate, add, relu, reluBackward } from '../../lib/ops/elementwise.js';
import { expectClose } from '../util/check.js';
import { asF32, randn, size } from '../util/random.js';
import { tensor, testDevices, values } from '../util/tensors.js';

describe.each(testDevices)('element-wise ops on %s', (device) => {
  const shapes = [[1], [2, 3, 5, 7], [1, 1, 1, 1], [3, 17]];

  it.each(shapes)('relu forward and backward %j', async (...shape: number[]) => {
    const n = size(shape);
    const x = asF32(randn(n, 11 + n));
    const dy = asF32(randn(n, 12 + n));
    const tx = tensor(x, shape, { device });
    const y = await relu(tx);
    expectClose(await values(y), x.map((v) => Math.max(v, 0)), { what: 'relu' });
    const dx = await reluBackward(y, tensor(dy, shape, { device }));
    expectClose(await values(dx), dy.map((g, i) => (x[i] > 0 ? g : 0)), { what: 'relu backward' });
    // Finite differences of Σ relu(x)·dy (away from the kink) give dy where x > 0.
    const eps = 1e-3;
    for (const i of [0, n - 1]) {
      if (Math.abs(x[i]) < 10 * eps) continue;
      const fd = ((Math.max(x[i] + eps, 0) - Math.max(x[i] - eps, 0)) / (2 * eps)) * dy[i];
      expect((await values(dx))[i]).toBeCloseTo(fd, 4);
    }
  });

  it('relu in place writes its input', async () => {
    const x = tensor([-1, 2, -3, 4], [4], { device });
    const y = await relu(x, { inPlace: true });
    expect(y).toBe(x);
    expect(Array.from(await values(x))).toEqual([0, 2, 0, 4]);
  });

  it.each(shapes)('add and accumulate %j', async (...shape: number[]) => {
    const n = size(shape);
    const a = asF32(randn(n, 21));
    const b = asF32(randn(n, 22));
    const ta = tensor(a, shape, { device });
    const tb = tensor(b, shape, { device });
    expectClose(await values(await add(ta, tb)), a.map((v, i) => v + b[i]), { what: 'add' });
    await accumulate(ta, tb);
    await accumulate(ta, tb);
    expectClose(await values(ta), a.map((v, i) => v + 2 * b[i]), { what: 'accumulate' });
  });
});
