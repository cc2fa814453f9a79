// ResNet family: published parameter counts and multiply-adds, shapes for every depth and variant, structure, errors.
import { describe, expect, it } from 'vitest';

import type { Graph, Node } from '../../lib/graph/graph.js';
import { modelInfo, resnet, type ResNetOptions } from '../../lib/models/index.js';
import { BatchNorm2d, trace } from '../../lib/nn/index.js';
import { rng } from '../util/random.js';

const IMAGENET_PARAMS: Array<[number, number]> = [
  [18, 11_689_512],
  [34, 21_797_672],
  [50, 25_557_032],
  [101, 44_549_160],
  [152, 60_192_808],
];

// numbers.md: CIFAR-10, shortcut A — parameters and forward multiply-adds (M) per 32×32 image.
const CIFAR: Array<[number, number, string]> = [
  [20, 269_722, '40.55'],
  [32, 464_154, '68.86'],
  [44, 658_586, '97.17'],
  [56, 853_018, '125.49'],
  [110, 1_727_962, '252.89'],
  [1202, 19_421_274, '2829.24'],
];

const IMAGENET_DEPTHS = [18, 34, 50, 101, 152, 200];

function nodeOf(g: Graph, module: string, op?: string): Node {
  const node = g.nodes.find((n) => n.module === module && (op === undefined || n.op === op));
  if (!node) throw new Error(`no ${op ?? 'node'} in module ${module}`);
  return node;
}

function consumers(g: Graph, value: number): Node[] {
  return g.nodes.filter((n) => n.inputs.includes(value));
}

function blockPaths(g: Graph): string[] {
  return g.nodes.filter((n) => n.op === 'add').map((n) => n.module!);
}

describe('parameter counts and multiply-adds', () => {
  it.each(IMAGENET_PARAMS)('ImageNet ResNet-%i has %i parameters (torchvision)', (depth, params) => {
    expect(resnet({ depth }).numParameters()).toBe(params);
  });

  it.each(CIFAR)('CIFAR-10 ResNet-%i (shortcut A) has %i parameters and %s M multiply-adds', (depth, params, macs) => {
    const info = modelInfo(resnet({ depth, dataset: 'cifar10' }), [3, 32, 32]);
    expect(info.params).toBe(params);
    expect((info.macsPerImage / 1e6).toFixed(2)).toBe(macs);
    expect(info.outputShape).toEqual([10]);
  });

  it('ResNet-50 is about 4.09 G multiply-adds at 224×224, and MACs scale with the batch', () => {
    const model = resnet({ depth: 50 });
    const info = modelInfo(model, [3, 224, 224]);
    expect(info.macsPerImage / 1e9).toBeCloseTo(4.09, 2);
    expect(trace(model, [3, 224, 224], { batch: 3, mode: 'eval' }).graph.macs()).toBe(3 * info.macsPerImage);
  });

  it('CIFAR-100 changes only the classifier', () => {
    expect(resnet({ depth: 20, dataset: 'cifar100' }).numParameters()).toBe(269_722 + 90 * 64 + 90);
  });

  it('pre-activation counts follow from the block layout', () => {
    // Same convs and classifier as the post-activation net; BN placement differs: preresnet has no stem BN,
    // each block's first BN sees the block's input channels, and one final BN sits before the pool.
    for (const depth of [20, 56, 110]) {
      const n = (depth - 2) / 6;
      const post = resnet({ depth, dataset: 'cifar10' }).numParameters();
      const pre = resnet({ depth, dataset: 'cifar10', netType: 'preresnet' }).numParameters();
      const bnFirstInStage = 2 * (16 - 32) + 2 * (32 - 64); // bn1 of layer2.0 / layer3.0 sees the narrower input
      expect(n).toBeGreaterThan(0);
      expect(pre).toBe(post - 2 * 16 + bnFirstInStage + 2 * 64);
    }
    // ResNet-200 (pre-activation, bottleneck {3,24,36,3}): the 64.7 M of the fb.resnet.torch release.
    expect(resnet({ depth: 200, netType: 'preresnet' }).numParameters() / 1e6).toBeCloseTo(64.67, 2);
  });
});

