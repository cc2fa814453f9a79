// GPU check, our side of (b) and (c): training steps of a ResNet on cuda:0 through ModelRuntime.
//   parity: writes the initial state and the batches (DIR/init.safetensors), runs the steps, writes the weights,
//           buffers and last gradients after them (DIR/ours.safetensors, losses in its metadata) for
//           scripts/gpu/torch_check.py to replay in PyTorch.
//   bench:  img/s (median step after warm-up; each step copies its batch from host memory) and the caching
//           allocator's peak bytes, printed as one JSON line. One model per process, so the peaks are its own.
// Usage: node train.js parity --model resnet20 --batch 16 --steps 3 --lr 0.05 --dir DIR [--zeroGamma]
//        (CPU: [--cpuLayout nchw|blocked] [--noFuseRelu] [--noPlan], to tell the CPU passes apart)
//        node train.js bench --model resnet50 --batch 32 --steps 20 [--profile FILE] [--workspace 4GiB]
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { type SafetensorsTensor, saveSafetensors } from '../../lib/io/safetensors.js';
import type { InitialValue } from '../../lib/nn/module.js';
import { optimizerSpec } from '../../lib/optim/optimizers.js';
import { cudaInfo } from '../../lib/runtime/device.js';
import { native } from '../../lib/runtime/native.js';
import { ModelRuntime } from '../../lib/train/model.js';

import { batchOf, build, generator } from './common.js';

interface Options {
  mode: 'parity' | 'bench';
  model: string;
  batch: number;
  steps: number;
  lr: number;
  dir: string;
  device: string;
  profile?: string;
  workspace?: string;
  zeroGamma: boolean;
  cpuLayout?: 'blocked' | 'nchw';
  fuseRelu?: boolean;
  plan?: boolean;
}

function parseArgs(argv: string[]): Options {
  const get = (name: string, fallback: string) => {
    const at = argv.indexOf(`--${name}`);
    return at >= 0 ? argv[at + 1] : fallback;
  };
  const mode = argv[0];
  if (mode !== 'parity' && mode !== 'bench') throw new Error(`train.js: expected 'parity' or 'bench' but received '${mode}'`);
  return {
    mode,
    model: get('model', 'resnet20'),
    batch: Number(get('batch', '16')),
    steps: Number(get('steps', mode === 'parity' ? '3' : '20')),
    lr: Number(get('lr', '0.05')),
    dir: get('dir', '/tmp/rn-parity'),
    device: get('device', 'cuda:0'),
    profile: argv.includes('--profile') ? get('profile', '') : undefined,
    workspace: argv.includes('--workspace') ? get('workspace', '') : undefined,
    zeroGamma: argv.includes('--zeroGamma'),
    cpuLayout: argv.includes('--cpuLayout') ? (get('cpuLayout', 'blocked') as 'blocked' | 'nchw') : undefined,
    fuseRelu: argv.includes('--noFuseRelu') ? false : undefined,
    plan: argv.includes('--noPlan') ? false : undefined,
  };
}

function asTensor(value: InitialValue, shape: readonly number[]): SafetensorsTensor {
  return value instanceof BigInt64Array ? { dtype: 'I64', shape, data: value } : { dtype: 'F32', shape, data: value };
}

