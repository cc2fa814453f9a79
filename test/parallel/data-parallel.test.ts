// DataParallel on CPU replicas in one process: N replicas × B/N equal 1 replica × B (with SyncBN, even and uneven
// splits and a replica left without images), replicas stay bit-identical, evaluation is replica 0's model, and
// the Trainer and CLI reach it.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { replicaDevices } from '../../lib/cli/train.js';
import type { ImageSet } from '../../lib/data/cifar.js';
import { loadDigits } from '../../lib/data/digits.js';
import { imageSetData } from '../../lib/data/source.js';
import { resnet } from '../../lib/models/resnet.js';
import { DataParallel, splitBatch } from '../../lib/parallel/data-parallel.js';
import { Device, cudaDeviceCount } from '../../lib/runtime/device.js';
import { ModelRuntime } from '../../lib/train/model.js';
import { Trainer, type TrainerOptions } from '../../lib/train/trainer.js';
import { rng } from '../util/random.js';
import { batchOf, inputShape, maxAbsDiff, optimizer, smallResNet } from './model.js';

const floats = async (t: { toArray(): Promise<unknown> }) => (await t.toArray()) as Float32Array;
const gpus = cudaDeviceCount();

/** 5 steps (batches 8, 7 = 4+3, 8, 1 = 1+0, 5) of 2 replicas with SyncBN against 1 replica with the whole batch. */
async function twoReplicasEqualOne(device: string, devices: string[], tolerance: number): Promise<void> {
  const module = smallResNet();
  const init = module.initialState(rng(9));
  const single = new ModelRuntime(module, { inputShape, optimizer, device });
  const parallel = new DataParallel(module, { inputShape, optimizer, devices, syncBatchNorm: true });
  await single.load(init);
  await parallel.load(init);
  for (const [step, size] of [8, 7, 8, 1, 5].entries()) {
    const { x, labels } = batchOf(size, 100 + step);
    const a = await single.trainStep(x, labels, 0.1);
    const b = await parallel.trainStep(x, labels, 0.1);
    expect(Math.abs(a.loss - b.loss), `step ${step + 1} (batch ${size}) loss ${a.loss} vs ${b.loss}`).toBeLessThan(tolerance * (1 + Math.abs(a.loss)));
    expect(b.correct).toEqual(a.correct);
    expect(b.size).toBe(size);
  }
  const [p0, p1] = await Promise.all(parallel.replicas.map((r) => floats(r.params)));
  expect(Buffer.from(p1.buffer).equals(Buffer.from(p0.buffer)), 'replicas bit-identical').toBe(true);
  const paramDiff = maxAbsDiff(await floats(single.params), p0);
  const bufferDiff = maxAbsDiff(await floats(single.buffers!), await floats(parallel.replicas[0].buffers!));
  const stateDiff = maxAbsDiff((await single.optimizerState())[0], (await parallel.optimizerState())[0]);
  console.log(`2 replicas on ${devices.join(', ')} (SyncBN) vs 1 replica after 5 steps: max |Δparam| ${paramDiff.toExponential(2)}, |Δrunning stat| ${bufferDiff.toExponential(2)}, |Δmomentum| ${stateDiff.toExponential(2)}`);
  expect(paramDiff).toBeLessThan(tolerance);
  expect(bufferDiff).toBeLessThan(tolerance);
  expect(stateDiff).toBeLessThan(tolerance);
  expect(parallel.step).toBe(5);
  single.dispose();
  parallel.dispose();
}

