// Batch norm 2d over NCHW float32: training forward (updates the running statistics), inference forward, backward.
// `relu: true` (CPU only) fuses the ReLU that follows: the forwards return max(0, BN(x)) and the backward, given
// that output as `y`, returns the gradients of BN+ReLU from the gradient of the ReLU's output.
import { expected } from '../runtime/errors.js';
import { Tensor } from '../runtime/tensor.js';
import { runOp } from './eager.js';
import { checkNumber, checkOptions, checkSameShape, checkTensor, describe } from './validate.js';

export interface BatchNormTrainingOptions {
  /** Weight of the batch statistic in the running average (PyTorch's convention); default 0.1. */
  momentum?: number;
  /** Added to the variance before the square root; default 1e-5. */
  eps?: number;
  /** Return max(0, y) instead of y, in the same pass (CPU only); default false. */
  relu?: boolean;
}

export interface BatchNormInferenceOptions {
  /** Added to the variance before the square root; default 1e-5. */
  eps?: number;
  /** Return max(0, y) instead of y, in the same pass (CPU only); default false. */
  relu?: boolean;
}

export interface BatchNormBackwardOptions {
  /** The forward's eps; default 1e-5. */
  eps?: number;
  /**
   * dy is the gradient of a fused forward's (relu: true) output `y`: the gradients are those of BN+ReLU, as if dy
   * had been through reluBackward(y, dy) first. CPU only; default false.
   */
  relu?: boolean;
  /** The fused forward's output; required with relu (same shape and layout as x), refused without it. */
  y?: Tensor;
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

/** The relu option: a boolean, true only where the CPU kernels fuse it. */
function checkRelu(op: string, relu: unknown, x: Tensor): boolean {
  if (relu === undefined || relu === false) return false;
  if (relu !== true) throw expected('RN_INVALID_ARGUMENT', op, 'relu', 'a boolean', String(relu));
  if (x.device.kind !== 'cpu') {
    throw expected('RN_INVALID_ARGUMENT', op, 'relu', 'false on ' + x.device.kind + ' (the fused ReLU is CPU only)', 'true');
  }
  return true;
}

/** The op's attributes, with relu only when set (backends without the fused kernels refuse the attribute). */
function withRelu<T extends object>(attrs: T, relu: boolean): T | (T & { relu: boolean }) {
  return relu ? { ...attrs, relu } : attrs;
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
  checkOptions(op, options, ['momentum', 'eps', 'relu']);
  const channels = checkChannelVectors(op, x, { gamma, beta, runningMean, runningVar });
  const relu = checkRelu(op, options.relu, x);
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
    withRelu({ eps, momentum }, relu),
  );
  return { y, saveMean, saveInvStd };
}

/** y = (x - runningMean)/sqrt(runningVar + eps)·gamma + beta per channel (max(0, y) with relu). */
export async function batchNormInference(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  options: BatchNormInferenceOptions = {},
): Promise<Tensor> {
  const op = 'batchNormInference';
  checkOptions(op, options, ['eps', 'relu']);
  checkChannelVectors(op, x, { gamma, beta, runningMean, runningVar });
  const relu = checkRelu(op, options.relu, x);
  const eps = checkEps(op, options.eps);
  const [y] = await runOp(
    'batchnorm_forward_inference',
    [x, gamma, beta, runningMean, runningVar],
    [{ shape: x.shape }],
    withRelu({ eps }, relu),
  );
  return y;
}

/**
 * Gradients of training-mode batch norm from the forward's saveMean and saveInvStd. `eps` must match the forward's;
 * the CPU kernel does not need it (saveInvStd already includes it) but the op carries it for backends that do.
 * With `relu: true` and the fused forward's output `y`, dy is the gradient of y and the result that of BN+ReLU.
 */
export async function batchNormBackward(
  x: Tensor,
  dy: Tensor,
  gamma: Tensor,
  saveMean: Tensor,
  saveInvStd: Tensor,
  options: BatchNormBackwardOptions = {},
): Promise<BatchNormGradients> {
  const op = 'batchNormBackward';
  checkOptions(op, options, ['eps', 'relu', 'y']);
  const channels = checkChannelVectors(op, x, { gamma, saveMean, saveInvStd });
  checkTensor(op, 'dy', dy);
  checkSameShape(op, ['x', 'dy'], [x, dy]);
  const relu = checkRelu(op, options.relu, x);
  const inputs: Tensor[] = [x, dy, gamma, saveMean, saveInvStd];
  if (relu) {
    if (options.y === undefined) {
      throw expected('RN_INVALID_ARGUMENT', op, 'y', 'the fused forward\'s output with relu: true', 'none');
    }
    const y = checkTensor(op, 'y', options.y);
    checkSameShape(op, ['x', 'y'], [x, y]);
    if (y.layout !== x.layout) {
      throw expected('RN_INVALID_ARGUMENT', op, `y (${describe(y)})`, `layout ${x.layout} (as x)`, y.layout);
    }
    inputs.push(y);
  } else if (options.y !== undefined) {
    throw expected('RN_INVALID_ARGUMENT', op, 'y', 'no tensor without relu: true', options.y instanceof Tensor ? describe(options.y) : typeof options.y);
  }
  const eps = checkEps(op, options.eps);
  const [dx, dgamma, dbeta] = await runOp(
    'batchnorm_backward',
    inputs,
    [{ shape: x.shape }, { shape: [channels] }, { shape: [channels] }],
    withRelu({ eps }, relu),
  );
  return { dx, dgamma, dbeta };
}
