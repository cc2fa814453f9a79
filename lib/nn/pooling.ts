// Pooling modules: max and average windows (Torch's SpatialMax/AveragePooling) and global average pooling.
import type { Graph } from '../graph/graph.js';
import { checkOptions, checkPair } from '../ops/validate.js';
import { Module } from './module.js';

export interface Pool2dOptions {
  /** Defaults to the kernel size. */
  stride?: number | [number, number];
  padding?: number | [number, number];
  ceilMode?: boolean;
}

export interface AvgPool2dOptions extends Pool2dOptions {
  /** Whether padded zeros count in the divisor; default true (Torch and PyTorch). */
  countIncludePad?: boolean;
}

abstract class Pool2d extends Module {
  readonly kernel: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly ceilMode: boolean;

  constructor(op: string, kernel: number | [number, number], options: Pool2dOptions, known: string[]) {
    super();
    checkOptions(op, options, known);
    this.kernel = checkPair(op, 'kernel', kernel, 1);
    this.stride = checkPair(op, 'stride', options.stride ?? this.kernel, 1);
    this.padding = checkPair(op, 'padding', options.padding ?? 0, 0);
    this.ceilMode = options.ceilMode ?? false;
  }
}

export class MaxPool2d extends Pool2d {
  constructor(kernel: number | [number, number], options: Pool2dOptions = {}) {
    super('MaxPool2d', kernel, options, ['stride', 'padding', 'ceilMode']);
  }

  forward(g: Graph, x: number): number {
    return g.maxPool2d(x, { kernel: this.kernel, stride: this.stride, padding: this.padding, ceilMode: this.ceilMode });
  }
}

export class AvgPool2d extends Pool2d {
  readonly countIncludePad: boolean;

  constructor(kernel: number | [number, number], options: AvgPool2dOptions = {}) {
    super('AvgPool2d', kernel, options, ['stride', 'padding', 'ceilMode', 'countIncludePad']);
    this.countIncludePad = options.countIncludePad ?? true;
  }

  forward(g: Graph, x: number): number {
    return g.avgPool2d(x, {
      kernel: this.kernel,
      stride: this.stride,
      padding: this.padding,
      ceilMode: this.ceilMode,
      countIncludePad: this.countIncludePad,
    });
  }
}

/** [N,C,H,W] → [N,C]: the 7×7 (ImageNet) or 8×8 (CIFAR) average pool plus View, for any input size. */
export class GlobalAvgPool extends Module {
  forward(g: Graph, x: number): number {
    return g.globalAvgPool(x);
  }
}
