// Optimizer updates with torch.optim's (PyTorch 2.x) semantics, in place on float32 tensors of one shape.
//
// Each wrapper writes `param` and its state buffers in place and resolves when the update has run. The
// learning rate and the step (1 at the first update) travel in a float32[2] `hyper` input, so the one-op
// program is reused when the schedule changes; the other hyper-parameters are attributes of the native op.
// State buffers start as zeros (Adagrad's stateSum as torch's initial_accumulator_value: the caller fills
// it). SGD's momentum buffer is overwritten at step 1, as torch creates it from the first gradient.
//
// Defaults are torch.optim's, except SGD's, which are fb.resnet.torch's (momentum 0.9, Nesterov, dampening 0,
// weight decay 1e-4). lr and step have no default.
import { expected } from '../runtime/errors.js';
import { Tensor } from '../runtime/tensor.js';
import type { Attrs } from './eager.js';
import { runOp } from './eager.js';
import { checkInt, checkNumber, checkOptions, checkSameShape, checkTensor } from './validate.js';

/** What changes from one update to the next: the learning rate and the step, 1 at the first update. */
export interface UpdateStep {
  lr: number;
  step: number;
}

export interface SgdOptions extends UpdateStep {
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export interface RmspropOptions extends UpdateStep {
  alpha?: number;
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  centered?: boolean;
  /** The centered variant's running mean of the gradient: required exactly when `centered`. */
  gradAvg?: Tensor;
}

export interface AdadeltaOptions extends UpdateStep {
  rho?: number;
  eps?: number;
  weightDecay?: number;
}

export interface AdagradOptions extends UpdateStep {
  lrDecay?: number;
  eps?: number;
  weightDecay?: number;
}

export interface AdamOptions extends UpdateStep {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Adam: L2 penalty added to the gradient; AdamW: decoupled decay, param *= 1 − lr·weightDecay. */
  weightDecay?: number;
  amsgrad?: boolean;
  /** AMSGrad's running maximum of expAvgSq: required exactly when `amsgrad`. */
  maxExpAvgSq?: Tensor;
}

/** The defaults each wrapper applies (torch.optim's; SGD's from fb.resnet.torch). */
export const optimDefaults = Object.freeze({
  sgd: Object.freeze({ momentum: 0.9, dampening: 0, weightDecay: 1e-4, nesterov: true }),
  rmsprop: Object.freeze({ alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false }),
  adadelta: Object.freeze({ rho: 0.9, eps: 1e-6, weightDecay: 0 }),
  adagrad: Object.freeze({ lrDecay: 0, eps: 1e-10, weightDecay: 0 }),
  adam: Object.freeze({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, amsgrad: false }),
  adamw: Object.freeze({ beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2, amsgrad: false }),
});

const STEP_KEYS = ['lr', 'step'] as const;
// float32 holds every integer up to 2^24 exactly, and the step travels as float32.
const MAX_STEP = 2 ** 24;
const MAX_F32 = 3.4028234663852886e38;

function checkBool(op: string, name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw expected('RN_INVALID_ARGUMENT', op, name, 'a boolean', String(value));
  return value;
}

function checkPositive(op: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw expected('RN_INVALID_ARGUMENT', op, name, 'a finite number > 0', String(value));
  }
  return value;
}

function checkBeta(op: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 1) {
    throw expected('RN_INVALID_ARGUMENT', op, name, 'a number in [0, 1)', String(value));
  }
  return value;
}

/** Checks the options object, lr (finite, ≥ 0, as torch allows a zero rate) and step (an integer ≥ 1). */
function checkStep(op: string, options: unknown, known: readonly string[]): UpdateStep {
  if (typeof options !== 'object' || options === null) {
    throw expected('RN_INVALID_ARGUMENT', op, 'options', 'an object with lr and step', String(options));
  }
  checkOptions(op, options, [...STEP_KEYS, ...known]);
  const { lr, step } = options as Partial<UpdateStep>;
  checkNumber(op, 'lr', lr, 0, MAX_F32);
  checkInt(op, 'step', step, 1);
  if ((step as number) > MAX_STEP) {
    throw expected('RN_INVALID_ARGUMENT', op, 'step', `an integer ≤ 2^24 (it travels as float32)`, String(step));
  }
  return { lr: lr as number, step: step as number };
}

/** Checks the buffers: live float32 tensors, one shape, one device, no tensor passed twice. */
function checkBuffers(op: string, names: readonly string[], tensors: readonly unknown[]): Tensor[] {
  const checked = tensors.map((t, i) => checkTensor(op, names[i], t));
  checkSameShape(op, names, checked);
  checked.forEach((t, i) => {
    if (t.device !== checked[0].device) {
      throw expected('RN_INVALID_ARGUMENT', op, names[i], `a tensor on ${checked[0].device} (as ${names[0]})`, `${t.device}`);
    }
    const first = checked.indexOf(t);
    if (first !== i) {
      throw expected('RN_INVALID_ARGUMENT', op, names[i], `a tensor distinct from ${names[first]}`, 'the same tensor');
    }
  });
  return checked;
}