describe('output shapes for every depth and variant', () => {
  const inputs: Array<[number, number, number]> = [
    [224, 224, 7 * 7],
    [160, 192, 5 * 6],
    [97, 131, 4 * 5],
  ];

  for (const depth of IMAGENET_DEPTHS) {
    for (const netType of ['resnet', 'preresnet'] as const) {
      const shortcuts = depth < 50 ? (['A', 'B', 'C'] as const) : (['B', 'C'] as const);
      it.each(shortcuts)(`ImageNet ${netType}-${depth}, shortcut %s`, (shortcutType) => {
        const model = resnet({ depth, netType, shortcutType });
        const width = depth < 50 ? 512 : 2048;
        for (const [h, w, cells] of inputs) {
          for (const mode of ['train', 'eval'] as const) {
            const { graph, output } = trace(model, [3, h, w], { batch: 2, mode });
            expect(graph.shape(output)).toEqual([2, 1000]);
            const pool = graph.nodes.find((n) => n.op === 'global_avgpool_forward')!;
            const [n, c, ph, pw] = graph.shape(pool.inputs[0]);
            expect([n, c, ph * pw]).toEqual([2, width, cells]);
          }
        }
      });
    }
  }

  for (const netType of ['resnet', 'preresnet'] as const) {
    for (const shortcutType of ['A', 'B', 'C'] as const) {
      it.each([20, 32, 44, 56, 110, 1202])(`CIFAR ${netType}-%i, shortcut ${shortcutType}`, (depth) => {
        for (const [dataset, classes] of [['cifar10', 10], ['cifar100', 100]] as const) {
          const model = resnet({ depth, dataset, netType, shortcutType });
          const { graph, output } = trace(model, [3, 32, 32], { batch: 2 });
          expect(graph.shape(output)).toEqual([2, classes]);
          expect(blockPaths(graph)).toHaveLength(((depth - 2) / 6) * 3);
          const pool = graph.nodes.find((n) => n.op === 'global_avgpool_forward')!;
          expect(graph.shape(pool.inputs[0])).toEqual([2, 64, 8, 8]);
        }
      });
    }
  }

  it('CIFAR nets take other sizes (28×28 → 7×7 before the pool)', () => {
    const { graph, output } = trace(resnet({ depth: 20, dataset: 'cifar10' }), [3, 28, 28], { batch: 1 });
    expect(graph.shape(output)).toEqual([1, 10]);
    expect(graph.shape(nodeOf(graph, 'layer3.2', 'add').outputs[0])).toEqual([1, 64, 7, 7]);
  });

  it.each<[string, ResNetOptions]>([
    ['afterAdd', { depth: 34, bnPlacement: 'afterAdd' }],
    ['no ReLU after add', { depth: 50, reluAfterAdd: false }],
    ['afterAdd without ReLU', { depth: 20, dataset: 'cifar10', bnPlacement: 'afterAdd', reluAfterAdd: false }],
    ['1×1 stride', { depth: 101, bottleneckStride: '1x1' }],
    ['zero-γ', { depth: 152, zeroInitLastBN: true }],
    ['1 input channel, 7 classes', { depth: 18, inputChannels: 1, numClasses: 7 }],
  ])('ablation %s keeps shapes', (_, options) => {
    const model = resnet(options);
    const channels = options.inputChannels ?? 3;
    const size = options.dataset ? 32 : 160;
    const { graph, output } = trace(model, [channels, size, size + 32], { batch: 2 });
    expect(graph.shape(output)).toEqual([2, options.numClasses ?? (options.dataset ? 10 : 1000)]);
  });
});