describe('DataParallel', () => {
  it('splits a batch into contiguous shares that differ by at most one', () => {
    expect(splitBatch(8, 2)).toEqual([{ start: 0, size: 4 }, { start: 4, size: 4 }]);
    expect(splitBatch(7, 2)).toEqual([{ start: 0, size: 4 }, { start: 4, size: 3 }]);
    expect(splitBatch(7, 3).map((s) => s.size)).toEqual([3, 2, 2]);
    expect(splitBatch(1, 2)).toEqual([{ start: 0, size: 1 }, { start: 1, size: 0 }]);
  });

  it('2 CPU replicas with SyncBN equal 1 replica with the full batch after 5 steps (batches 8, 7 = 4+3, 8, 1 = 1+0, 5)', async () => {
    await twoReplicasEqualOne('cpu', ['cpu:1', 'cpu:2'], 1e-5);
  });

  // The in-process path for replicas sharing a GPU: replica slots (own worker, stream, handles) reduced by a kernel
  // over the shared GPU's memory (native/cuda/shared_gpu.cu), not NCCL, which refuses two ranks per GPU before 2.30.
  it.skipIf(gpus === 0)('2 replicas on one GPU (cuda:0 and its slot cuda:0/1) with SyncBN equal 1 replica on cuda:0 (skipped: needs a GPU)', async () => {
    await twoReplicasEqualOne('cuda:0', ['cuda:0', 'cuda:0/1'], 1e-4);
  });

  it('a replica whose step fails fails the group at once: the other stops waiting at the all-reduce (RN_RANK_FAILED naming it), not at the timeout', async () => {
    const module = smallResNet();
    const parallel = new DataParallel(module, { inputShape, optimizer, devices: ['cpu:1', 'cpu:2'], timeoutSeconds: 60 });
    await parallel.load(module.initialState(rng(9)));
    const { x, labels } = batchOf(8, 100);
    // Replica 1's step fails before it reaches its worker (as bad input or a lost device would); replica 0's runs
    // and would block at the all-reduce for the 60 s timeout if the group were not failed.
    const broken = parallel.replicas[1];
    const original = broken.trainStep.bind(broken);
    broken.trainStep = () => Promise.reject(new Error('injected failure'));
    await expect(parallel.trainStep(x, labels, 0.1)).rejects.toThrow('injected failure');
    broken.trainStep = original;
    const started = performance.now();
    const error = await parallel.trainStep(x, labels, 0.1).then(
      () => expect.fail('a failed group must not run another step'),
      (e: unknown) => e as Error & { code?: string },
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`after replica 1 failed, the next step failed in ${seconds.toFixed(2)} s: ${error.code}: ${error.message}`);
    expect(error.code).toBe('RN_RANK_FAILED');
    expect(error.message).toContain('replica 1 (cpu:2) failed: injected failure');
    expect(seconds).toBeLessThan(10);
    parallel.dispose();
  });

  it('3 replicas with SyncBN equal 1 replica too (batch 7 = 3+2+2, batch 2 = 1+1+0)', async () => {
    const module = smallResNet();
    const init = module.initialState(rng(10));
    const single = new ModelRuntime(module, { inputShape, optimizer, device: 'cpu' });
    const parallel = new DataParallel(module, { inputShape, optimizer, devices: ['cpu:1', 'cpu:2', 'cpu:3'], syncBatchNorm: true, threadsPerReplica: 1 });
    await single.load(init);
    await parallel.load(init);
    for (const [step, size] of [7, 2].entries()) {
      const { x, labels } = batchOf(size, 200 + step);
      await single.trainStep(x, labels, 0.1);
      await parallel.trainStep(x, labels, 0.1);
    }
    expect(maxAbsDiff(await floats(single.params), await floats(parallel.replicas[2].params))).toBeLessThan(1e-5);
    single.dispose();
    parallel.dispose();
  });

  it('without SyncBN: per-replica statistics, replicas stay identical, evaluation is replica 0’s model on every replica', async () => {
    const module = smallResNet();
    const parallel = new DataParallel(module, { inputShape, optimizer, devices: ['cpu:1', 'cpu:2'] });
    await parallel.load(module.initialState(rng(11)));
    for (let step = 0; step < 3; step++) {
      const { x, labels } = batchOf(8, 300 + step);
      await parallel.trainStep(x, labels, 0.1);
    }
    const [r0, r1] = parallel.replicas;
    expect(Buffer.from((await floats(r1.params)).buffer).equals(Buffer.from((await floats(r0.params)).buffer))).toBe(true);
    // Each replica's running statistics come from its own half of the batches.
    expect(maxAbsDiff(await floats(r0.buffers!), await floats(r1.buffers!))).toBeGreaterThan(1e-4);

    const { x, labels } = batchOf(9, 400);
    const split = await parallel.evalStep(x, labels);
    const alone = new ModelRuntime(module, { inputShape, optimizer, device: 'cpu' });
    await alone.load(await parallel.stateDict());
    const reference = await alone.evalStep(x, labels);
    expect(Math.abs(split.loss - reference.loss)).toBeLessThan(1e-6 * (1 + reference.loss));
    expect(split.correct).toEqual(reference.correct);
    alone.dispose();
    parallel.dispose();
  });
});