/** A buffer the variant needs exactly when `enabled`: present and checked, or absent. */
function optionalBuffer(op: string, name: string, value: unknown, enabled: boolean, flag: string): Tensor | undefined {
  if (enabled) {
    if (value === undefined) {
      throw expected('RN_INVALID_ARGUMENT', op, name, `a Tensor (${flag} keeps this state buffer)`, 'undefined');
    }
    return value as Tensor;
  }
  if (value !== undefined) {
    throw expected('RN_INVALID_ARGUMENT', op, name, `undefined (it is used only with ${flag}: true)`, 'a value');
  }
  return undefined;
}

/** Runs `op` on (buffers…, hyper) → (param, states…), all outputs in place; frees the hyper tensor after. */
async function runUpdate(op: string, buffers: readonly Tensor[], { lr, step }: UpdateStep, attrs: Attrs): Promise<void> {
  const hyper = Tensor.fromArray(Float32Array.of(lr, step), [2], { device: buffers[0].device });
  try {
    // Outputs: param and every state buffer, i.e. all buffers but the gradient (index 1).
    const outputs = buffers.filter((_, i) => i !== 1);
    await runOp(op, [...buffers, hyper], outputs, attrs);
  } finally {
    hyper.dispose();
  }
}

/**
 * SGD (torch.optim.SGD): g = grad + wd·param; with momentum, buf = g at step 1, else
 * momentum·buf + (1 − dampening)·g, and g = nesterov ? g + momentum·buf : buf; param −= lr·g.
 * momentumBuf is required even with momentum 0 (then it is left untouched).
 */
export async function sgdUpdate(param: Tensor, grad: Tensor, momentumBuf: Tensor, options: SgdOptions): Promise<void> {
  const op = 'sgdUpdate';
  const step = checkStep(op, options, ['momentum', 'dampening', 'weightDecay', 'nesterov']);
  const o = { ...optimDefaults.sgd, ...definedOnly(options) };
  const buffers = checkBuffers(op, ['param', 'grad', 'momentumBuf'], [param, grad, momentumBuf]);
  checkNumber(op, 'momentum', o.momentum, 0);
  checkNumber(op, 'dampening', o.dampening);
  checkNumber(op, 'weightDecay', o.weightDecay, 0);
  checkBool(op, 'nesterov', o.nesterov);
  if (o.nesterov && (o.momentum <= 0 || o.dampening !== 0)) {
    throw expected(
      'RN_INVALID_ARGUMENT',
      op,
      'nesterov',
      'momentum > 0 and dampening 0 (pass nesterov: false otherwise)',
      `momentum ${o.momentum}, dampening ${o.dampening}`,
    );
  }
  await runUpdate('sgd_update', buffers, step, {
    momentum: o.momentum,
    dampening: o.dampening,
    weight_decay: o.weightDecay,
    nesterov: o.nesterov,
  });
}

/**
 * RMSprop (torch.optim.RMSprop): square_avg = α·square_avg + (1 − α)·g²; centered subtracts grad_avg²
 * (grad_avg a running mean of g, passed as options.gradAvg); with momentum, buf = momentum·buf + g/(√· + eps)
 * and param −= lr·buf, else param −= lr·g/(√· + eps). momentumBuf is required even with momentum 0.
 */
export async function rmspropUpdate(
  param: Tensor,
  grad: Tensor,
  squareAvg: Tensor,
  momentumBuf: Tensor,
  options: RmspropOptions,
): Promise<void> {
  const op = 'rmspropUpdate';
  const step = checkStep(op, options, ['alpha', 'eps', 'weightDecay', 'momentum', 'centered', 'gradAvg']);
  const o = { ...optimDefaults.rmsprop, ...definedOnly(options) };
  checkBool(op, 'centered', o.centered);
  const gradAvg = optionalBuffer(op, 'gradAvg', options.gradAvg, o.centered, 'centered');
  const names = ['param', 'grad', 'squareAvg', 'momentumBuf', ...(gradAvg ? ['gradAvg'] : [])];
  const buffers = checkBuffers(op, names, [param, grad, squareAvg, momentumBuf, ...(gradAvg ? [gradAvg] : [])]);
  checkNumber(op, 'alpha', o.alpha, 0, 1);
  checkPositive(op, 'eps', o.eps);
  checkNumber(op, 'weightDecay', o.weightDecay, 0);
  checkNumber(op, 'momentum', o.momentum, 0);
  await runUpdate('rmsprop_update', buffers, step, {
    alpha: o.alpha,
    eps: o.eps,
    weight_decay: o.weightDecay,
    momentum: o.momentum,
    centered: o.centered,
  });
}

/**
 * Adadelta (torch.optim.Adadelta): square_avg = ρ·square_avg + (1 − ρ)·g²;
 * delta = √(acc_delta + eps)/√(square_avg + eps)·g; acc_delta = ρ·acc_delta + (1 − ρ)·delta²; param −= lr·delta.
 */
