// ReLU, add and accumulate: element-wise float32 ops, each with its backward where it has one.
import type { Tensor } from '../runtime/tensor.js';
import { expected } from '../runtime/errors.js';
import { runOp } from './eager.js';
import { checkOptions, checkSameShape, checkTensor } from './validate.js';

/** y = max(x, 0); `inPlace` writes into x. */
export async function relu(x: Tensor, options: { inPlace?: boolean } = {}): Promise<Tensor> {
  checkTensor('relu', 'x', x);
  const [y] = await runOp('relu_forward', [x], [options.inPlace ? x : { shape: x.shape }]);
  return y;
}

/** dx = dy where y > 0 (y is relu's output). */
export async function reluBackward(y: Tensor, dy: Tensor): Promise<Tensor> {
  checkTensor('reluBackward', 'y', y);
  checkTensor('reluBackward', 'dy', dy);
  checkSameShape('reluBackward', ['y', 'dy'], [y, dy]);
  const [dx] = await runOp('relu_backward', [y, dy], [{ shape: y.shape }]);
  return dx;
}

/** c = a + b; max(0, a + b) in the same pass with `relu` (CPU only). */
export async function add(a: Tensor, b: Tensor, options: { relu?: boolean } = {}): Promise<Tensor> {
  checkOptions('add', options, ['relu']);
  checkTensor('add', 'a', a);
  checkTensor('add', 'b', b);
  checkSameShape('add', ['a', 'b'], [a, b]);
  const relu = options.relu ?? false;
  if (typeof relu !== 'boolean') throw expected('RN_INVALID_ARGUMENT', 'add', 'relu', 'a boolean', String(relu));
  if (relu && a.device.kind !== 'cpu') {
    throw expected('RN_INVALID_ARGUMENT', 'add', 'relu', 'false on ' + a.device.kind + ' (the fused ReLU is CPU only)', 'true');
  }
  const [c] = await runOp('add', [a, b], [{ shape: a.shape }], relu ? { relu } : undefined);
  return c;
}

/** dst += src, in place; resolves with dst. */
export async function accumulate(dst: Tensor, src: Tensor): Promise<Tensor> {
  checkTensor('accumulate', 'dst', dst);
  checkTensor('accumulate', 'src', src);
  checkSameShape('accumulate', ['dst', 'src'], [dst, src]);
  await runOp('accumulate', [dst, src], [dst]);
  return dst;
}
