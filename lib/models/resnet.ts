// ResNet and pre-activation ResNet from depth tables, as fb.resnet.torch's resnet.lua / preresnet.lua, with torchvision's names.
import { ResnetError, expected } from '../runtime/errors.js';
import { checkOptions } from '../ops/validate.js';
import { ReLU } from '../nn/activation.js';
import { BatchNorm2d } from '../nn/batchnorm.js';
import { Sequential, type NamedModules } from '../nn/containers.js';
import { Conv2d } from '../nn/conv.js';
import { Linear } from '../nn/linear.js';
import type { Module } from '../nn/module.js';
import { GlobalAvgPool, MaxPool2d } from '../nn/pooling.js';
import { Residual, ShortcutA } from '../nn/residual.js';

export type Dataset = 'imagenet' | 'cifar10' | 'cifar100';
export type NetType = 'resnet' | 'preresnet';
export type ShortcutType = 'A' | 'B' | 'C';
export type BlockKind = 'basic' | 'bottleneck';

export interface ResNetOptions {
  depth: number;
  /** Selects the family: ImageNet depth table, or CIFAR 6n+2. Default 'imagenet'. */
  dataset?: Dataset;
  /** Default 'resnet' (post-activation). */
  netType?: NetType;
  /** Default 'B' for ImageNet, 'A' for CIFAR. */
  shortcutType?: ShortcutType;
  /** Default 1000 / 10 / 100 by dataset. */
  numClasses?: number;
  /** Default 3. */
  inputChannels?: number;
  /** Post-activation ablation: BN after the last conv ('beforeAdd', default) or after the addition. */
  bnPlacement?: 'beforeAdd' | 'afterAdd';
  /** Post-activation ablation: ReLU after the addition; default true. */
  reluAfterAdd?: boolean;
  /** Bottlenecks: the stride on the 3×3 conv (fb.resnet.torch, default) or on the first 1×1 (the paper). */
  bottleneckStride?: '3x3' | '1x1';
  /** γ = 0 for the last BN of every residual branch, so each block starts as the identity. Default false. */
  zeroInitLastBN?: boolean;
}

/** Every option resolved; for 'preresnet' bnPlacement is 'beforeAdd' and reluAfterAdd false by construction. */
export interface ResNetConfig extends Required<ResNetOptions> {
  block: BlockKind;
  /** Blocks per stage. */
  stages: number[];
  /** Branch width per stage (a bottleneck's output is 4×). */
  planes: number[];
}

const IMAGENET_DEPTHS: Record<number, { block: BlockKind; stages: number[] }> = {
  18: { block: 'basic', stages: [2, 2, 2, 2] },
  34: { block: 'basic', stages: [3, 4, 6, 3] },
  50: { block: 'bottleneck', stages: [3, 4, 6, 3] },
  101: { block: 'bottleneck', stages: [3, 4, 23, 3] },
  152: { block: 'bottleneck', stages: [3, 8, 36, 3] },
  200: { block: 'bottleneck', stages: [3, 24, 36, 3] },
};

const OPTION_KEYS = [
  'depth',
  'dataset',
  'netType',
  'shortcutType',
  'numClasses',
  'inputChannels',
  'bnPlacement',
  'reluAfterAdd',
  'bottleneckStride',
  'zeroInitLastBN',
];

/** The built network: a Sequential whose children are conv1, bn1, relu, (maxpool), layer1…, avgpool, fc. */
export class ResNet extends Sequential {
  readonly config: ResNetConfig;

  constructor(config: ResNetConfig, modules: NamedModules) {
    super(modules);
    this.config = config;
  }
}

function invalid(what: string, wanted: string, received: string): ResnetError {
  return expected('RN_INVALID_ARGUMENT', 'resnet', what, wanted, received);
}

function oneOf<T extends string>(what: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    throw invalid(what, allowed.map((a) => `'${a}'`).join(' or '), JSON.stringify(value));
  }
  return value as T;
}

function flag(what: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalid(what, 'a boolean', JSON.stringify(value));
  return value;
}

function positiveInt(what: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw invalid(what, 'an integer ≥ 1', JSON.stringify(value));
  }
  return value;
}

