// The training loop: exact resume, checkpoints, and the main job's accuracy target on the bundled digits.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import type { ImageSet } from '../../lib/data/cifar.js';
import { loadDigits } from '../../lib/data/digits.js';
import { type TrainingData, imageSetData } from '../../lib/data/source.js';
import { loadSafetensors } from '../../lib/io/safetensors.js';
import { resnet } from '../../lib/models/resnet.js';
import { Trainer, type TrainerOptions } from '../../lib/train/trainer.js';

function subset(set: ImageSet, count: number): ImageSet {
  return { ...set, count, images: set.images.slice(0, count * 3 * 32 * 32), labels: set.labels.slice(0, count) };
}

async function smallDigits(): Promise<TrainingData> {
  const d = await loadDigits();
  return imageSetData({ ...d, train: subset(d.train, 200), test: subset(d.test, 60) });
}

function options(data: TrainingData, extra: Partial<TrainerOptions>): TrainerOptions {
  return {
    model: resnet({ depth: 8, dataset: 'cifar10' }),
    data,
    batchSize: 64,
    epochs: 3,
    schedule: { name: 'fb', lr: 0.1, dataset: 'digits' },
    optimizer: { name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 1e-4 },
    seed: 5,
    ...extra,
  };
}

describe('Trainer', () => {
  it('a run resumed after epoch 1 equals the uninterrupted run, bit for bit', async () => {
    const data = await smallDigits();
    const full = mkdtempSync(join(tmpdir(), 'rn-full-'));
    const split = mkdtempSync(join(tmpdir(), 'rn-split-'));
    const a = new Trainer(options(data, { save: full }));
    const endA = await a.fit();
    a.dispose();
    // Interrupted after epoch 1 of 3.
    const b1 = new Trainer(options(data, { save: split }));
    b1.on('checkpoint', () => b1.stop());
    const endB1 = await b1.fit();
    b1.dispose();
    expect(endB1).toMatchObject({ stopped: true, epochs: 1 });
    const b2 = new Trainer(options(data, { save: split, resume: split }));
    const epochs: number[] = [];
    b2.on('epoch', (e) => epochs.push(e.epoch));
    const endB = await b2.fit();
    b2.dispose();
    expect(epochs).toEqual([2, 3]);
    expect(endB.testTop1).toBe(endA.testTop1);
    expect(endB.trainLoss).toBe(endA.trainLoss);
    const wa = await loadSafetensors(join(full, 'model_3.safetensors'));
    const wb = await loadSafetensors(join(split, 'model_3.safetensors'));
    expect(Object.keys(wb.tensors)).toEqual(Object.keys(wa.tensors));
    for (const [name, t] of Object.entries(wa.tensors)) {
      expect(Buffer.from(wb.tensors[name].data.buffer).equals(Buffer.from(t.data.buffer)), name).toBe(true);
    }
    // Only the latest epoch's files stay, next to latest.json and model_best.
    expect(readdirSync(full).sort()).toEqual(['latest.json', 'model_3.safetensors', 'model_best.safetensors', 'optimState_3.safetensors']);
    const latest = JSON.parse(readFileSync(join(full, 'latest.json'), 'utf8'));
    expect(latest.epoch).toBe(3);
    expect(latest.history).toHaveLength(3);
    expect(Object.keys(wa.tensors)).toContain('layer1.0.bn1.num_batches_tracked');
    expect(wa.tensors['conv1.weight'].shape).toEqual([16, 3, 3, 3]);
  });

  it('resuming a different model is a clear error', async () => {
    const data = await smallDigits();
    const dir = mkdtempSync(join(tmpdir(), 'rn-other-'));
    const t = new Trainer(options(data, { save: dir, epochs: 1 }));
    await t.fit();
    t.dispose();
    const other = new Trainer(options(data, { model: resnet({ depth: 14, dataset: 'cifar10' }), resume: dir }));
    await expect(other.fit()).rejects.toThrow(/different model/);
    other.dispose();
    const none = new Trainer(options(data, { resume: join(dir, 'missing') }));
    await expect(none.fit()).rejects.toThrow(/no checkpoint to resume/);
  });

  it('the main job: ResNet-20 on the bundled digits reaches ≤ 3% test error', async () => {
    const { trainOptions } = await import('../../lib/cli/train.js');
    const { parseOptions } = await import('../../lib/cli/args.js');
    const { trainerFromOptions } = await import('../../lib/cli/train.js');
    const { options: o } = parseOptions(['--save', ''], trainOptions, 'train');
    const trainer = await trainerFromOptions(o);
    const lines: string[] = [];
    trainer.on('validation', (e) => lines.push(`epoch ${e.epoch}: test top-1 ${e.top1.toFixed(2)}%`));
    const end = await trainer.fit();
    trainer.dispose();
    console.log(lines.join('\n'));
    console.log(`final test top-1 error ${end.testTop1.toFixed(2)}%, top-5 ${end.testTop5.toFixed(2)}%, ${end.seconds.toFixed(0)} s`);
    expect(end.testTop1).toBeLessThanOrEqual(3);
  }, 1_200_000);
});
