// Conv2d: weight [out, in, kh, kw] with fb.resnet.torch's He init on fan-out; no bias by default, as there.
import type { Graph } from '../graph/graph.js';
import { checkInt, checkOptions, checkPair } from '../ops/validate.js';
import { constant, normal } from './init.js';
import { Module } from './module.js';

export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  dilation?: number | [number, number];
  /** Default false: a BN follows every conv in a ResNet, so a bias would be redundant. */
  bias?: boolean;
}

export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly bias: boolean;

  constructor(inChannels: number, outChannels: number, kernel: number | [number, number], options: Conv2dOptions = {}) {
    super();
    const op = 'Conv2d';
    checkOptions(op, options, ['stride', 'padding', 'dilation', 'bias']);
    this.inChannels = checkInt(op, 'inChannels', inChannels, 1);
    this.outChannels = checkInt(op, 'outChannels', outChannels, 1);
    this.kernel = checkPair(op, 'kernel', kernel, 1);
    this.stride = checkPair(op, 'stride', options.stride ?? 1, 1);
    this.padding = checkPair(op, 'padding', options.padding ?? 0, 0);
    this.dilation = checkPair(op, 'dilation', options.dilation ?? 1, 1);
    this.bias = options.bias ?? false;
    const [kh, kw] = this.kernel;
    const shape = [outChannels, inChannels, kh, kw];
    const std = Math.sqrt(2 / (kh * kw * outChannels));
    this.addParam('weight', { shape, noWeightDecay: false, init: (rng) => normal(rng, outChannels * inChannels * kh * kw, std) });
    if (this.bias) this.addParam('bias', { shape: [outChannels], noWeightDecay: true, init: () => constant(outChannels, 0) });
  }

  forward(g: Graph, x: number): number {
    const b = this.bias ? this.paramValue(g, 'bias') : undefined;
    return g.conv2d(x, this.paramValue(g, 'weight'), b, { stride: this.stride, padding: this.padding, dilation: this.dilation });
  }
}
