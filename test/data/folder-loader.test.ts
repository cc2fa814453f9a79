// Folder datasets end to end, decoded by real worker threads: epochs, determinism across threads, shards, resume, bad files, ten crops, the CLI.
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parseOptions } from '../../lib/cli/args.js';
import { trainOptions, trainerFromOptions } from '../../lib/cli/train.js';
import { DecodePool } from '../../lib/data/decode-pool.js';
import { type FolderBatch, type FolderData, FolderLoader, folderData } from '../../lib/data/folder.js';
import { IMAGENET_MEAN, IMAGENET_STD, imagenetTransform } from '../../lib/data/imagenet-transforms.js';
import { Rng } from '../../lib/data/random.js';

const SIZE = 32; // crops; validation scales to 37 first
const CLASSES = ['ant', 'bee', 'cow'];
const TRAIN_PER_CLASS = [7, 6, 5]; // 18 images: batches of 8 end with a partial one of 2
const VAL_COLOURS = [[200, 40, 40], [40, 200, 40], [40, 40, 200]];

let root: string;
const opened: FolderData[] = [];
const shared = new Map<string, FolderData>();

/** folderData of the test tree, one per set of options: starting decode threads is the slow part. */
async function open(options: Parameters<typeof folderData>[1] = {}): Promise<FolderData> {
  const key = JSON.stringify(options);
  if (!shared.has(key)) {
    const data = await folderData(root, { imageSize: SIZE, ...options });
    opened.push(data);
    shared.set(key, data);
  }
  return shared.get(key)!;
}

async function write(path: string, bytes: Buffer | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}

/** A 40×30 image unlike any other (class and number in its noise). */
async function noisyImage(seed: number, format: 'jpeg' | 'png'): Promise<Buffer> {
  const rng = Rng.seeded(seed);
  const raw = Buffer.from(Uint8Array.from({ length: 40 * 30 * 3 }, () => rng.int(256)));
  const image = sharp(raw, { raw: { width: 40, height: 30, channels: 3 } });
  return format === 'jpeg' ? image.jpeg({ quality: 90 }).toBuffer() : image.png().toBuffer();
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'resnet-node-folder-'));
  for (const [label, name] of CLASSES.entries()) {
    for (let i = 0; i < TRAIN_PER_CLASS[label]; i++) {
      await write(join(root, 'train', name, `${i}.${i % 2 ? 'png' : 'jpg'}`), await noisyImage(label * 100 + i, i % 2 ? 'png' : 'jpeg'));
    }
    const [r, g, b] = VAL_COLOURS[label];
    for (let i = 0; i < 2; i++) {
      await write(join(root, 'val', name, `${i}.png`), await sharp({ create: { width: 50 + 10 * i, height: 40, channels: 3, background: { r, g, b } } }).png().toBuffer());
    }
  }
});

afterAll(async () => {
  await Promise.all(opened.map((data) => data.close()));
  await rm(root, { recursive: true, force: true });
});

async function collect(loader: FolderLoader): Promise<FolderBatch[]> {
  const out: FolderBatch[] = [];
  for await (const batch of loader.epoch()) out.push(batch);
  return out;
}

const digest = (x: ArrayBufferView) => createHash('sha256').update(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)).digest('hex');
const fingerprint = (batches: FolderBatch[]) => batches.map((b) => ({ index: b.index, epoch: b.epoch, size: b.size, y: Array.from(b.y), x: digest(b.x) }));
const labelsOf = (batches: FolderBatch[]) => batches.flatMap((b) => Array.from(b.y));

