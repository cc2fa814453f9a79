// Fully connected layer: y = x·wᵀ + b with x [N, in], w [out, in], b [out]; backward data and backward weights.
import { expected } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import { runOp } from './eager.js';
import { checkOptions, checkTensor, describe } from './validate.js';

/** y [N, out] = x [N, in] · w [out, in]ᵀ (+ b [out]). */
export async function linear(x: Tensor, w: Tensor, b?: Tensor): Promise<Tensor> {
  const op = 'linear';
  checkTensor(op, 'x', x, 2);
  checkTensor(op, 'w', w, 2);
  if (w.shape[1] !== x.shape[1]) {
    throw expected('RN_SHAPE_MISMATCH', op, 'w', `[out, ${x.shape[1]}] (x is ${describe(x)})`, describe(w));
  }
  const inputs = [x, w];
  if (b !== undefined) {
    checkTensor(op, 'b', b, 1);
    if (b.shape[0] !== w.shape[0]) {
      throw expected('RN_SHAPE_MISMATCH', op, 'b', `[${w.shape[0]}] (w is ${describe(w)})`, describe(b));
    }
    inputs.push(b);
  }
  const [y] = await runOp('linear_forward', inputs, [{ shape: [x.shape[0], w.shape[0]] }]);
  return y;
}

/** dx [N, in] = dy [N, out] · w [out, in]. */
export async function linearBackwardData(dy: Tensor, w: Tensor): Promise<Tensor> {
  const op = 'linearBackwardData';
  checkTensor(op, 'dy', dy, 2);
  checkTensor(op, 'w', w, 2);
  if (w.shape[0] !== dy.shape[1]) {
    throw expected('RN_SHAPE_MISMATCH', op, 'w', `[${dy.shape[1]}, in] (dy is ${describe(dy)})`, describe(w));
  }
  const [dx] = await runOp('linear_backward_data', [dy, w], [{ shape: [dy.shape[0], w.shape[1]] }]);
  return dx;
}

export interface LinearBackwardWeightsOptions {
  /** Also compute db [out] = Σ over the batch of dy. */
  bias: boolean;
}

/** dw [out, in] = dyᵀ · x and, with `bias: true`, db [out] = Σ_N dy. */
export async function linearBackwardWeights(
  x: Tensor,
  dy: Tensor,
  options: LinearBackwardWeightsOptions,
): Promise<{ dw: Tensor; db?: Tensor }> {
  const op = 'linearBackwardWeights';
  checkTensor(op, 'x', x, 2);
  checkTensor(op, 'dy', dy, 2);
  checkOptions(op, options, ['bias']);
  if (options === undefined || typeof options.bias !== 'boolean') {
    throw expected('RN_INVALID_ARGUMENT', op, 'options.bias', 'a boolean', String(options?.bias));
  }
  if (dy.shape[0] !== x.shape[0]) {
    throw expected('RN_SHAPE_MISMATCH', op, 'dy', `[${x.shape[0]}, out] (x is ${describe(x)})`, describe(dy));
  }
  const [inF, outF] = [x.shape[1], dy.shape[1]];
  const outputs = options.bias ? [{ shape: [outF, inF] }, { shape: [outF] }] : [{ shape: [outF, inF] }];
  const [dw, db] = await runOp('linear_backward_weights', [x, dy], outputs);
  return options.bias ? { dw, db } : { dw };
}