export async function adadeltaUpdate(
  param: Tensor,
  grad: Tensor,
  squareAvg: Tensor,
  accDelta: Tensor,
  options: AdadeltaOptions,
): Promise<void> {
  const op = 'adadeltaUpdate';
  const step = checkStep(op, options, ['rho', 'eps', 'weightDecay']);
  const o = { ...optimDefaults.adadelta, ...definedOnly(options) };
  const buffers = checkBuffers(op, ['param', 'grad', 'squareAvg', 'accDelta'], [param, grad, squareAvg, accDelta]);
  checkNumber(op, 'rho', o.rho, 0, 1);
  checkPositive(op, 'eps', o.eps);
  checkNumber(op, 'weightDecay', o.weightDecay, 0);
  await runUpdate('adadelta_update', buffers, step, { rho: o.rho, eps: o.eps, weight_decay: o.weightDecay });
}

/**
 * Adagrad (torch.optim.Adagrad): state_sum += g²; param −= clr·g/(√state_sum + eps) with
 * clr = lr/(1 + (step − 1)·lrDecay). torch's initial_accumulator_value is the caller's fill of stateSum.
 */
export async function adagradUpdate(param: Tensor, grad: Tensor, stateSum: Tensor, options: AdagradOptions): Promise<void> {
  const op = 'adagradUpdate';
  const step = checkStep(op, options, ['lrDecay', 'eps', 'weightDecay']);
  const o = { ...optimDefaults.adagrad, ...definedOnly(options) };
  const buffers = checkBuffers(op, ['param', 'grad', 'stateSum'], [param, grad, stateSum]);
  checkNumber(op, 'lrDecay', o.lrDecay, 0);
  checkPositive(op, 'eps', o.eps);
  checkNumber(op, 'weightDecay', o.weightDecay, 0);
  await runUpdate('adagrad_update', buffers, step, { lr_decay: o.lrDecay, eps: o.eps, weight_decay: o.weightDecay });
}

async function adamLike(
  op: string,
  nativeOp: string,
  defaults: { beta1: number; beta2: number; eps: number; weightDecay: number; amsgrad: boolean },
  param: Tensor,
  grad: Tensor,
  expAvg: Tensor,
  expAvgSq: Tensor,
  options: AdamOptions,
): Promise<void> {
  const step = checkStep(op, options, ['beta1', 'beta2', 'eps', 'weightDecay', 'amsgrad', 'maxExpAvgSq']);
  const o = { ...defaults, ...definedOnly(options) };
  checkBool(op, 'amsgrad', o.amsgrad);
  const maxExpAvgSq = optionalBuffer(op, 'maxExpAvgSq', options.maxExpAvgSq, o.amsgrad, 'amsgrad');
  const names = ['param', 'grad', 'expAvg', 'expAvgSq', ...(maxExpAvgSq ? ['maxExpAvgSq'] : [])];
  const buffers = checkBuffers(op, names, [param, grad, expAvg, expAvgSq, ...(maxExpAvgSq ? [maxExpAvgSq] : [])]);
  checkBeta(op, 'beta1', o.beta1);
  checkBeta(op, 'beta2', o.beta2);
  checkPositive(op, 'eps', o.eps);
  checkNumber(op, 'weightDecay', o.weightDecay, 0);
  await runUpdate(nativeOp, buffers, step, {
    beta1: o.beta1,
    beta2: o.beta2,
    eps: o.eps,
    weight_decay: o.weightDecay,
    amsgrad: o.amsgrad,
  });
}

/**
 * Adam (torch.optim.Adam): g = grad + wd·param; exp_avg = lerp(exp_avg, g, 1 − β1);
 * exp_avg_sq = β2·exp_avg_sq + (1 − β2)·g²; param −= lr/(1 − β1^step)·exp_avg/(√exp_avg_sq/√(1 − β2^step) + eps).
 * amsgrad: true normalises by the running maximum of exp_avg_sq, kept in options.maxExpAvgSq.
 */
export async function adamUpdate(
  param: Tensor,
  grad: Tensor,
  expAvg: Tensor,
  expAvgSq: Tensor,
  options: AdamOptions,
): Promise<void> {
  await adamLike('adamUpdate', 'adam_update', optimDefaults.adam, param, grad, expAvg, expAvgSq, options);
}

/** AdamW (torch.optim.AdamW): param *= 1 − lr·weightDecay (default 1e-2), then Adam's step without L2. */
export async function adamwUpdate(
  param: Tensor,
  grad: Tensor,
  expAvg: Tensor,
  expAvgSq: Tensor,
  options: AdamOptions,
): Promise<void> {
  await adamLike('adamwUpdate', 'adamw_update', optimDefaults.adamw, param, grad, expAvg, expAvgSq, options);
}

/** The options without keys set to undefined, so `{ momentum: undefined }` keeps the default. */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}
