// Our ResNet-18/50 against torchvision's: state-dict keys, shapes and dtypes, per-module output shapes at
// 160×192, multiply-adds and zero_init_residual. Fixtures come from scripts/gen-torchvision-keys.py.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { resnet } from '../../lib/models/index.js';
import { BatchNorm2d, trace } from '../../lib/nn/index.js';

interface TorchvisionFixture {
  torchvision: string;
  model: string;
  params: number;
  stateDict: Array<[string, number[], string]>;
  input: number[];
  moduleOutputs: Record<string, number[]>;
  macs: number;
  zeroInitResidualKeys: string[];
}

function fixture(model: string): TorchvisionFixture {
  const path = fileURLToPath(new URL(`../fixtures/torchvision-${model}.json`, import.meta.url));
  return JSON.parse(readFileSync(path, 'utf8')) as TorchvisionFixture;
}

describe.each([
  ['resnet18', 18],
  ['resnet50', 50],
])('torchvision %s', (name, depth) => {
  const reference = fixture(name);
  const model = resnet({ depth });

  it('has the same state-dict keys, in the same order, with the same shapes and dtypes', () => {
    const shapes = new Map<string, [number[], string]>();
    for (const p of model.namedParameters()) shapes.set(p.name, [[...p.shape], 'float32']);
    for (const b of model.namedBuffers()) shapes.set(b.name, [[...b.shape], b.dtype]);
    const ours = model.stateDictKeys().map((key) => [key, ...shapes.get(key)!]);
    expect(ours).toEqual(reference.stateDict);
    expect(model.numParameters()).toBe(reference.params);
  });

  it('gives every conv, BN, max-pool and fc the output shape torchvision gives at 160×192', () => {
    const [batch, ...inputShape] = reference.input;
    const { graph } = trace(model, inputShape, { batch, mode: 'eval' });
    const ours: Record<string, number[]> = {};
    for (const node of graph.nodes) {
      if (node.module && node.module in reference.moduleOutputs && !(node.module in ours)) ours[node.module] = graph.shape(node.outputs[0]);
    }
    expect(ours).toEqual(reference.moduleOutputs);
    expect(graph.macs()).toBe(reference.macs);
  });

  it('zeroInitLastBN zeroes the BNs that zero_init_residual zeroes', () => {
    const zeroed = [...resnet({ depth, zeroInitLastBN: true }).namedModules()]
      .filter(([, m]) => m instanceof BatchNorm2d && m.initGamma === 0)
      .map(([path]) => `${path}.weight`);
    expect(zeroed).toEqual(reference.zeroInitResidualKeys);
  });
});