async function parity(o: Options): Promise<void> {
  // The CPU reference (check.sh --dry-run) without Winograd, whose float32 error deep gradients amplify.
  if (o.device.startsWith('cpu')) native().setSetting('cpu_conv', 'direct');
  // --zeroGamma: each block's last BN starts at γ = 0 (blocks start as identities), which keeps a deep network's
  // first steps well-conditioned enough for float32 runs to be compared at all (PyTorch gets the same state).
  const { module, side, classes } = build(o.model, o.zeroGamma);
  const shapes = new Map<string, readonly number[]>();
  for (const p of module.namedParameters()) shapes.set(p.name, p.shape);
  for (const b of module.namedBuffers()) shapes.set(b.name, b.shape);
  const runtime = new ModelRuntime(module, {
    inputShape: [3, side, side],
    device: o.device,
    optimizer: optimizerSpec({ name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-4 }),
    ...(o.cpuLayout ? { cpuLayout: o.cpuLayout } : {}),
    ...(o.fuseRelu === false ? { fuseRelu: false } : {}),
    ...(o.plan === false ? { plan: false } : {}),
  });
  const initial = module.initialState(generator(2024));
  await runtime.load(initial);

  const init: Record<string, SafetensorsTensor> = {};
  const order: string[] = [];
  for (const [name, value] of initial) {
    init[`state.${name}`] = asTensor(value, shapes.get(name)!);
    order.push(name);
  }
  const batches = Array.from({ length: o.steps }, (_, k) => batchOf(100 + k, o.batch, side, classes));
  batches.forEach((b, k) => {
    init[`batch${k}.x`] = { dtype: 'F32', shape: [o.batch, 3, side, side], data: b.x };
    init[`batch${k}.y`] = { dtype: 'I32', shape: [o.batch], data: b.y };
  });
  mkdirSync(o.dir, { recursive: true });
  const meta = { model: o.model, batch: String(o.batch), steps: String(o.steps), lr: String(o.lr), order: JSON.stringify(order) };
  await saveSafetensors(join(o.dir, 'init.safetensors'), init, { ...meta, momentum: '0.9', nesterov: 'true', weight_decay: '1e-4' });

  const losses: number[] = [];
  for (const b of batches) losses.push((await runtime.trainStep(b.x, b.y, o.lr)).loss);

  const out: Record<string, SafetensorsTensor> = {};
  for (const [name, value] of await runtime.stateDict()) out[`state.${name}`] = asTensor(value, shapes.get(name)!);
  const grads = (await runtime.grads.toArray()) as Float32Array;
  for (const p of runtime.layout.params) out[`grad.${p.name}`] = { dtype: 'F32', shape: p.shape, data: grads.slice(p.offset, p.offset + p.size) };
  await saveSafetensors(join(o.dir, 'ours.safetensors'), out, { ...meta, losses: JSON.stringify(losses), device: o.device });
  console.log(JSON.stringify({ model: o.model, device: o.device, losses }));
  runtime.dispose();
}

async function bench(o: Options): Promise<void> {
  if (o.workspace) native().setSetting('cudnn_workspace_limit', o.workspace);
  const { module, side, classes } = build(o.model);
  const runtime = new ModelRuntime(module, {
    inputShape: [3, side, side],
    device: o.device,
    optimizer: optimizerSpec({ name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-4 }),
  });
  await runtime.load(module.initialState(generator(7)));
  const { x, y } = batchOf(1, o.batch, side, classes);
  const first = performance.now();
  await runtime.trainStep(x, y, 0.01); // plans, builds kernels, searches convolution algorithms
  const firstStepSeconds = (performance.now() - first) / 1000;
  for (let i = 0; i < 2; i++) await runtime.trainStep(x, y, 0.01);
  const times: number[] = [];
  for (let i = 0; i < o.steps; i++) {
    const start = performance.now();
    await runtime.trainStep(x, y, 0.01);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  const index = Number(o.device.split(':')[1] ?? 0);
  const memory = o.device.startsWith('cuda') ? cudaInfo().devices[index]?.memory : undefined;
  const row = {
    impl: 'resnet-node',
    model: o.model,
    batch: o.batch,
    imagesPerSec: (o.batch * 1000) / times[Math.floor(times.length / 2)],
    firstStepSeconds,
    peakAllocatedBytes: memory?.peakAllocatedBytes ?? null,
    peakReservedBytes: memory?.peakReservedBytes ?? null,
    plannedBytes: runtime.memory(o.batch).planned,
    ...(o.workspace ? { workspaceLimit: o.workspace } : {}),
  };
  console.log(JSON.stringify(row));
  if (o.profile) {
    // Per-op-kind time of 3 more steps, each kernel synchronised around (so launch gaps count as the op's).
    native().setProfiling(true);
    for (let i = 0; i < 3; i++) await runtime.trainStep(x, y, 0.01);
    native().setProfiling(false);
    const ops = runtime.profile().sort((a, b) => b.seconds - a.seconds);
    const total = ops.reduce((sum, r) => sum + r.seconds, 0);
    const line = { model: o.model, batch: o.batch, device: o.device, stepSeconds: total / 3, ops: ops.map((r) => ({ op: r.op, msPerStep: (r.seconds * 1000) / 3, share: r.seconds / total })) };
    appendFileSync(o.profile, `${JSON.stringify(line)}\n`);
  }
  runtime.dispose();
}

const options = parseArgs(process.argv.slice(2));
await (options.mode === 'parity' ? parity(options) : bench(options));
