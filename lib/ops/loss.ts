// Softmax cross-entropy (LogSoftMax + NLL on logits, as nn.CrossEntropyCriterion): forward and backward.
import { expected } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import { runOp } from './eager.js';
import { checkTensor, describe } from './validate.js';

function checkLabels(op: string, rows: Tensor, rowsName: string, labels: Tensor): void {
  checkTensor(op, 'labels', labels, 1, 'int32');
  if (labels.shape[0] !== rows.shape[0]) {
    const wanted = `int32[${rows.shape[0]}] (${rowsName} is ${describe(rows)})`;
    throw expected('RN_SHAPE_MISMATCH', op, 'labels', wanted, describe(labels));
  }
}

export interface SoftmaxCrossEntropyResult {
  /** [1]: mean over the batch of −log softmax(logits)[label]. */
  loss: Tensor;
  /** [N]: the per-sample losses. */
  losses: Tensor;
  /** [N, K]: softmax(logits), kept for the backward. */
  probs: Tensor;
}

/**
 * Cross-entropy of `logits` [N, K] (float32) against `labels` [N] (int32 class indices). A label outside
 * [0, K) rejects with RN_INVALID_ARGUMENT naming the label and its index (checked when the op runs).
 */
export async function softmaxCrossEntropy(logits: Tensor, labels: Tensor): Promise<SoftmaxCrossEntropyResult> {
  const op = 'softmaxCrossEntropy';
  checkTensor(op, 'logits', logits, 2);
  checkLabels(op, logits, 'logits', labels);
  const [loss, losses, probs] = await runOp(
    'softmax_cross_entropy_forward',
    [logits, labels],
    [{ shape: [1] }, { shape: [logits.shape[0]] }, { shape: logits.shape }],
  );
  return { loss, losses, probs };
}

/** dlogits [N, K] = dloss · (probs − onehot(labels)) / N, with dloss [1] the gradient of the mean loss. */
export async function softmaxCrossEntropyBackward(probs: Tensor, labels: Tensor, dloss: Tensor): Promise<Tensor> {
  const op = 'softmaxCrossEntropyBackward';
  checkTensor(op, 'probs', probs, 2);
  checkLabels(op, probs, 'probs', labels);
  checkTensor(op, 'dloss', dloss, 1);
  if (dloss.shape[0] !== 1) throw expected('RN_SHAPE_MISMATCH', op, 'dloss', 'float32[1]', describe(dloss));
  const [dlogits] = await runOp('softmax_cross_entropy_backward', [probs, labels, dloss], [{ shape: probs.shape }]);
  return dlogits;
}
