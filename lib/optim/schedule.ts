// Learning-rate schedules, set once per epoch (fb.resnet.torch) or per step (warm-up): pure functions.
import { ResnetError, expected } from '../runtime/errors.js';

export type ScheduleName = 'fb' | 'step' | 'multistep' | 'cosine' | 'constant';

export interface ScheduleOptions {
  name: ScheduleName;
  /** Base learning rate. */
  lr: number;
  /** Total epochs (cosine's length; fb's default when 0). */
  epochs: number;
  /** 'fb': which recipe — imagenet: ÷10 every 30 epochs; cifar: ÷10 at 81 and 122 (of 164). */
  dataset?: 'imagenet' | 'cifar10' | 'cifar100' | 'digits' | 'folder';
  /** 'multistep': epochs (1-based) at which the rate is multiplied by `gamma`; 'step': every `stepSize` epochs. */
  milestones?: readonly number[];
  stepSize?: number;
  gamma?: number;
  /** Linear warm-up over this many epochs (fractional allowed), from lr·warmupStart to lr. */
  warmupEpochs?: number;
  warmupStart?: number;
  /** Cosine floor. */
  minLr?: number;
}

/**
 * The learning rate for `epoch` (1-based), at fraction `progress` ∈ [0,1) through it (for warm-up).
 * fb.resnet.torch: the rate is constant within an epoch.
 */
export function learningRate(s: ScheduleOptions, epoch: number, progress = 0): number {
  const gamma = s.gamma ?? 0.1;
  let lr: number;
  switch (s.name) {
    case 'constant':
      lr = s.lr;
      break;
    case 'fb': {
      const recipe = s.dataset ?? 'imagenet';
      if (recipe === 'imagenet' || recipe === 'folder') {
        lr = s.lr * Math.pow(0.1, Math.floor((epoch - 1) / 30));
      } else {
        // CIFAR: 0.1 for epochs 1–80, 0.01 for 81–121, 0.001 from 122 (train.lua). The bundled digits run
        // is short, so its drops sit at the same fractions (81/164, 122/164) of the run.
        const scale = recipe === 'digits' && s.epochs > 0 ? s.epochs / 164 : 1;
        const decay = epoch >= Math.round(122 * scale) ? 2 : epoch >= Math.round(81 * scale) ? 1 : 0;
        lr = s.lr * Math.pow(0.1, decay);
      }
      break;
    }
    case 'step': {
      const size = s.stepSize ?? 30;
      lr = s.lr * Math.pow(gamma, Math.floor((epoch - 1) / size));
      break;
    }
    case 'multistep': {
      const passed = (s.milestones ?? []).filter((m) => epoch >= m).length;
      lr = s.lr * Math.pow(gamma, passed);
      break;
    }
    case 'cosine': {
      const t = Math.min(1, (epoch - 1 + progress) / Math.max(1, s.epochs));
      const floor = s.minLr ?? 0;
      lr = floor + ((s.lr - floor) * (1 + Math.cos(Math.PI * t))) / 2;
      break;
    }
    default:
      throw new ResnetError('RN_INVALID_ARGUMENT', `unknown schedule '${String((s as { name: unknown }).name)}'`, 'learningRate');
  }
  const warm = s.warmupEpochs ?? 0;
  const at = epoch - 1 + progress;
  if (warm > 0 && at < warm) {
    const start = s.warmupStart ?? 0.01;
    lr *= start + ((1 - start) * at) / warm;
  }
  return lr;
}

export function checkSchedule(s: ScheduleOptions): ScheduleOptions {
  if (!(s.lr > 0) || !Number.isFinite(s.lr)) throw expected('RN_INVALID_ARGUMENT', 'schedule', 'lr', 'a positive number', String(s.lr));
  for (const m of s.milestones ?? []) {
    if (!Number.isInteger(m) || m < 1) throw expected('RN_INVALID_ARGUMENT', 'schedule', 'milestones', 'epochs ≥ 1', String(m));
  }
  return s;
}
