// BatchNorm2d: γ, β and running statistics under torchvision's names, plus its int64 num_batches_tracked.
import type { Graph } from '../graph/graph.js';
import { checkInt, checkNumber, checkOptions } from '../ops/validate.js';
import { constant } from './init.js';
import { Module } from './module.js';

export interface BatchNorm2dOptions {
  /** Default 1e-5 (Torch and PyTorch). */
  eps?: number;
  /** Weight of the batch statistic in the running average; default 0.1 (Torch and PyTorch). */
  momentum?: number;
  /** Initial γ; default 1. 0 makes a residual branch start as the zero function. */
  initGamma?: number;
}

export class BatchNorm2d extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;
  readonly initGamma: number;

  constructor(numFeatures: number, options: BatchNorm2dOptions = {}) {
    super();
    const op = 'BatchNorm2d';
    checkOptions(op, options, ['eps', 'momentum', 'initGamma']);
    const c = (this.numFeatures = checkInt(op, 'numFeatures', numFeatures, 1));
    this.eps = checkNumber(op, 'eps', options.eps ?? 1e-5, Number.MIN_VALUE);
    this.momentum = checkNumber(op, 'momentum', options.momentum ?? 0.1, 0, 1);
    const gamma = (this.initGamma = checkNumber(op, 'initGamma', options.initGamma ?? 1));
    this.addParam('weight', { shape: [c], noWeightDecay: true, init: () => constant(c, gamma) });
    this.addParam('bias', { shape: [c], noWeightDecay: true, init: () => constant(c, 0) });
    this.addBuffer('running_mean', { shape: [c], dtype: 'float32', traced: true, init: () => constant(c, 0) });
    this.addBuffer('running_var', { shape: [c], dtype: 'float32', traced: true, init: () => constant(c, 1) });
    // torchvision's 0-d step counter; the trainer advances it, no kernel reads it (momentum is fixed).
    this.addBuffer('num_batches_tracked', { shape: [], dtype: 'int64', traced: false, init: () => new BigInt64Array(1) });
  }

  forward(g: Graph, x: number): number {
    return g.batchNorm(
      x,
      this.paramValue(g, 'weight'),
      this.paramValue(g, 'bias'),
      this.bufferValue(g, 'running_mean'),
      this.bufferValue(g, 'running_var'),
      { eps: this.eps, momentum: this.momentum, inference: !this.trainingIn(g) },
    );
  }
}
