// Program specs: external bindings, arena slices and views of other values, run in op order.
import { describe, expect, it } from 'vitest';

import { Program } from '../../lib/runtime/program.js';
import { Tensor } from '../../lib/runtime/tensor.js';
import { tensor, values } from '../util/tensors.js';

describe('Program', () => {
  it('runs ops over arena values and views into a flat bound tensor', async () => {
    // flat = [a(3) | b(3)]; t (arena) = relu(a); b += t; out = b + b (via a view of flat)
    const program = new Program('cpu', {
      values: [
        { shape: [6], dtype: 'float32' }, // 0 flat, bound
        { shape: [3], dtype: 'float32', viewOf: 0, offset: 0 }, // 1 a
        { shape: [3], dtype: 'float32', viewOf: 0, offset: 12 }, // 2 b
        { shape: [3], dtype: 'float32', offset: 0 }, // 3 t in the arena
        { shape: [3], dtype: 'float32' }, // 4 out, bound
      ],
      ops: [
        { op: 'relu_forward', inputs: [1], outputs: [3] },
        { op: 'accumulate', inputs: [2, 3], outputs: [2] },
        { op: 'add', inputs: [2, 2], outputs: [4] },
      ],
      externals: [0, 4],
      arenaBytes: 12,
    });
    const flat = tensor([-1, 2, -3, 10, 20, 30], [6]);
    const out = Tensor.empty([3]);
    await program.run([flat, out]);
    expect(Array.from(await values(flat))).toEqual([-1, 2, -3, 10, 22, 30]);
    expect(Array.from(await values(out))).toEqual([20, 44, 60]);
    await program.run([flat, out]);
    expect(Array.from(await values(out))).toEqual([20, 48, 60]);
  });

  it('rejects views past their base and arena values past the arena', () => {
    const base = { shape: [4], dtype: 'float32' as const };
    expect(
      () => new Program('cpu', { values: [base, { shape: [2], dtype: 'float32', viewOf: 0, offset: 12 }], ops: [], externals: [0], arenaBytes: 0 }),
    ).toThrow(/ends past its base value 0/);
    expect(
      () => new Program('cpu', { values: [{ shape: [4], dtype: 'float32', offset: 8 }], ops: [], externals: [], arenaBytes: 16 }),
    ).toThrow(/ends past the arena/);
    expect(() => new Program('cpu', { values: [base], ops: [], externals: [], arenaBytes: 0 })).toThrow(/has no binding/);
  });
});
