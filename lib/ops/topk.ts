// Top-k accuracy counts, as fb.resnet.torch's metrics: topk on the raw logits (no softmax).
import { expected, formatShape } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import { runOp } from './eager.js';
import { checkTensor, describe } from './validate.js';

/**
 * For each k in `ks`, how many of the N samples have their label among the k largest of `logits` [N, K].
 * Rule: rank = the number of logits strictly greater than the label's logit; correct when rank < k. Ties thus
 * count in the label's favour, and k > K counts as k = K (every sample; fb.resnet.torch issue #184). A NaN
 * label logit is never correct. `labels` are int32 [N]; one outside [0, K) rejects with RN_INVALID_ARGUMENT.
 */
export async function topkCorrect(logits: Tensor, labels: Tensor, ks: readonly number[] = [1, 5]): Promise<number[]> {
  const op = 'topkCorrect';
  checkTensor(op, 'logits', logits, 2);
  checkTensor(op, 'labels', labels, 1, 'int32');
  if (labels.shape[0] !== logits.shape[0]) {
    const wanted = `int32[${logits.shape[0]}] (logits is ${describe(logits)})`;
    throw expected('RN_SHAPE_MISMATCH', op, 'labels', wanted, describe(labels));
  }
  if (!Array.isArray(ks) || ks.length === 0 || !ks.every((k) => Number.isInteger(k) && k >= 1)) {
    const received = Array.isArray(ks) ? formatShape(ks) : String(ks);
    throw expected('RN_INVALID_ARGUMENT', op, 'ks', 'a non-empty list of integers ≥ 1', received);
  }
  const [counts] = await runOp('topk_correct', [logits, labels], [{ shape: [ks.length], dtype: 'int32' }], {
    ks: [...ks],
  });
  try {
    return Array.from(await counts.toArray(), Number);
  } finally {
    counts.dispose();
  }
}