/** Checks the options and fills in every default. */
export function resolveResNetOptions(options: ResNetOptions): ResNetConfig {
  if (typeof options !== 'object' || options === null) {
    throw invalid('options', 'an object with depth', String(options));
  }
  checkOptions('resnet', options, OPTION_KEYS);
  const dataset = oneOf('dataset', options.dataset, ['imagenet', 'cifar10', 'cifar100'], 'imagenet');
  const netType = oneOf('netType', options.netType, ['resnet', 'preresnet'], 'resnet');
  const imagenet = dataset === 'imagenet';
  const depth = options.depth;
  let block: BlockKind;
  let stages: number[];
  if (imagenet) {
    const row = typeof depth === 'number' ? IMAGENET_DEPTHS[depth] : undefined;
    if (!row) {
      throw invalid(`depth (${dataset})`, `one of ${Object.keys(IMAGENET_DEPTHS).join(', ')}`, JSON.stringify(depth));
    }
    ({ block, stages } = row);
  } else {
    if (typeof depth !== 'number' || !Number.isInteger(depth) || depth < 8 || (depth - 2) % 6 !== 0) {
      throw invalid(`depth (${dataset})`, '6n+2 with n ≥ 1, e.g. 20, 32, 44, 56, 110 or 1202', JSON.stringify(depth));
    }
    block = 'basic';
    const n = (depth - 2) / 6;
    stages = [n, n, n];
  }
  const preact = netType === 'preresnet';
  const bnPlacement = oneOf('bnPlacement', options.bnPlacement, ['beforeAdd', 'afterAdd'], 'beforeAdd');
  const reluAfterAdd = flag('reluAfterAdd', options.reluAfterAdd, !preact);
  if (preact && bnPlacement === 'afterAdd') {
    throw invalid(
      "bnPlacement with netType 'preresnet'",
      "'beforeAdd' (pre-activation puts every BN inside the branch)",
      "'afterAdd'",
    );
  }
  if (preact && reluAfterAdd) {
    throw invalid("reluAfterAdd with netType 'preresnet'", 'false (pre-activation has no ReLU after the add)', 'true');
  }
  const bottleneckStride = oneOf('bottleneckStride', options.bottleneckStride, ['3x3', '1x1'], '3x3');
  if (bottleneckStride === '1x1' && block !== 'bottleneck') {
    throw invalid(
      `bottleneckStride for depth ${depth} (${dataset}, basic blocks)`,
      "'3x3' (only bottleneck depths 50, 101, 152, 200 have a 1×1 to stride)",
      "'1x1'",
    );
  }
  const zeroInitLastBN = flag('zeroInitLastBN', options.zeroInitLastBN, false);
  if (zeroInitLastBN && bnPlacement === 'afterAdd') {
    throw invalid(
      "zeroInitLastBN with bnPlacement 'afterAdd'",
      "bnPlacement 'beforeAdd' (a zero γ after the add would zero the shortcut too)",
      'true',
    );
  }
  const shortcutType = oneOf('shortcutType', options.shortcutType, ['A', 'B', 'C'], imagenet ? 'B' : 'A');
  const config: ResNetConfig = {
    depth: depth as number,
    dataset,
    netType,
    shortcutType,
    numClasses: positiveInt('numClasses', options.numClasses, dataset === 'imagenet' ? 1000 : dataset === 'cifar10' ? 10 : 100),
    inputChannels: positiveInt('inputChannels', options.inputChannels, 3),
    bnPlacement,
    reluAfterAdd,
    bottleneckStride,
    zeroInitLastBN,
    block,
    stages,
    planes: imagenet ? [64, 128, 256, 512] : [16, 32, 64],
  };
  return config;
}

/** fb.resnet.torch's per-block unit type in preresnet.lua. */
type PreactUnit = 'both_preact' | 'no_preact' | 'default';

class Builder {
  constructor(readonly config: ResNetConfig) {}

  get preact(): boolean {
    return this.config.netType === 'preresnet';
  }

  bn(channels: number, last = false): BatchNorm2d {
    return new BatchNorm2d(channels, { initGamma: last && this.config.zeroInitLastBN ? 0 : 1 });
  }

  /** fb.resnet.torch's shortcut(): A = zero-padded identity, B = projection where shapes change, C = projection always. */
  shortcut(path: string, inC: number, outC: number, stride: number): [string, Module] | undefined {
    const type = this.config.shortcutType;
    const changes = inC !== outC || stride !== 1;
    if (type === 'C' || (type === 'B' && changes)) {
      const projection = new Sequential([new Conv2d(inC, outC, 1, { stride })]);
      if (!this.preact) projection.add(new BatchNorm2d(outC));
      return ['downsample', projection];
    }
    if (!changes) return undefined;
    if (outC !== inC && outC !== 2 * inC) {
      throw new ResnetError(
        'RN_INVALID_ARGUMENT',
        `Expected channels that stay or exactly double for shortcutType 'A' but received ${inC} → ${outC} at ${path} ` +
          `(${this.config.block} blocks); use shortcutType 'B' or 'C'`,
        'resnet',
      );
    }
    return ['downsample', new ShortcutA(inC, outC, stride)];
  }