describe('structure', () => {
  it('ImageNet stem: 7×7/2 conv, BN, ReLU, 3×3/2 max-pool (pad 1); head: global pool and fc', () => {
    const { graph } = trace(resnet({ depth: 18 }), [3, 224, 224], { batch: 1 });
    expect(graph.nodes.slice(0, 4).map((n) => [n.op, n.module])).toEqual([
      ['conv2d_forward', 'conv1'],
      ['batchnorm_forward_training', 'bn1'],
      ['relu_forward', 'relu'],
      ['maxpool2d_forward', 'maxpool'],
    ]);
    expect(graph.nodes[0].attrs).toEqual({ stride: [2, 2], padding: [3, 3], dilation: [1, 1] });
    expect(graph.nodes[3].attrs).toEqual({ kernel: [3, 3], stride: [2, 2], padding: [1, 1], ceil_mode: false });
    expect(graph.nodes.slice(-2).map((n) => [n.op, n.module])).toEqual([
      ['global_avgpool_forward', 'avgpool'],
      ['linear_forward', 'fc'],
    ]);
  });

  it('post-activation basic block: conv-BN-ReLU-conv-BN, add, ReLU', () => {
    const { graph } = trace(resnet({ depth: 34 }), [3, 64, 64]);
    const ops = graph.nodes.filter((n) => n.module?.startsWith('layer1.1')).map((n) => `${n.op}@${n.module}`);
    expect(ops).toEqual([
      'conv2d_forward@layer1.1.conv1',
      'batchnorm_forward_training@layer1.1.bn1',
      'relu_forward@layer1.1.relu1',
      'conv2d_forward@layer1.1.conv2',
      'batchnorm_forward_training@layer1.1.bn2',
      'add@layer1.1',
      'relu_forward@layer1.1.relu',
    ]);
    for (const block of blockPaths(graph)) {
      const add = nodeOf(graph, block, 'add');
      expect(consumers(graph, add.outputs[0]).map((n) => n.module)).toEqual([`${block}.relu`]);
    }
  });

  it("bottleneck: stride on the 3×3 conv by default, on the first 1×1 with bottleneckStride '1x1'", () => {
    const v15 = trace(resnet({ depth: 50 }), [3, 64, 64]).graph;
    expect(nodeOf(v15, 'layer2.0.conv1').attrs.stride).toEqual([1, 1]);
    expect(nodeOf(v15, 'layer2.0.conv2').attrs.stride).toEqual([2, 2]);
    expect(nodeOf(v15, 'layer2.0.downsample.0').attrs.stride).toEqual([2, 2]);
    const paper = trace(resnet({ depth: 50, bottleneckStride: '1x1' }), [3, 64, 64]).graph;
    expect(nodeOf(paper, 'layer2.0.conv1').attrs.stride).toEqual([2, 2]);
    expect(nodeOf(paper, 'layer2.0.conv2').attrs.stride).toEqual([1, 1]);
    expect(resnet({ depth: 50, bottleneckStride: '1x1' }).numParameters()).toBe(25_557_032);
    expect(paper.macs()).toBeLessThan(v15.macs());
  });

  it("bnPlacement 'afterAdd' moves the last BN after the addition; reluAfterAdd false drops the ReLU", () => {
    const after = trace(resnet({ depth: 20, dataset: 'cifar10', bnPlacement: 'afterAdd' }), [3, 32, 32]).graph;
    for (const block of blockPaths(after)) {
      const add = nodeOf(after, block, 'add');
      const [bn] = consumers(after, add.outputs[0]);
      expect([bn.op, bn.module]).toEqual(['batchnorm_forward_training', `${block}.bn2`]);
      expect(consumers(after, bn.outputs[0]).map((n) => n.module)).toEqual([`${block}.relu`]);
      expect(nodeOf(after, `${block}.conv2`).outputs[0]).toBe(add.inputs[0]);
    }
    expect(resnet({ depth: 20, dataset: 'cifar10', bnPlacement: 'afterAdd' }).numParameters()).toBe(269_722);
    const noRelu = trace(resnet({ depth: 20, dataset: 'cifar10', reluAfterAdd: false }), [3, 32, 32]).graph;
    for (const block of blockPaths(noRelu)) {
      const add = nodeOf(noRelu, block, 'add');
      expect(consumers(noRelu, add.outputs[0]).every((n) => n.op !== 'relu_forward')).toBe(true);
    }
    expect(noRelu.nodes.filter((n) => n.op === 'relu_forward')).toHaveLength(1 + 9);
  });

  it('shortcut A: zero-padded strided identity at the two CIFAR stage changes, no projection weights', () => {
    const model = resnet({ depth: 20, dataset: 'cifar10' });
    const { graph } = trace(model, [3, 32, 32]);
    expect(graph.nodes.filter((n) => n.op === 'shortcut_a_forward').map((n) => [n.module, n.attrs, graph.shape(n.outputs[0])])).toEqual([
      ['layer2.0.downsample', { stride: 2 }, [1, 32, 16, 16]],
      ['layer3.0.downsample', { stride: 2 }, [1, 64, 8, 8]],
    ]);
    expect(model.stateDictKeys().some((k) => k.includes('downsample'))).toBe(false);
  });

  it('shortcut B projects (conv+BN) only where shapes change; C projects in every block', () => {
    const b = resnet({ depth: 50 });
    expect(b.stateDictKeys().filter((k) => k.endsWith('downsample.0.weight'))).toEqual([
      'layer1.0.downsample.0.weight',
      'layer2.0.downsample.0.weight',
      'layer3.0.downsample.0.weight',
      'layer4.0.downsample.0.weight',
    ]);
    const c = resnet({ depth: 20, dataset: 'cifar10', shortcutType: 'C' });
    expect(c.stateDictKeys().filter((k) => k.endsWith('downsample.0.weight'))).toHaveLength(9);
    expect(c.stateDictKeys()).toContain('layer1.1.downsample.1.running_var');
    const cifarB = resnet({ depth: 20, dataset: 'cifar10', shortcutType: 'B' });
    // Two 1×1 projections with BN: 16·32 + 2·32 and 32·64 + 2·64.
    expect(cifarB.numParameters()).toBe(269_722 + 16 * 32 + 64 + 32 * 64 + 128);
  });

  it('preresnet (CIFAR): bare conv stem, both_preact first blocks, default units, no ReLU after add, final BN+ReLU', () => {
    const model = resnet({ depth: 20, dataset: 'cifar10', netType: 'preresnet' });
    const { graph } = trace(model, [3, 32, 32]);
    const stem = nodeOf(graph, 'conv1');
    expect(consumers(graph, stem.outputs[0]).map((n) => [n.op, n.module])).toEqual([['batchnorm_forward_training', 'layer1.0.bn1']]);
    for (const first of ['layer1.0', 'layer2.0', 'layer3.0']) {
      const pre = nodeOf(graph, `${first}.relu1`).outputs[0];
      const add = nodeOf(graph, first, 'add');
      const users = consumers(graph, pre).map((n) => n.module).sort();
      // both_preact: the pre-activated input feeds the branch's conv1 and the shortcut.
      if (first === 'layer1.0') {
        expect(users).toEqual(['layer1.0', 'layer1.0.conv1']);
        expect(add.inputs[1]).toBe(pre);
      } else {
        expect(users).toEqual([`${first}.conv1`, `${first}.downsample`]);
      }
    }
    const blockInput = nodeOf(graph, 'layer1.0', 'add').outputs[0];
    const second = nodeOf(graph, 'layer1.1', 'add');
    expect(second.inputs[1]).toBe(blockInput);
    expect(nodeOf(graph, 'layer1.1.bn1').inputs[0]).toBe(blockInput);
    for (const block of blockPaths(graph)) {
      const add = nodeOf(graph, block, 'add');
      expect(consumers(graph, add.outputs[0]).every((n) => n.op !== 'relu_forward')).toBe(true);
    }
    expect(graph.nodes.slice(-4).map((n) => [n.op, n.module])).toEqual([
      ['batchnorm_forward_training', 'bn_final'],
      ['relu_forward', 'relu_final'],
      ['global_avgpool_forward', 'avgpool'],
      ['linear_forward', 'fc'],
    ]);
    expect(model.stateDictKeys().slice(0, 2)).toEqual(['conv1.weight', 'layer1.0.bn1.weight']);
  });

  it('preresnet (ImageNet): stem keeps BN-ReLU-maxpool, layer1.0 is no_preact, projections have no BN', () => {
    const model = resnet({ depth: 50, netType: 'preresnet' });
    const { graph } = trace(model, [3, 64, 64]);
    const pooled = nodeOf(graph, 'maxpool').outputs[0];
    expect(consumers(graph, pooled).map((n) => n.module).sort()).toEqual(['layer1.0.conv1', 'layer1.0.downsample.0']);
    expect(model.stateDictKeys().filter((k) => k.startsWith('layer1.0.'))[0]).toBe('layer1.0.conv1.weight');
    const pre = nodeOf(graph, 'layer2.0.relu1').outputs[0];
    expect(consumers(graph, pre).map((n) => n.module).sort()).toEqual(['layer2.0.conv1', 'layer2.0.downsample.0']);
    expect(model.stateDictKeys().some((k) => k.includes('downsample.1'))).toBe(false);
    const branch = graph.nodes.filter((n) => n.module?.startsWith('layer2.1.')).map((n) => n.module);
    expect(branch).toEqual([
      'layer2.1.bn1', 'layer2.1.relu1', 'layer2.1.conv1', 'layer2.1.bn2', 'layer2.1.relu2', 'layer2.1.conv2', 'layer2.1.bn3', 'layer2.1.relu3', 'layer2.1.conv3',
    ]);
  });

  it('eval mode uses inference BN everywhere and no aux outputs', () => {
    const { graph } = trace(resnet({ depth: 18 }).eval(), [3, 64, 64]);
    expect(graph.mode).toBe('eval');
    expect(graph.nodes.some((n) => n.op === 'batchnorm_forward_training')).toBe(false);
    expect(graph.values.filter((v) => v.kind === 'aux' && v.dtype === 'float32')).toHaveLength(0);
  });
});

