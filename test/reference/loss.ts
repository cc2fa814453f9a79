// Float64 reference for softmax cross-entropy over logits [N, K] with integer labels [N].
export function softmaxCrossEntropyRef(
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  n: number,
  k: number,
): { loss: number; losses: Float64Array; probs: Float64Array } {
  const losses = new Float64Array(n);
  const probs = new Float64Array(n * k);
  let total = 0;
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let j = 0; j < k; j++) max = Math.max(max, logits[i * k + j]);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(logits[i * k + j] - max);
    for (let j = 0; j < k; j++) probs[i * k + j] = Math.exp(logits[i * k + j] - max) / sum;
    losses[i] = Math.log(sum) - (logits[i * k + labels[i]] - max);
    total += losses[i];
  }
  return { loss: total / n, losses, probs };
}

/** dlogits = dloss·(probs − onehot(labels))/N. */
export function softmaxCrossEntropyBackwardRef(
  probs: ArrayLike<number>,
  labels: ArrayLike<number>,
  dloss: number,
  n: number,
  k: number,
): Float64Array {
  const d = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) d[i * k + j] = (dloss * (probs[i * k + j] - (labels[i] === j ? 1 : 0))) / n;
  }
  return d;
}
