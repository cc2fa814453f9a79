// Float64 reference for batch norm 2d over NCHW arrays: training and inference forward, training backward.

export interface BatchNormShape {
  n: number;
  c: number;
  h: number;
  w: number;
}

export function bnShape(shape: readonly number[]): BatchNormShape {
  const [n, c, h, w] = shape;
  return { n, c, h, w };
}

function forEachInChannel(s: BatchNormShape, c: number, f: (i: number) => void): void {
  const plane = s.h * s.w;
  for (let n = 0; n < s.n; n++) {
    for (let k = 0; k < plane; k++) f((n * s.c + c) * plane + k);
  }
}

export interface BatchNormTrainingReference {
  y: Float64Array;
  mean: Float64Array;
  invStd: Float64Array;
  runningMean: Float64Array;
  runningVar: Float64Array;
}

/** Two-pass statistics; the running variance takes the unbiased batch variance, as in PyTorch. */
export function batchNormTrainingRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
  { eps = 1e-5, momentum = 0.1 }: { eps?: number; momentum?: number } = {},
): BatchNormTrainingReference {
  const s = bnShape(shape);
  const count = s.n * s.h * s.w;
  const out: BatchNormTrainingReference = {
    y: new Float64Array(x.length),
    mean: new Float64Array(s.c),
    invStd: new Float64Array(s.c),
    runningMean: new Float64Array(s.c),
    runningVar: new Float64Array(s.c),
  };
  for (let c = 0; c < s.c; c++) {
    let sum = 0;
    forEachInChannel(s, c, (i) => (sum += x[i]));
    const mean = sum / count;
    let sq = 0;
    forEachInChannel(s, c, (i) => (sq += (x[i] - mean) ** 2));
    const variance = sq / count;
    const invStd = 1 / Math.sqrt(variance + eps);
    forEachInChannel(s, c, (i) => (out.y[i] = (x[i] - mean) * invStd * gamma[c] + beta[c]));
    out.mean[c] = mean;
    out.invStd[c] = invStd;
    out.runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean;
    out.runningVar[c] = (1 - momentum) * runningVar[c] + momentum * (sq / (count - 1));
  }
  return out;
}

export function batchNormInferenceRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  gamma: ArrayLike<number>,
  beta: ArrayLike<number>,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
  eps = 1e-5,
): Float64Array {
  const s = bnShape(shape);
  const y = new Float64Array(x.length);
  for (let c = 0; c < s.c; c++) {
    forEachInChannel(s, c, (i) => (y[i] = ((x[i] - runningMean[c]) / Math.sqrt(runningVar[c] + eps)) * gamma[c] + beta[c]));
  }
  return y;
}

/** Training-mode gradients given the forward's batch mean and 1/sqrt(var + eps). */
export function batchNormBackwardRef(
  x: ArrayLike<number>,
  dy: ArrayLike<number>,
  shape: readonly number[],
  gamma: ArrayLike<number>,
  mean: ArrayLike<number>,
  invStd: ArrayLike<number>,
): { dx: Float64Array; dgamma: Float64Array; dbeta: Float64Array } {
  const s = bnShape(shape);
  const count = s.n * s.h * s.w;
  const dx = new Float64Array(x.length);
  const dgamma = new Float64Array(s.c);
  const dbeta = new Float64Array(s.c);
  for (let c = 0; c < s.c; c++) {
    const xhat = (i: number) => (x[i] - mean[c]) * invStd[c];
    forEachInChannel(s, c, (i) => {
      dbeta[c] += dy[i];
      dgamma[c] += dy[i] * xhat(i);
    });
    forEachInChannel(s, c, (i) => {
      dx[i] = gamma[c] * invStd[c] * (dy[i] - dbeta[c] / count - (xhat(i) * dgamma[c]) / count);
    });
  }
  return { dx, dgamma, dbeta };
}