describe('names and initial state', () => {
  it('ResNet-50 uses torchvision state-dict keys', () => {
    const keys = new Set(resnet({ depth: 50 }).stateDictKeys());
    for (const key of [
      'conv1.weight',
      'bn1.weight',
      'bn1.running_mean',
      'bn1.num_batches_tracked',
      'layer1.0.conv1.weight',
      'layer1.0.conv3.weight',
      'layer1.0.bn3.running_var',
      'layer1.0.downsample.0.weight',
      'layer1.0.downsample.1.running_mean',
      'layer2.0.downsample.0.weight',
      'layer2.0.downsample.1.running_var',
      'layer3.5.bn2.bias',
      'layer4.2.conv3.weight',
      'fc.weight',
      'fc.bias',
    ]) {
      expect(keys.has(key), key).toBe(true);
    }
    expect(keys.has('layer1.1.downsample.0.weight')).toBe(false);
    expect(keys.size).toBe(320);
  });

  it('ResNet-18 uses torchvision state-dict keys', () => {
    const keys = resnet({ depth: 18 }).stateDictKeys();
    expect(keys.slice(0, 7)).toEqual(['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked', 'layer1.0.conv1.weight']);
    expect(keys.filter((k) => k.includes('downsample'))).toEqual(
      [2, 3, 4].flatMap((s) => [
        `layer${s}.0.downsample.0.weight`,
        ...['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked'].map((b) => `layer${s}.0.downsample.1.${b}`),
      ]),
    );
    expect(keys.some((k) => k.includes('conv3'))).toBe(false);
    expect(keys.slice(-2)).toEqual(['fc.weight', 'fc.bias']);
  });

  it('state-dict keys are unique for every model', () => {
    for (const options of [
      ...IMAGENET_DEPTHS.flatMap((depth) => [{ depth }, { depth, netType: 'preresnet' as const }, { depth, shortcutType: 'C' as const }]),
      { depth: 110, dataset: 'cifar10' as const },
      { depth: 56, dataset: 'cifar100' as const, netType: 'preresnet' as const, shortcutType: 'C' as const },
      { depth: 20, dataset: 'cifar10' as const, bnPlacement: 'afterAdd' as const },
    ]) {
      const keys = resnet(options).stateDictKeys();
      expect(new Set(keys).size, JSON.stringify(options)).toBe(keys.length);
    }
  });

  it('no-weight-decay parameters are exactly BN γ/β and biases', () => {
    const params = resnet({ depth: 18 }).namedParameters();
    for (const p of params) {
      const isNorm = /(bn\d|bn_final|downsample\.1)\.(weight|bias)$/.test(p.name) || p.name.endsWith('.bias');
      expect(p.noWeightDecay, p.name).toBe(isNorm);
    }
    expect(params.filter((p) => !p.noWeightDecay).map((p) => p.shape.length).every((r) => r === 4 || r === 2)).toBe(true);
  });

  it('zeroInitLastBN zeroes γ of the last BN in each residual branch, and only there', () => {
    const model = resnet({ depth: 20, dataset: 'cifar10', zeroInitLastBN: true });
    const state = model.initialState(rng(5));
    const blockGammas = [...state].filter(([name]) => /^layer\d\.\d+\.bn\d\.weight$/.test(name));
    expect(blockGammas).toHaveLength(18);
    for (const [name, value] of blockGammas) {
      const gamma = name.endsWith('.bn2.weight') ? 0 : 1;
      expect(Array.from(value as Float32Array).every((v) => v === gamma), name).toBe(true);
    }
    expect(Array.from(state.get('bn1.weight') as Float32Array).every((v) => v === 1)).toBe(true);
    const plain = resnet({ depth: 20, dataset: 'cifar10' }).initialState(rng(5));
    expect(Array.from(plain.get('layer1.0.bn2.weight') as Float32Array).every((v) => v === 1)).toBe(true);
    const zeroed = (options: ResNetOptions): string[] =>
      [...resnet(options).namedModules()].filter(([, m]) => m instanceof BatchNorm2d && m.initGamma === 0).map(([path]) => path);
    expect(zeroed({ depth: 50, zeroInitLastBN: true })).toHaveLength(16);
    expect(zeroed({ depth: 50, zeroInitLastBN: true }).every((p) => p.endsWith('.bn3'))).toBe(true);
    expect(zeroed({ depth: 20, dataset: 'cifar10', netType: 'preresnet', zeroInitLastBN: true }).every((p) => p.endsWith('.bn2'))).toBe(true);
  });

  it('config records every resolved option', () => {
    expect(resnet({ depth: 50 }).config).toEqual({
      depth: 50,
      dataset: 'imagenet',
      netType: 'resnet',
      shortcutType: 'B',
      numClasses: 1000,
      inputChannels: 3,
      bnPlacement: 'beforeAdd',
      reluAfterAdd: true,
      bottleneckStride: '3x3',
      zeroInitLastBN: false,
      block: 'bottleneck',
      stages: [3, 4, 6, 3],
      planes: [64, 128, 256, 512],
    });
    expect(resnet({ depth: 110, dataset: 'cifar100', netType: 'preresnet' }).config).toMatchObject({
      shortcutType: 'A',
      numClasses: 100,
      reluAfterAdd: false,
      block: 'basic',
      stages: [18, 18, 18],
      planes: [16, 32, 64],
    });
  });
});

