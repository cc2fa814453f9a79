// Batch norm 2d over NCHW float32: training forward (updates the running statistics), inference forward, backward.
import { expected } from '../runtime/errors.js';
import type { Tensor } from '../runtime/tensor.js';
import { runOp } from './eager.js';
import { checkNumber, checkOptions, checkSameShape, checkTensor, describe } from './validate.js';

export interface BatchNormTrainingOptions {
  /** Weight of the batch statistic in the running average (PyTorch's convention); default 0.1. */
  momentum?: number;
  /** Added to the variance before the square root; default 1e-5. */
  eps?: number;
}

export interface BatchNormTrainingResult {
  y: Tensor;
  /** Batch mean per channel, for the backward pass. */
  saveMean: Tensor;
  /** 1/sqrt(biased batch variance + eps) per channel, for the backward pass. */
  saveInvStd: Tensor;
}

export interface BatchNormGradients {
  dx: Tensor;
  dgamma: Tensor;
  dbeta: Tensor;
}

/** x as a float32 (N, C, H, W) tensor, then each named tensor as a float32 [C]; returns C. */
function checkChannelVectors(op: string, x: Tensor, vectors: Record<string, unknown>): number {
  checkTensor(op, 'x', x, 4);
  const channels = x.shape[1];
  for (const [name, t] of Object.entries(vectors)) {
    const v = checkTensor(op, name, t);
    if (v.rank !== 1 || v.shape[0] !== channels) {
      throw expected('RN_SHAPE_MISMATCH', op, name, `shape [${channels}] (the channels of x ${describe(x)})`, describe(v));
    }
  }
  return channels;
}

function checkEps(op: string, eps: unknown): number {
  return checkNumber(op, 'eps', eps ?? 1e-5, 0);
}

/**
 * Normalises x with its batch statistics per channel: y = (x - mean)·invstd·gamma + beta. Updates runningMean
 * and runningVar in place: running = (1 - momentum)·running + momentum·batch, with the unbiased batch variance.
 */
export async function batchNormTraining(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  options: BatchNormTrainingOptions = {},
): Promise<BatchNormTrainingResult> {
  const op = 'batchNormTraining';
  checkOptions(op, options, ['momentum', 'eps']);
  const channels = checkChannelVectors(op, x, { gamma, beta, runningMean, runningVar });
  const perChannel = x.shape[0] * x.shape[2] * x.shape[3];
  if (perChannel < 2) {
    throw expected('RN_INVALID_ARGUMENT', op, 'x', 'more than one value per channel in training', describe(x));
  }
  if (runningMean === runningVar || [x, gamma, beta].some((t) => t === runningMean || t === runningVar)) {
    throw expected('RN_INVALID_ARGUMENT', op, 'runningMean and runningVar', 'two tensors distinct from the other inputs', 'a shared tensor');
  }
  const eps = checkEps(op, options.eps);
  const momentum = checkNumber(op, 'momentum', options.momentum ?? 0.1, 0, 1);
  const [y, , , saveMean, saveInvStd] = await runOp(
    'batchnorm_forward_training',
    [x, gamma, beta, runningMean, runningVar],
    [{ shape: x.shape }, runningMean, runningVar, { shape: [channels] }, { shape: [channels] }],
    { eps, momentum },
  );
  return { y, saveMean, saveInvStd };
}

/** y = (x - runningMean)/sqrt(runningVar + eps)·gamma + beta per channel. */
export async function batchNormInference(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  options: { eps?: number } = {},
): Promise<Tensor> {
  const op = 'batchNormInference';
  checkOptions(op, options, ['eps']);
  checkChannelVectors(op, x, { gamma, beta, runningMean, runningVar });
  const eps = checkEps(op, options.eps);
  const [y] = await runOp('batchnorm_forward_inference', [x, gamma, beta, runningMean, runningVar], [{ shape: x.shape }], {
    eps,
  });
  return y;
}

/**
 * Gradients of training-mode batch norm from the forward's saveMean and saveInvStd. `eps` must match the forward's;
 * the CPU kernel does not need it (saveInvStd already includes it) but the op carries it for backends that do.
 */
export async function batchNormBackward(
  x: Tensor,
  dy: Tensor,
  gamma: Tensor,
  saveMean: Tensor,
  saveInvStd: Tensor,
  options: { eps?: number } = {},
): Promise<BatchNormGradients> {
  const op = 'batchNormBackward';
  checkOptions(op, options, ['eps']);
  const channels = checkChannelVectors(op, x, { gamma, saveMean, saveInvStd });
  checkTensor(op, 'dy', dy);
  checkSameShape(op, ['x', 'dy'], [x, dy]);
  const eps = checkEps(op, options.eps);
  const [dx, dgamma, dbeta] = await runOp(
    'batchnorm_backward',
    [x, dy, gamma, saveMean, saveInvStd],
    [{ shape: x.shape }, { shape: [channels] }, { shape: [channels] }],
    { eps },
  );
  return { dx, dgamma, dbeta };
}