  basic(path: string, inC: number, planes: number, stride: number, unit: PreactUnit): Residual {
    const shortcut = this.shortcut(path, inC, planes, stride);
    const conv1 = new Conv2d(inC, planes, 3, { stride, padding: 1 });
    const conv2 = new Conv2d(planes, planes, 3, { padding: 1 });
    if (this.preact) {
      const pre = (): NamedModules => [['bn1', this.bn(inC)], ['relu1', new ReLU()]];
      return new Residual({
        preact: unit === 'both_preact' ? pre() : [],
        branch: [
          ...(unit === 'default' ? pre() : []),
          ['conv1', conv1],
          ['bn2', this.bn(planes, true)],
          ['relu2', new ReLU()],
          ['conv2', conv2],
        ],
        shortcut,
      });
    }
    const branch: NamedModules = [['conv1', conv1], ['bn1', this.bn(planes)], ['relu1', new ReLU()], ['conv2', conv2]];
    return this.postActivation(branch, ['bn2', planes], shortcut);
  }

  bottleneck(path: string, inC: number, planes: number, stride: number, unit: PreactUnit): Residual {
    const outC = planes * 4;
    const shortcut = this.shortcut(path, inC, outC, stride);
    const [stride1, stride3] = this.config.bottleneckStride === '1x1' ? [stride, 1] : [1, stride];
    const conv1 = new Conv2d(inC, planes, 1, { stride: stride1 });
    const conv2 = new Conv2d(planes, planes, 3, { stride: stride3, padding: 1 });
    const conv3 = new Conv2d(planes, outC, 1);
    if (this.preact) {
      const pre = (): NamedModules => [['bn1', this.bn(inC)], ['relu1', new ReLU()]];
      return new Residual({
        preact: unit === 'both_preact' ? pre() : [],
        branch: [
          ...(unit === 'default' ? pre() : []),
          ['conv1', conv1],
          ['bn2', this.bn(planes)],
          ['relu2', new ReLU()],
          ['conv2', conv2],
          ['bn3', this.bn(planes, true)],
          ['relu3', new ReLU()],
          ['conv3', conv3],
        ],
        shortcut,
      });
    }
    const branch: NamedModules = [
      ['conv1', conv1],
      ['bn1', this.bn(planes)],
      ['relu1', new ReLU()],
      ['conv2', conv2],
      ['bn2', this.bn(planes)],
      ['relu2', new ReLU()],
      ['conv3', conv3],
    ];
    return this.postActivation(branch, ['bn3', outC], shortcut);
  }

  /** resnet.lua's block tail: BN before the add (or after it, ablation), then ReLU unless switched off. */
  postActivation(branch: NamedModules, [bnName, channels]: [string, number], shortcut: [string, Module] | undefined): Residual {
    const afterAdd = this.config.bnPlacement === 'afterAdd';
    const post: Array<[string, Module]> = afterAdd ? [[bnName, this.bn(channels)]] : [];
    if (this.config.reluAfterAdd) post.push(['relu', new ReLU()]);
    return new Residual({ branch: afterAdd ? branch : [...branch, [bnName, this.bn(channels, true)]], shortcut, post });
  }

  build(): ResNet {
    const { config } = this;
    const imagenet = config.dataset === 'imagenet';
    const modules: Array<[string, Module]> = [];
    if (imagenet) {
      modules.push(['conv1', new Conv2d(config.inputChannels, 64, 7, { stride: 2, padding: 3 })]);
      modules.push(['bn1', new BatchNorm2d(64)], ['relu', new ReLU()], ['maxpool', new MaxPool2d(3, { stride: 2, padding: 1 })]);
    } else {
      modules.push(['conv1', new Conv2d(config.inputChannels, 16, 3, { padding: 1 })]);
      // preresnet.lua's CIFAR stem is a bare conv: the first block's both_preact supplies BN-ReLU.
      if (!this.preact) modules.push(['bn1', new BatchNorm2d(16)], ['relu', new ReLU()]);
    }
    const expansion = config.block === 'bottleneck' ? 4 : 1;
    let channels = imagenet ? 64 : 16;
    config.stages.forEach((count, s) => {
      const planes = config.planes[s];
      const layer = new Sequential();
      for (let i = 0; i < count; i++) {
        const path = `layer${s + 1}.${i}`;
        const stride = i === 0 && s > 0 ? 2 : 1;
        const unit: PreactUnit = i > 0 ? 'default' : imagenet && s === 0 ? 'no_preact' : 'both_preact';
        const make = config.block === 'bottleneck' ? this.bottleneck : this.basic;
        layer.add(make.call(this, path, channels, planes, stride, unit));
        channels = planes * expansion;
      }
      modules.push([`layer${s + 1}`, layer]);
    });
    if (this.preact) modules.push(['bn_final', new BatchNorm2d(channels)], ['relu_final', new ReLU()]);
    modules.push(['avgpool', new GlobalAvgPool()], ['fc', new Linear(channels, config.numClasses)]);
    return new ResNet(config, modules);
  }
}

/** A ResNet of fb.resnet.torch's family; see ResNetOptions for the switches and their defaults. */
export function resnet(options: ResNetOptions): ResNet {
  return new Builder(resolveResNetOptions(options)).build();
}