describe('bad options', () => {
  it.each<[string, unknown, RegExp | string]>([
    ['unsupported ImageNet depth', { depth: 19 }, 'resnet: Expected one of 18, 34, 50, 101, 152, 200 for depth (imagenet) but received 19'],
    ['CIFAR depth not 6n+2', { depth: 21, dataset: 'cifar10' }, /Expected 6n\+2 with n ≥ 1, e\.g\. 20, 32, 44, 56, 110 or 1202 for depth \(cifar10\) but received 21/],
    ['missing depth', {}, /for depth \(imagenet\) but received undefined/],
    [
      'shortcut A with bottlenecks',
      { depth: 50, shortcutType: 'A' },
      "resnet: Expected channels that stay or exactly double for shortcutType 'A' but received 64 → 256 at layer1.0 (bottleneck blocks); use shortcutType 'B' or 'C'",
    ],
    ['unknown option', { depth: 18, widen: 2 }, /unknown option 'widen'/],
    ['unknown dataset', { depth: 18, dataset: 'mnist' }, /Expected 'imagenet' or 'cifar10' or 'cifar100' for dataset but received "mnist"/],
    ['unknown netType', { depth: 18, netType: 'wide' }, /for netType but received "wide"/],
    ['unknown shortcut', { depth: 18, shortcutType: 'D' }, /Expected 'A' or 'B' or 'C' for shortcutType but received "D"/],
    ['preresnet with afterAdd', { depth: 18, netType: 'preresnet', bnPlacement: 'afterAdd' }, /for bnPlacement with netType 'preresnet' but received 'afterAdd'/],
    ['preresnet with reluAfterAdd', { depth: 18, netType: 'preresnet', reluAfterAdd: true }, /Expected false \(pre-activation has no ReLU after the add\)/],
    ['1×1 stride on basic blocks', { depth: 18, bottleneckStride: '1x1' }, /for bottleneckStride for depth 18 \(imagenet, basic blocks\) but received '1x1'/],
    ['zero-γ after the add', { depth: 18, bnPlacement: 'afterAdd', zeroInitLastBN: true }, /zero γ after the add would zero the shortcut too/],
    ['zero classes', { depth: 18, numClasses: 0 }, /Expected an integer ≥ 1 for numClasses but received 0/],
    ['non-boolean switch', { depth: 18, reluAfterAdd: 'no' }, /Expected a boolean for reluAfterAdd but received "no"/],
    ['not an object', null, /Expected an object with depth for options but received null/],
  ])('%s', (_, options, message) => {
    expect(() => resnet(options as ResNetOptions)).toThrow(message);
  });

  it('an input too small for batch statistics names the module where it fails', () => {
    // 8×8 → conv1 4×4 → maxpool 2×2 → layer2 1×1: one value per channel at batch 1.
    expect(() => trace(resnet({ depth: 18 }), [3, 8, 8], { mode: 'train', batch: 1 })).toThrow(
      'batchnorm_forward_training in layer2.0.bn1: Expected more than one value per channel in training for input x but received [1,128,1,1]',
    );
    expect(trace(resnet({ depth: 18 }), [3, 8, 8], { mode: 'train', batch: 2 }).graph.nodes.length).toBeGreaterThan(0);
    expect(modelInfo(resnet({ depth: 18 }), [3, 8, 8]).outputShape).toEqual([1000]);
  });
});