function subset(set: ImageSet, count: number): ImageSet {
  return { ...set, count, images: set.images.slice(0, count * 3 * 32 * 32), labels: set.labels.slice(0, count) };
}

describe('Trainer with several devices', () => {
  it('--devices cpu,cpu --syncBN trains as one device does, and checkpoints replica 0', async () => {
    const d = await loadDigits();
    const data = imageSetData({ ...d, train: subset(d.train, 72), test: subset(d.test, 30) });
    const options = (extra: Partial<TrainerOptions>): TrainerOptions => ({
      model: resnet({ depth: 8, dataset: 'cifar10' }),
      data,
      batchSize: 32, // 32, 32 and a last batch of 8
      epochs: 1,
      schedule: { name: 'fb', lr: 0.1, dataset: 'digits' },
      optimizer: { name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
      seed: 3,
      ...extra,
    });
    const one = new Trainer(options({ device: 'cpu' }));
    const endOne = await one.fit();
    const save = mkdtempSync(join(tmpdir(), 'rn-dp-'));
    const two = new Trainer(options({ devices: replicaDevices({ nGPU: 0, devices: 'cpu,cpu' }), syncBatchNorm: true, save }));
    let started = '';
    two.on('start', (e) => (started = e.device));
    const endTwo = await two.fit();
    expect(started).toBe('cpu,cpu:1');
    expect(two.runtime).toBeInstanceOf(DataParallel);
    expect(Math.abs(endTwo.trainLoss - endOne.trainLoss)).toBeLessThan(1e-5 * (1 + endOne.trainLoss));
    expect(Math.abs(endTwo.testLoss - endOne.testLoss)).toBeLessThan(1e-4);
    const a = await one.runtime!.stateDict();
    const b = await two.runtime!.stateDict();
    let worst = 0;
    for (const [name, value] of a) if (value instanceof Float32Array) worst = Math.max(worst, maxAbsDiff(value, b.get(name) as Float32Array));
    expect(worst).toBeLessThan(1e-5);
    one.dispose();
    two.dispose();
  });

  it('the CLI maps --devices and --nGPU to replica devices', () => {
    expect(replicaDevices({ nGPU: 0, devices: 'cpu,cpu' })).toEqual(['cpu:0', 'cpu:1']);
    expect(replicaDevices({ nGPU: 0, devices: 'cuda:0, cuda:1' })).toEqual(['cuda:0', 'cuda:1']);
    expect(replicaDevices({ nGPU: 2, devices: '' })).toEqual(['cuda:0', 'cuda:1']);
    expect(replicaDevices({ nGPU: 0, devices: '' })).toBeUndefined();
    expect(() => replicaDevices({ nGPU: 2, devices: 'cpu,cpu' })).toThrow(/not both/);
    // A repeated GPU takes its next replica slot.
    expect(replicaDevices({ nGPU: 0, devices: 'cuda:0,cuda:0,cuda:1,cuda,cuda:1' })).toEqual(['cuda:0', 'cuda:0/1', 'cuda:1', 'cuda:0/2', 'cuda:1/1']);
  });

  it("device names: 'cuda:N/S' is replica slot S of GPU N, 'cuda:N/0' is 'cuda:N', and cpu devices have no slots", () => {
    const slot = Device.from('cuda:0/1');
    expect([slot.kind, slot.index, slot.slot, slot.name]).toEqual(['cuda', 0, 1, 'cuda:0/1']);
    expect(Device.from('cuda:2/0')).toBe(Device.from('cuda:2'));
    expect(Device.from(' cuda:0/1 ')).toBe(slot);
    expect(Device.from('cuda:0/1')).not.toBe(Device.from('cuda:0'));
    expect(() => Device.from('cpu:1/1')).toThrow("cpu devices have no replica slots ('cpu:1/1')");
    expect(() => Device.from('cuda:0/')).toThrow("Expected a device like 'cpu', 'cuda:0' or 'cuda:0/1' but received 'cuda:0/'");
  });
});