function concat(arrays: Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

describe('folderData', () => {
  it('describes the dataset: classes from the folder names, counts, input shape', async () => {
    const data = await open();
    expect(data).toMatchObject({ name: 'folder', classes: 3, classNames: CLASSES, inputShape: [3, SIZE, SIZE], trainCount: 18, testCount: 6 });
  });

  it('serves shuffled epochs of the whole training split, the last batch partial, x sized to each batch', async () => {
    const data = await open();
    const loader = data.trainLoader({ batchSize: 8, seed: 3 });
    expect(loader.batchesPerEpoch).toBe(3);
    const wanted = TRAIN_PER_CLASS.flatMap((n, label) => Array<number>(n).fill(label));
    const orders: number[][] = [];
    for (let epoch = 0; epoch < 2; epoch++) {
      const batches = await collect(loader);
      expect(batches.map((b) => [b.index, b.epoch, b.size, b.x.length, b.skipped])).toEqual([
        [0, epoch, 8, 8 * 3 * SIZE * SIZE, undefined],
        [1, epoch, 8, 8 * 3 * SIZE * SIZE, undefined],
        [2, epoch, 2, 2 * 3 * SIZE * SIZE, undefined],
      ]);
      expect(labelsOf(batches).sort()).toEqual(wanted);
      expect(batches.every((b) => b.x.every(Number.isFinite))).toBe(true);
      orders.push(labelsOf(batches));
    }
    expect(orders[0]).not.toEqual(orders[1]);
  });

  it('gives the same batches for a seed whatever the number of threads and batches in flight', async () => {
    const one = await open({ nThreads: 1, prefetch: 1 });
    const three = await open({ nThreads: 3, prefetch: 5 });
    const a = one.trainLoader({ batchSize: 5, seed: 11 });
    const b = three.trainLoader({ batchSize: 5, seed: 11 });
    for (let epoch = 0; epoch < 2; epoch++) expect(fingerprint(await collect(b))).toEqual(fingerprint(await collect(a)));
    const other = await collect(one.trainLoader({ batchSize: 5, seed: 12 }));
    expect(fingerprint(other)).not.toEqual(fingerprint(await collect(one.trainLoader({ batchSize: 5, seed: 11 }))));
  });

  it('cuts each batch into rank shards that together are the unsharded batch, covering the epoch once', async () => {
    const data = await open();
    const whole = await collect(data.trainLoader({ batchSize: 7, seed: 5 }));
    for (const worldSize of [2, 3]) {
      const shards = await Promise.all(Array.from({ length: worldSize }, (_, rank) => collect(data.trainLoader({ batchSize: 7, seed: 5, shard: { rank, worldSize } }))));
      for (const shard of shards) expect(shard.length).toBe(whole.length);
      for (const [b, batch] of whole.entries()) {
        const pieces = shards.map((s) => s[b]);
        expect(pieces.reduce((n, p) => n + p.size, 0)).toBe(batch.size);
        expect(pieces.flatMap((p) => Array.from(p.y))).toEqual(Array.from(batch.y));
        expect(digest(concat(pieces.map((p) => p.x)))).toBe(digest(batch.x));
      }
    }
  });

  it('resumes from a saved state (plain JSON) with exactly the epoch an uninterrupted run sees next', async () => {
    const data = await open();
    const first = data.trainLoader({ batchSize: 6, seed: 8 });
    await collect(first);
    const saved = JSON.parse(JSON.stringify(first.state()));
    const next = fingerprint(await collect(first));
    const resumed = data.trainLoader({ batchSize: 6, seed: 999 });
    resumed.restore(saved);
    expect(fingerprint(await collect(resumed))).toEqual(next);
  });

  it('validates in file order with normalised centre crops', async () => {
    const data = await open();
    const batches = await collect(data.testLoader({ batchSize: 4 }));
    expect(batches.map((b) => b.size)).toEqual([4, 2]);
    expect(labelsOf(batches)).toEqual([0, 0, 1, 1, 2, 2]);
    const plane = SIZE * SIZE;
    for (const batch of batches) {
      for (let k = 0; k < batch.size; k++) {
        const colour = VAL_COLOURS[batch.y[k]];
        for (let c = 0; c < 3; c++) {
          const wanted = (colour[c] / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c];
          const values = batch.x.subarray((k * 3 + c) * plane, (k * 3 + c + 1) * plane);
          expect(Math.max(...values.map((v) => Math.abs(v - wanted)))).toBeLessThan(0.01);
        }
      }
    }
  });

  it('gives byte crops and colour maps that reproduce the float crops', async () => {
    const data = await open();
    const floats = await collect(data.trainLoader({ batchSize: 9, seed: 2 }));
    const bytes = await collect(data.trainLoader({ batchSize: 9, seed: 2, output: 'uint8' }));
    const plane = SIZE * SIZE;
    for (const [b, batch] of bytes.entries()) {
      expect(batch.x.length).toBe(0);
      expect(Array.from(batch.y)).toEqual(Array.from(floats[b].y));
      const pixels = batch.pixels!;
      const affine = batch.colorAffine!;
      expect([pixels.length, affine.length]).toEqual([batch.size * 3 * plane, batch.size * 12]);
      let checked = 0;
      let worst = 0; // error over its bound
      for (let k = 0; k < batch.size; k++) {
        const m = affine.subarray(k * 12, k * 12 + 12);
        for (let i = 0; i < plane; i++) {
          const at = k * 3 * plane + i;
          const rgb = [pixels[at], pixels[at + plane], pixels[at + 2 * plane]];
          if (rgb.some((v) => v === 0 || v === 255)) continue; // clamped bicubic overshoot
          checked++;
          for (let c = 0; c < 3; c++) {
            // Rounding to bytes moves each channel by at most half a level.
            const bound = (0.5 / 255) * (Math.abs(m[c * 3]) + Math.abs(m[c * 3 + 1]) + Math.abs(m[c * 3 + 2])) + 1e-5;
            const value = m[c * 3] * (rgb[0] / 255) + m[c * 3 + 1] * (rgb[1] / 255) + m[c * 3 + 2] * (rgb[2] / 255) + m[9 + c];
            worst = Math.max(worst, Math.abs(value - floats[b].x[k * 3 * plane + c * plane + i]) / bound);
          }
        }
      }
      expect(worst).toBeLessThanOrEqual(1);
      expect(checked).toBeGreaterThan(batch.size * plane * 0.5);
    }
  });

  it('evaluates ten crops per image (floor(batch / 10) images a batch), the first being the centre crop', async () => {
    const tenCrop = await open({ tenCrop: true });
    const centre = await open();
    const crops = await collect(tenCrop.testLoader({ batchSize: 25 }));
    const single = await collect(centre.testLoader({ batchSize: 6 }));
    expect(crops.map((b) => [b.size, b.cropsPerImage, b.x.length])).toEqual([
      [2, 10, 2 * 10 * 3 * SIZE * SIZE],
      [2, 10, 2 * 10 * 3 * SIZE * SIZE],
      [2, 10, 2 * 10 * 3 * SIZE * SIZE],
    ]);
    expect(labelsOf(crops)).toEqual(labelsOf(single));
    const image = 3 * SIZE * SIZE;
    crops.forEach((batch, b) => {
      for (let k = 0; k < batch.size; k++) {
        const first = batch.x.subarray(k * 10 * image, (k * 10 + 1) * image);
        expect(digest(first)).toBe(digest(single[0].x.subarray((2 * b + k) * image, (2 * b + k + 1) * image)));
      }
    });
  });

  it('reports bad files in the batch that holds them and leaves them out, whatever else is in the epoch', async () => {
    const bad = await mkdtemp(join(tmpdir(), 'resnet-node-folder-bad-'));
    try {
      const good = await noisyImage(1, 'jpeg');
      await write(join(bad, 'train', 'a', 'good1.jpg'), good);
      await write(join(bad, 'train', 'a', 'empty.jpg'), new Uint8Array(0));
      await write(join(bad, 'train', 'b', 'good2.jpg'), good);
      await write(join(bad, 'train', 'b', 'truncated.jpg'), good.subarray(0, good.length >> 1));
      await write(join(bad, 'train', 'b', 'text.png'), Buffer.from('not an image'));
      await write(join(bad, 'val', 'a', 'good.jpg'), good);
      const data = await folderData(bad, { imageSize: SIZE, nThreads: 2 });
      opened.push(data);
      const batches = await collect(data.trainLoader({ batchSize: 2, seed: 4 }));
      expect(batches.length).toBe(3);
      expect(batches.reduce((n, b) => n + b.size, 0)).toBe(2);
      expect(labelsOf(batches).sort()).toEqual([0, 1]);
      for (const batch of batches) expect(batch.x.length).toBe(batch.size * 3 * SIZE * SIZE);
      const skipped = batches.flatMap((b) => b.skipped ?? []).sort((p, q) => p.path.localeCompare(q.path));
      expect(skipped).toEqual([
        { path: join(bad, 'train', 'a', 'empty.jpg'), reason: 'empty file' },
        { path: join(bad, 'train', 'b', 'text.png'), reason: expect.stringMatching(/unsupported image format/) },
        { path: join(bad, 'train', 'b', 'truncated.jpg'), reason: expect.stringMatching(/premature end/i) },
      ]);
    } finally {
      await rm(bad, { recursive: true, force: true });
    }
  });

  it('rejects bad options with the argument named', async () => {
    const data = await open();
    expect(() => data.trainLoader({ batchSize: 0 })).toThrow(/Expected a positive integer for batchSize but received 0/);
    expect(() => data.trainLoader({ batchSize: 4, shard: { rank: 2, worldSize: 2 } })).toThrow(/Expected integers 0 ≤ rank < worldSize for shard/);
    expect(() => data.trainLoader({ batchSize: 4, output: 'int8' as never })).toThrow(/for output but received int8/);
    expect(() => new FolderLoader(data.index.train, new DecodePool(1), { batchSize: 4, spec: imagenetTransform('train', SIZE), jpegDecoder: 'pil' as never })).toThrow(
      /Expected 'libjpeg', 'libjpeg-full', 'sharp' for jpegDecoder but received pil/,
    );
    expect(() => data.trainLoader({ batchSize: 4 }).restore({ epoch: -1, rng: [1, 2, 3, 4] })).toThrow(/for state.epoch/);
    await expect(folderData(root, { nThreads: 0 })).rejects.toThrow(/Expected a positive integer for threads but received 0/);
    await expect(folderData(root, { scaleAugmentation: [100, 480] })).rejects.toThrow(/for scaleAugmentation/);
  });
});

describe('DecodePool', () => {
  it('fails a job that breaks its thread, keeps serving others, and rejects what is queued when closed', async () => {
    const pool = new DecodePool(1);
    const spec = imagenetTransform('val', SIZE);
    const job = { files: [join(root, 'val', 'ant', '0.png')], positions: [0], seed: 0, spec, output: 'float32' as const };
    try {
      await expect(pool.run({ ...job, files: null as never })).rejects.toThrow(/DecodePool: a decode thread failed: TypeError/);
      expect((await pool.run(job)).written).toEqual([0]);
      const queued = Promise.allSettled([pool.run(job), pool.run(job), pool.run(job)]);
      await pool.close();
      const settled = await queued;
      expect(settled.every((r) => r.status === 'rejected' && /the decode pool was closed/.test(String(r.reason)))).toBe(true);
      await expect(pool.run(job)).rejects.toThrow(/the decode pool is closed/);
    } finally {
      await pool.close();
    }
  });
});

describe('resnet-node train --dataset folder', () => {
  it('trains an ImageNet ResNet with one output per class folder, the class names kept for checkpoints', async () => {
    const parse = (argv: string[]) => parseOptions(argv, trainOptions, 'train').options;
    const trainer = await trainerFromOptions(parse(['--dataset', 'folder', '--data', root, '--nThreads', '1', '--depth', '18']));
    const data = trainer.options.data as FolderData;
    opened.push(data);
    expect(data.classNames).toEqual(CLASSES);
    expect(data.inputShape).toEqual([3, 224, 224]);
    expect(trainer.options.model.namedParameters().find((p) => p.name === 'fc.weight')?.shape).toEqual([3, 512]);
    const scaled = await trainerFromOptions(parse(['--dataset', 'imagenet', '--data', root, '--imageSize', '112', '--scaleAugmentation']));
    const scaledData = scaled.options.data as FolderData;
    opened.push(scaledData);
    expect(scaledData.name).toBe('imagenet');
    expect(scaledData.trainLoader({ batchSize: 1 }).spec).toMatchObject({ size: 112, valScale: 128, scaleAugmentation: [128, 240] });
    await expect(trainerFromOptions(parse(['--dataset', 'imagenet']))).rejects.toThrow(/--dataset imagenet needs --data DIR holding train\/<class>\/<images> and val\/<class>\/<images>/);
  });
});
