// Optimizer choices for training programs: user options → the native update op over the flat buffers.
import type { OptimizerSpec } from '../graph/compile.js';
import { expected } from '../runtime/errors.js';

export type OptimizerName = 'sgd' | 'rmsprop' | 'adadelta' | 'adagrad' | 'adam' | 'adamw';
export const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'rmsprop', 'adadelta', 'adagrad', 'adam', 'adamw'];

export interface OptimizerOptions {
  name: OptimizerName;
  /** SGD and RMSprop momentum (fb.resnet.torch: 0.9). */
  momentum?: number;
  dampening?: number;
  /** fb.resnet.torch: Nesterov SGD. */
  nesterov?: boolean;
  weightDecay?: number;
  /** false: no weight decay on BN γ/β and biases (fb.resnet.torch decays everything). */
  decayNormAndBias?: boolean;
  alpha?: number;
  rho?: number;
  eps?: number;
  beta1?: number;
  beta2?: number;
  centered?: boolean;
  lrDecay?: number;
}

/** The native op, its state count and attributes; weight decay applies to the decayed group only. */
export function optimizerSpec(o: OptimizerOptions): OptimizerSpec {
  const wd = o.weightDecay ?? 1e-4;
  switch (o.name) {
    case 'sgd': {
      const momentum = o.momentum ?? 0.9;
      const nesterov = o.nesterov ?? momentum > 0;
      return { op: 'sgd_update', states: 1, attrs: { momentum, dampening: o.dampening ?? 0, weight_decay: wd, nesterov } };
    }
    case 'rmsprop':
      return {
        op: 'rmsprop_update',
        states: o.centered ? 3 : 2,
        attrs: { alpha: o.alpha ?? 0.99, eps: o.eps ?? 1e-8, weight_decay: wd, momentum: o.momentum ?? 0, centered: o.centered ?? false },
      };
    case 'adadelta':
      return { op: 'adadelta_update', states: 2, attrs: { rho: o.rho ?? 0.9, eps: o.eps ?? 1e-6, weight_decay: wd } };
    case 'adagrad':
      return { op: 'adagrad_update', states: 1, attrs: { lr_decay: o.lrDecay ?? 0, eps: o.eps ?? 1e-10, weight_decay: wd } };
    case 'adam':
    case 'adamw':
      return {
        op: `${o.name}_update`,
        states: 2,
        attrs: { beta1: o.beta1 ?? 0.9, beta2: o.beta2 ?? 0.999, eps: o.eps ?? 1e-8, weight_decay: wd, amsgrad: false },
      };
    default:
      throw expected('RN_INVALID_ARGUMENT', 'optimizer', 'name', OPTIMIZERS.join('|'), String((o as { name: unknown }).name));
  }
}
