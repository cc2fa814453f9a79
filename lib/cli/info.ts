// `resnet-node info`: a model's parameters, multiply-adds and training memory three ways.
import { resnet } from '../models/resnet.js';
import { modelInfo } from '../models/info.js';
import { optimizerSpec } from '../optim/optimizers.js';
import { ModelRuntime } from '../train/model.js';
import { ResnetError } from '../runtime/errors.js';
import { formatHelp, parseOptions } from './args.js';

const options = {
  model: { type: 'string', default: 'resnet50', help: "model name: resnetN (e.g. resnet50, resnet20), or use --depth" },
  depth: { type: 'integer', default: 0, min: 0, help: 'ResNet depth (overrides the number in --model)' },
  dataset: { type: 'string', default: '', choices: ['', 'imagenet', 'cifar10', 'cifar100'], help: 'family; empty: cifar10 for depths 6n+2 not in the ImageNet table, else imagenet' },
  netType: { type: 'string', default: 'resnet', choices: ['resnet', 'preresnet'], help: 'post- or pre-activation' },
  shortcutType: { type: 'string', default: '', choices: ['', 'A', 'B', 'C'], help: 'shortcut type (default by family)' },
  batch: { type: 'integer', default: 32, min: 1, help: 'batch size for the memory figures' },
  imageSize: { type: 'integer', default: 0, min: 0, help: 'input side; 0: 224 ImageNet, 32 CIFAR' },
  json: { type: 'boolean', default: false, help: 'one JSON object: params, macs, memory {naive, shareGradInput, planned} in bytes' },
  help: { type: 'boolean', default: false, help: 'show this help' },
} as const;

const IMAGENET = new Set([18, 34, 50, 101, 152, 200]);

export async function info(argv: readonly string[]): Promise<number> {
  const { options: o } = parseOptions(argv, options, 'info');
  if (o.help) {
    console.log(formatHelp('info', 'Parameters, multiply-adds and training memory (naive, shareGradInput, planned) of a ResNet.', options));
    return 0;
  }
  const match = /^(pre)?resnet(\d+)$/.exec(o.model);
  if (!match && !o.depth) throw new ResnetError('RN_INVALID_ARGUMENT', `info: Expected --model like resnet50 or preresnet200 but received '${o.model}'`);
  const depth = o.depth || Number(match![2]);
  const dataset = (o.dataset || (IMAGENET.has(depth) ? 'imagenet' : 'cifar10')) as 'imagenet' | 'cifar10' | 'cifar100';
  const netType = match?.[1] ? 'preresnet' : (o.netType as 'resnet' | 'preresnet');
  const model = resnet({ depth, dataset, netType, shortcutType: (o.shortcutType || undefined) as 'A' | undefined });
  const side = o.imageSize || (dataset === 'imagenet' ? 224 : 32);
  const shape = [3, side, side];
  const { params, macsPerImage } = modelInfo(model, shape);
  const runtime = new ModelRuntime(model, { inputShape: shape, optimizer: optimizerSpec({ name: 'sgd' }) });
  const memory = runtime.memory(o.batch);
  runtime.dispose();
  const result = { model: `${netType}${depth}`, dataset, inputShape: shape, batch: o.batch, params, macs: macsPerImage, memory: { naive: memory.naive, shareGradInput: memory.shareGradInput, planned: memory.planned }, fixedBytes: memory.fixedBytes };
  if (o.json) {
    console.log(JSON.stringify(result));
    return 0;
  }
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  const pct = (b: number) => `${((100 * b) / memory.naive).toFixed(1)}%`;
  console.log(`${result.model} (${dataset}, input ${shape.join('×')})`);
  console.log(`parameters      ${params.toLocaleString('en-US')}`);
  console.log(`multiply-adds   ${(macsPerImage / 1e6).toFixed(2)} M per image`);
  console.log(`training memory at batch ${o.batch} (parameters, gradients, momentum, BN buffers: ${mib(memory.fixedBytes)} included)`);
  console.log(`  naive           ${mib(memory.naive).padStart(12)}  100.0%   every tensor its own buffer`);
  console.log(`  shareGradInput  ${mib(memory.shareGradInput).padStart(12)}  ${pct(memory.shareGradInput).padStart(6)}   fb.resnet.torch: gradients share one buffer per op type`);
  console.log(`  planned         ${mib(memory.planned).padStart(12)}  ${pct(memory.planned).padStart(6)}   lifetimes → one arena, in-place ReLU/add, ReLUs fused (CPU)`);
  return 0;
}
