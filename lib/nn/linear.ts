// Linear (Torch's default U(±1/√fanIn) weights, zero bias as fb.resnet.torch sets it) and Flatten.
import type { Graph } from '../graph/graph.js';
import { checkInt, checkOptions } from '../ops/validate.js';
import { constant, uniform } from './init.js';
import { Module } from './module.js';

export interface LinearOptions {
  /** Default true. */
  bias?: boolean;
}

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    checkOptions('Linear', options, ['bias']);
    const fanIn = (this.inFeatures = checkInt('Linear', 'inFeatures', inFeatures, 1));
    const out = (this.outFeatures = checkInt('Linear', 'outFeatures', outFeatures, 1));
    this.bias = options.bias ?? true;
    const bound = 1 / Math.sqrt(fanIn);
    this.addParam('weight', { shape: [out, fanIn], noWeightDecay: false, init: (rng) => uniform(rng, out * fanIn, bound) });
    if (this.bias) this.addParam('bias', { shape: [out], noWeightDecay: true, init: () => constant(out, 0) });
  }

  forward(g: Graph, x: number): number {
    return g.linear(x, this.paramValue(g, 'weight'), this.bias ? this.paramValue(g, 'bias') : undefined);
  }
}

/** [N, d1, d2, …] → [N, d1·d2·…]; a 2-D input passes through unchanged. */
export class Flatten extends Module {
  forward(g: Graph, x: number): number {
    const [n, ...rest] = g.shape(x);
    if (rest.length === 1) return x;
    return g.reshape(x, [n, rest.reduce((a, b) => a * b, 1)]);
  }
}
