// Channel concatenation (dim 1) of tensors [N, Ci, …] and its backward, which splits dy back into the parts.
import { expected, formatShape } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import { runOp } from './eager.js';
import { checkInt, checkTensor, describe } from './validate.js';

/** y [N, ΣCi, …] from parts [N, Ci, …] (one part or more; every dim but 1 equal, rank ≥ 2). */
export async function concat(parts: readonly Tensor[]): Promise<Tensor> {
  const op = 'concat';
  if (!Array.isArray(parts as unknown) || parts.length === 0) {
    const received = Array.isArray(parts as unknown) ? '[]' : String(parts);
    throw expected('RN_INVALID_ARGUMENT', op, 'parts', 'a non-empty array of tensors', received);
  }
  parts.forEach((t, i) => checkTensor(op, `parts[${i}]`, t));
  const first = parts[0];
  if (first.rank < 2) throw expected('RN_SHAPE_MISMATCH', op, 'parts[0]', 'a tensor of rank ≥ 2', describe(first));
  let channels = 0;
  parts.forEach((t, i) => {
    const same = t.rank === first.rank && t.shape.every((d, k) => k === 1 || d === first.shape[k]);
    if (!same) {
      const wanted = `[${first.shape.map((d, k) => (k === 1 ? 'C' : d)).join(',')}] (as parts[0] ${describe(first)})`;
      throw expected('RN_SHAPE_MISMATCH', op, `parts[${i}]`, wanted, describe(t));
    }
    channels += t.shape[1];
  });
  const shape = [...first.shape];
  shape[1] = channels;
  const [y] = await runOp('concat_forward', parts, [{ shape }]);
  return y;
}

/** Splits dy [N, ΣCi, …] into one tensor [N, Ci, …] per entry of `channelCounts`. */
export async function concatBackward(dy: Tensor, channelCounts: readonly number[]): Promise<Tensor[]> {
  const op = 'concatBackward';
  checkTensor(op, 'dy', dy);
  if (dy.rank < 2) throw expected('RN_SHAPE_MISMATCH', op, 'dy', 'a tensor of rank ≥ 2', describe(dy));
  if (!Array.isArray(channelCounts) || channelCounts.length === 0) {
    const received = String(channelCounts);
    throw expected('RN_INVALID_ARGUMENT', op, 'channelCounts', 'a non-empty array of channel counts', received);
  }
  channelCounts.forEach((c, i) => checkInt(op, `channelCounts[${i}]`, c, 1));
  const total = channelCounts.reduce((a, b) => a + b, 0);
  if (total !== dy.shape[1]) {
    throw expected(
      'RN_SHAPE_MISMATCH',
      op,
      'channelCounts',
      `counts adding up to dy's ${dy.shape[1]} channels (dy is ${describe(dy)})`,
      `${formatShape(channelCounts)} (sum ${total})`,
    );
  }
  const outputs = channelCounts.map((c) => ({ shape: dy.shape.map((d, k) => (k === 1 ? c : d)) }));
  return runOp('concat_backward', [dy], outputs);
}
