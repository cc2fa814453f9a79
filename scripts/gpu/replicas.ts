// Two data-parallel replicas on one GPU, in one process: 'cuda:0' and its replica slot 'cuda:0/1' (each its own
// worker thread, stream and cuDNN/cuBLAS handles), reduced by the copy-based in-process path
// (native/cuda/shared_gpu.cu) since NCCL before 2.30 refuses two ranks on one GPU. Prints one JSON line each:
//   parity:     3 SGD steps with SyncBN of 2 replicas (batch split 2 ways) against 1 replica with the whole batch:
//               losses, the largest parameter difference, and whether the replicas stayed bit-identical;
//   allreduce:  the copy-based all-reduce of 25.6 M floats (ResNet-50's gradient) over the 2 replicas, beside a
//               device-side accumulate of the same size;
//   throughput: training img/s of 2 replicas sharing the GPU against 1 replica, same global batch.
// Usage: node replicas.js [--devices cuda:0,cuda:0/1] [--model resnet20] [--batch 32] [--bench resnet50:128]
//        [--floats 25600000] [--steps 10]   (--devices cpu:1,cpu:2 --bench resnet20:16: check.sh --dry-run)
import { allreduce, InProcessGroup } from '../../lib/parallel/group.js';
import { DataParallel } from '../../lib/parallel/data-parallel.js';
import * as ops from '../../lib/ops/index.js';
import { optimizerSpec } from '../../lib/optim/optimizers.js';
import { Tensor } from '../../lib/runtime/tensor.js';
import { ModelRuntime } from '../../lib/train/model.js';

import { batchOf, build, generator } from './common.js';

function option(argv: string[], name: string, fallback: string): string {
  const at = argv.indexOf(name);
  return at >= 0 ? argv[at + 1] : fallback;
}

const print = (row: Record<string, unknown>) => console.log(JSON.stringify(row));
const optimizer = optimizerSpec({ name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-4 });

async function parity(devices: string[], model: string, batch: number): Promise<boolean> {
  const { module, side, classes } = build(model);
  const init = module.initialState(generator(2024));
  const single = new ModelRuntime(module, { inputShape: [3, side, side], device: devices[0], optimizer });
  const parallel = new DataParallel(module, { inputShape: [3, side, side], devices, optimizer, syncBatchNorm: true });
  await single.load(init);
  await parallel.load(init);
  const losses: [number, number][] = [];
  for (let step = 0; step < 3; step++) {
    const { x, y } = batchOf(100 + step, batch, side, classes);
    const a = await single.trainStep(x, y, 0.05);
    const b = await parallel.trainStep(x, y, 0.05);
    losses.push([a.loss, b.loss]);
  }
  const one = (await single.params.toArray()) as Float32Array;
  const replicas = await Promise.all(parallel.replicas.map(async (r) => (await r.params.toArray()) as Float32Array));
  let diff = 0, scale = 0;
  for (let i = 0; i < one.length; i++) {
    diff = Math.max(diff, Math.abs(one[i] - replicas[0][i]));
    scale = Math.max(scale, Math.abs(one[i]));
  }
  const identical = replicas.every((r) => Buffer.from(r.buffer).equals(Buffer.from(replicas[0].buffer)));
  const lossError = Math.max(...losses.map(([a, b]) => Math.abs(a - b) / (1 + Math.abs(a))));
  const ok = identical && diff / scale < 1e-3 && lossError < 1e-3;
  print({ check: 'replicas on one GPU: parity', devices, model, batch, steps: 3, losses, lossError, paramsError: diff / scale, replicasIdentical: identical, ok });
  single.dispose();
  parallel.dispose();
  return ok;
}

async function time(iterations: number, step: () => Promise<unknown>): Promise<number> {
  await step();
  const started = performance.now();
  for (let i = 0; i < iterations; i++) await step();
  return (performance.now() - started) / iterations;
}

async function allreduceTime(devices: string[], floats: number): Promise<void> {
  const group = new InProcessGroup(devices);
  const buffers = devices.map((d) => Tensor.zeros([floats], { device: d }));
  const src = Tensor.zeros([floats], { device: devices[0] });
  try {
    const copyMs = await time(20, () => Promise.all(buffers.map((t) => allreduce(group, t, { average: true }))));
    const accumulateMs = await time(20, () => ops.accumulate(buffers[0], src));
    print({ check: 'replicas on one GPU: allreduce time', devices, floats, copyAllreduceMs: copyMs, accumulateMs, note: 'each time includes one eager op round trip from JS per rank' });
  } finally {
    [...buffers, src].forEach((t) => t.dispose());
    group.destroy();
  }
}

async function throughput(devices: string[], model: string, batch: number, steps: number): Promise<void> {
  const { module, side, classes } = build(model);
  const { x, y } = batchOf(1, batch, side, classes);
  const rates: Record<string, number> = {};
  for (const [label, runtime] of [
    ['one replica', () => new ModelRuntime(module, { inputShape: [3, side, side], device: devices[0], optimizer })],
    [`${devices.length} replicas`, () => new DataParallel(module, { inputShape: [3, side, side], devices, optimizer })],
  ] as const) {
    const r = runtime();
    await r.load(module.initialState(generator(7)));
    for (let i = 0; i < 3; i++) await r.trainStep(x, y, 0.01); // plans, algorithm search
    const ms = await time(steps, () => r.trainStep(x, y, 0.01));
    rates[label] = (batch * 1000) / ms;
    r.dispose();
  }
  print({ check: 'replicas on one GPU: throughput', devices, model, batch, imagesPerSec: rates });
}

async function main(argv: string[]): Promise<number> {
  const devices = option(argv, '--devices', 'cuda:0,cuda:0/1').split(',');
  const [benchModel, benchBatch] = option(argv, '--bench', 'resnet50:128').split(':');
  try {
    const ok = await parity(devices, option(argv, '--model', 'resnet20'), Number(option(argv, '--batch', '32')));
    await allreduceTime(devices, Number(option(argv, '--floats', '25600000')));
    await throughput(devices, benchModel, Number(benchBatch), Number(option(argv, '--steps', '10')));
    return ok ? 0 : 1;
  } catch (error) {
    const e = error as Error & { code?: string };
    print({ check: 'replicas on one GPU', devices, ok: false, error: e.code ?? 'Error', message: e.message });
    // The replica that did not fail waits at the all-reduce for the group's timeout (300 s): do not wait for it.
    process.exit(1);
  }
}

process.exitCode = await main(process.argv.slice(2));
