// A small residual network with batch norms in every kind of place, and its inputs, for the data-parallel tests.
import { BatchNorm2d, Conv2d, GlobalAvgPool, Linear, MaxPool2d, ReLU, Residual, Sequential, ShortcutA } from '../../lib/nn/index.js';
import type { Module } from '../../lib/nn/module.js';
import { optimizerSpec } from '../../lib/optim/optimizers.js';
import { randint, randn } from '../util/random.js';

export const inputShape = [3, 8, 8] as const;
export const classes = 5;
export const optimizer = optimizerSpec({ name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-4 });

export function smallResNet(): Module {
  const block = (cin: number, cout: number, stride: number) =>
    new Residual({
      branch: [
        ['conv1', new Conv2d(cin, cout, 3, { stride, padding: 1 })],
        ['bn1', new BatchNorm2d(cout)],
        ['relu', new ReLU()],
        ['conv2', new Conv2d(cout, cout, 3, { padding: 1 })],
        ['bn2', new BatchNorm2d(cout)],
      ],
      shortcut: cin === cout && stride === 1 ? undefined : ['downsample', new ShortcutA(cin, cout, stride)],
      post: [['relu2', new ReLU()]],
    });
  return new Sequential([
    ['conv1', new Conv2d(3, 4, 3, { padding: 1 })],
    ['bn1', new BatchNorm2d(4)],
    ['relu', new ReLU()],
    ['pool', new MaxPool2d(2, { stride: 1 })],
    ['layer1', block(4, 4, 1)],
    ['layer2', block(4, 8, 2)],
    ['avgpool', new GlobalAvgPool()],
    ['fc', new Linear(8, classes)],
  ]);
}

/** A batch of `size` images (mean 0.5, so the first statistics are not centred) and labels. */
export function batchOf(size: number, seed: number): { x: Float32Array; labels: Int32Array } {
  const per = inputShape.reduce((a, b) => a * b, 1);
  return { x: Float32Array.from(randn(size * per, seed), (v) => v + 0.5), labels: randint(size, seed + 1, classes) };
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}
