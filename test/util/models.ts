// A small residual network with batch norms, ReLUs, a max pool, both shortcut kinds, global pooling and a
// classifier: every gradient rule a ResNet uses, at a size finite differences can afford.
import { BatchNorm2d, Conv2d, GlobalAvgPool, Linear, MaxPool2d, ReLU, Residual, Sequential, ShortcutA } from '../../lib/nn/index.js';
import type { Module } from '../../lib/nn/module.js';

export const smallResNetClasses = 5;

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
    ['fc', new Linear(8, smallResNetClasses)],
  ]);
}

