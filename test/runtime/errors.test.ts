// Bad input anywhere in the runtime is a JS Error with a stable code and a message naming what was wrong;
// the process keeps running and the next call works.
import { describe, expect, it } from 'vitest';

import { add, relu } from '../../lib/ops/elementwise.js';
import { Device } from '../../lib/runtime/device.js';
import { Program } from '../../lib/runtime/program.js';
import { Tensor } from '../../lib/runtime/tensor.js';
import { tensor, values } from '../util/tensors.js';

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<{ code: string; message: string }> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (error) {
    const e = error as { code: string; message: string };
    return { code: e.code, message: e.message };
  }
  throw new Error('expected an error');
}

describe('runtime errors', () => {
  it('rejects bad tensor creation with named causes', async () => {
    expect(await codeOf(() => Tensor.zeros([2, 0]))).toMatchObject({ code: 'RN_INVALID_ARGUMENT', message: expect.stringContaining('[2,0]') });
    expect(await codeOf(() => Tensor.zeros([2, -3]))).toMatchObject({ code: 'RN_INVALID_ARGUMENT' });
    expect(await codeOf(() => Tensor.fromArray([1, 2, 3], [2, 2]))).toMatchObject({
      code: 'RN_SHAPE_MISMATCH',
      message: expect.stringContaining('4 elements for shape [2,2]'),
    });
    expect(await codeOf(() => Tensor.fromArray(new Int32Array(4), [4]))).toMatchObject({ code: 'RN_DTYPE_MISMATCH' });
    expect(await codeOf(() => Tensor.zeros([2], { dtype: 'float64' as never }))).toMatchObject({ code: 'RN_INVALID_ARGUMENT' });
  });

  it('names the device that cannot be used, with no silent fallback', async () => {
    // cuda:99 is unavailable everywhere: no CUDA library, no driver, or no such GPU.
    expect(await codeOf(() => Tensor.zeros([2], { device: 'cuda:99' }))).toMatchObject({
      code: 'RN_DEVICE_UNAVAILABLE',
      message: expect.stringContaining("device 'cuda:99' is unavailable"),
    });
    expect(await codeOf(() => Device.from('tpu'))).toMatchObject({ code: 'RN_INVALID_ARGUMENT', message: expect.stringContaining("'tpu'") });
    expect(await codeOf(() => Device.from('cpu:-1'))).toMatchObject({ code: 'RN_INVALID_ARGUMENT' });
  });

  it('shape mismatch names the op and both shapes', async () => {
    const a = Tensor.zeros([2, 3]);
    const b = Tensor.zeros([3, 2]);
    const e = await codeOf(add(a, b));
    expect(e.code).toBe('RN_SHAPE_MISMATCH');
    expect(e.message).toMatch(/^add: /);
    expect(e.message).toContain('[2,3]');
    expect(e.message).toContain('[3,2]');
  });

  it('a disposed tensor is an error, before and after queueing', async () => {
    const x = tensor([1, -1], [2]);
    x.dispose();
    expect(x.disposed).toBe(true);
    expect(await codeOf(relu(x))).toMatchObject({ code: 'RN_DISPOSED', message: expect.stringContaining('relu') });
    expect(await codeOf(x.toArray())).toMatchObject({ code: 'RN_DISPOSED' });
    // Disposing while work is queued keeps the storage alive until that work has run.
    const y = tensor([3, -4], [2]);
    const pending = relu(y);
    y.dispose();
    expect(Array.from(await values(await pending))).toEqual([3, 0]);
  });

  it('native checks: unknown op, unknown attribute, shape mismatch in a spec, wrong dtype', async () => {
    const spec = (op: string, attrs: Record<string, number> = {}, outShape = [2]) => ({
      values: [
        { shape: [2], dtype: 'float32' as const },
        { shape: outShape, dtype: 'float32' as const },
      ],
      ops: [{ op, inputs: [0], outputs: [1], attrs }],
      externals: [0, 1],
      arenaBytes: 0,
    });
    expect(await codeOf(() => new Program('cpu', spec('no_such_op')))).toMatchObject({
      code: 'RN_UNKNOWN_OP',
      message: expect.stringContaining('no_such_op'),
    });
    const x = tensor([1, -2], [2]);
    const y = Tensor.empty([2]);
    const withAttr = new Program('cpu', spec('relu_forward', { alpha: 1 }));
    expect(await codeOf(withAttr.run([x, y]))).toMatchObject({
      code: 'RN_UNKNOWN_ATTRIBUTE',
      message: expect.stringContaining("relu_forward: unknown attribute 'alpha'"),
    });
    const mismatched = new Program('cpu', spec('relu_forward', {}, [3]));
    const e = await codeOf(mismatched.run([x, Tensor.empty([3])]));
    expect(e.code).toBe('RN_SHAPE_MISMATCH');
    expect(e.message).toContain('relu_forward');
    expect(e.message).toContain('float32[2]');
    expect(e.message).toContain('[3]');
    // Binding the wrong shape to a valid program is caught before the native call.
    const ok = new Program('cpu', spec('relu_forward'));
    expect(await codeOf(ok.run([x, Tensor.empty([3])]))).toMatchObject({ code: 'RN_SHAPE_MISMATCH' });
    // The process survives and the next call works.
    await ok.run([x, y]);
    expect(Array.from(await values(y))).toEqual([1, 0]);
  });

  it('native errors carry the caller stack', async () => {
    const bad = new Program('cpu', {
      values: [{ shape: [2], dtype: 'float32' }, { shape: [2], dtype: 'float32' }],
      ops: [{ op: 'relu_forward', inputs: [0], outputs: [1], attrs: { beta: 2 } }],
      externals: [0, 1],
      arenaBytes: 0,
    });
    try {
      await bad.run([tensor([1, 2], [2]), Tensor.empty([2])]);
      expect.fail('expected an error');
    } catch (error) {
      expect((error as Error).stack).toContain('errors.test.ts');
    }
  });
});
