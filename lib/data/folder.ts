// Image folders (ImageNet layout) as training data: seeded, sharded, resumable epochs decoded by a pool of worker threads.
import { join } from 'node:path';

import { expected } from '../runtime/errors.js';
import type { DecodeJob, DecodeResult } from './decode-image.js';
import { DecodePool } from './decode-pool.js';
import { type FolderIndex, type FolderSplit, type IndexOptions, indexFolder } from './folder-index.js';
import { type TransformSpec, imagenetTransform } from './imagenet-transforms.js';
import { JPEG_DECODERS, type JpegDecoder } from './jpeg-crop.js';
import type { Batch, LoaderState, Shard } from './loader.js';
import { Rng, randperm } from './random.js';
import type { EpochSource, SourceOptions, TrainingData } from './source.js';

/** A batch of a folder split; with ten crops or byte output it carries more than the Trainer reads. */
export interface FolderBatch extends Batch {
  /** Crops per image in x: 10 with ten-crop evaluation (image-major: the 10 crops of image 0, then of image 1, …), else 1. */
  cropsPerImage: number;
  /** Byte output: (size × cropsPerImage, 3, H, W) crops before the colour steps; x is then empty. */
  pixels?: Uint8Array;
  /** Byte output: (size × cropsPerImage, 12) float32 maps M (row-major 3×3), c: the float crop is M·(byte/255) + c per pixel. */
  colorAffine?: Float32Array;
}

export interface FolderLoaderOptions {
  /** Images per step over all shards (with ten crops, as fb.resnet.torch, floor(batchSize / 10) images of 10 crops). */
  batchSize: number;
  /** A fresh permutation and augmentation each epoch (spec.kind 'train'); otherwise the files in order. */
  spec: TransformSpec;
  seed?: number;
  shard?: Shard;
  /** Batches decoded ahead of the one in use; default max(2, pool threads). */
  prefetch?: number;
  /** float32 (default): normalised crops; uint8: the bytes and each crop's colour map, for a device to finish. */
  output?: 'float32' | 'uint8';
  /** How JPEGs are decoded (jpeg-crop.ts): default native libjpeg-turbo where the addon has it, else sharp. */
  jpegDecoder?: JpegDecoder;
}

interface EpochPlan {
  epoch: number;
  order: Int32Array; // (count) file index at each epoch position
  augmentSeed: number;
}

/** One split of an image folder as an EpochSource: the BatchLoader's epochs, shards and state, with decoding on `pool`. */
export class FolderLoader implements EpochSource {
  readonly split: FolderSplit;
  readonly spec: TransformSpec;
  /** Images per global batch. */
  readonly imagesPerBatch: number;
  readonly shard: Shard;
  readonly prefetch: number;
  readonly output: 'float32' | 'uint8';
  readonly jpegDecoder?: JpegDecoder;
  readonly #pool: DecodePool;
  #rng: Rng;
  #epoch = 0;

  constructor(split: FolderSplit, pool: DecodePool, options: FolderLoaderOptions) {
    const { batchSize, spec, seed = 0, shard = { rank: 0, worldSize: 1 }, prefetch = Math.max(2, pool.threads), output = 'float32', jpegDecoder } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw expected('RN_INVALID_ARGUMENT', 'FolderLoader', 'batchSize', 'a positive integer', String(batchSize));
    if (!Number.isInteger(shard.worldSize) || shard.worldSize < 1 || !Number.isInteger(shard.rank) || shard.rank < 0 || shard.rank >= shard.worldSize) {
      throw expected('RN_INVALID_ARGUMENT', 'FolderLoader', 'shard', 'integers 0 ≤ rank < worldSize', JSON.stringify(shard));
    }
    if (!Number.isInteger(prefetch) || prefetch < 1) throw expected('RN_INVALID_ARGUMENT', 'FolderLoader', 'prefetch', 'a positive integer', String(prefetch));
    if (output !== 'float32' && output !== 'uint8') throw expected('RN_INVALID_ARGUMENT', 'FolderLoader', 'output', "'float32' or 'uint8'", String(output));
    if (jpegDecoder !== undefined && !JPEG_DECODERS.includes(jpegDecoder)) {
      throw expected('RN_INVALID_ARGUMENT', 'FolderLoader', 'jpegDecoder', JPEG_DECODERS.map((d) => `'${d}'`).join(', '), String(jpegDecoder));
    }
    if (split.files.length === 0) throw expected('RN_INVALID_ARGUMENT', 'FolderLoader', `the split ${split.dir}`, 'at least one image', 'none');
    this.split = split;
    this.spec = spec;
    this.imagesPerBatch = spec.kind === 'tenCrop' ? Math.max(1, Math.floor(batchSize / 10)) : batchSize;
    this.shard = { rank: shard.rank, worldSize: shard.worldSize };
    this.prefetch = prefetch;
    this.output = output;
    this.jpegDecoder = jpegDecoder;
    this.#pool = pool;
    this.#rng = Rng.seeded(seed);
  }

  get batchesPerEpoch(): number {
    return Math.ceil(this.split.files.length / this.imagesPerBatch);
  }

  /** The state the next epoch() starts from; restore() it into a fresh loader to get that same epoch. */
  state(): LoaderState {
    return { epoch: this.#epoch, rng: this.#rng.state() };
  }

  restore(state: LoaderState): void {
    if (!Number.isInteger(state?.epoch) || state.epoch < 0) {
      throw expected('RN_INVALID_ARGUMENT', 'FolderLoader.restore', 'state.epoch', 'a non-negative integer', String(state?.epoch));
    }
    this.#rng = Rng.fromState(state.rng);
    this.#epoch = state.epoch;
  }

  /**
   * The next epoch's batches: order and augmentation seed are drawn now (so state() already describes the
   * epoch after), and up to `prefetch` batches are decoding while one is in use. An image's crop and colours
   * come from (augmentation seed, epoch position) alone, whichever thread decodes it and whenever.
   */
  epoch(): AsyncGenerator<FolderBatch, void, undefined> {
    const count = this.split.files.length;
    const train = this.spec.kind === 'train';
    const plan: EpochPlan = train
      ? { epoch: this.#epoch, order: randperm(count, this.#rng), augmentSeed: this.#rng.uint32() }
      : { epoch: this.#epoch, order: Int32Array.from({ length: count }, (_, i) => i), augmentSeed: 0 };
    this.#epoch++;
    return this.#batches(plan);
  }

  async *#batches(plan: EpochPlan): AsyncGenerator<FolderBatch, void, undefined> {
    const count = this.batchesPerEpoch;
    const pending: Promise<FolderBatch>[] = [];
    let next = 0;
    const fill = () => {
      while (next < count && pending.length < this.prefetch) {
        const promise = this.#build(plan, next++);
        // A consumer that stops early never awaits the batches in flight; their failures are not its.
        promise.catch(() => {});
        pending.push(promise);
      }
    };
    fill();
    while (pending.length > 0) {
      const batch = await pending.shift()!;
      fill();
      yield batch;
    }
  }

  async #build(plan: EpochPlan, index: number): Promise<FolderBatch> {
    const { rank, worldSize } = this.shard;
    const start = index * this.imagesPerBatch;
    const global = Math.min(this.imagesPerBatch, this.split.files.length - start);
    const first = start + Math.floor((rank * global) / worldSize);
    const end = start + Math.floor(((rank + 1) * global) / worldSize);
    const positions = Array.from({ length: end - first }, (_, k) => first + k);
    const files = positions.map((p) => join(this.split.dir, this.split.files[plan.order[p]]));
    const cropsPerImage = this.spec.kind === 'tenCrop' ? 10 : 1;
    const job: DecodeJob = { files, positions, seed: plan.augmentSeed, spec: this.spec, output: this.output, jpegDecoder: this.jpegDecoder };
    const result: DecodeResult = positions.length > 0 ? await this.#pool.run(job) : { data: new ArrayBuffer(0), written: [], skipped: [] };
    const size = result.written.length;
    const values = size * cropsPerImage * 3 * this.spec.size * this.spec.size;
    const y = Int32Array.from(result.written, (k) => this.split.labels[plan.order[positions[k]]]);
    const skipped = result.skipped.map(({ index: k, reason }) => ({ path: files[k], reason }));
    const batch: FolderBatch = { x: new Float32Array(0), y, size, index, epoch: plan.epoch, cropsPerImage };
    if (skipped.length > 0) batch.skipped = skipped;
    if (this.output === 'uint8') {
      batch.pixels = new Uint8Array(result.data, 0, values);
      batch.colorAffine = new Float32Array(result.affine!, 0, size * cropsPerImage * 12);
    } else {
      // Skipped images leave unused room at the end: hand over an exact-length array.
      const x = new Float32Array(result.data);
      batch.x = x.length === values ? x : x.slice(0, values);
    }
    return batch;
  }
}

export interface FolderDataOptions extends IndexOptions {
  /** Decode threads (fb.resnet.torch's -nThreads); default 2. */
  nThreads?: number;
  /** Batches decoded ahead; default max(2, nThreads). */
  prefetch?: number;
  /** Training crop side; default 224 (validation scales to 256/224 of it first). */
  imageSize?: number;
  /** Ten crops per validation image (FolderBatch.cropsPerImage = 10; sum their logits with sumCropLogits). */
  tenCrop?: boolean;
  /** The paper's scale augmentation [min, max] (e.g. [256, 480]) instead of RandomSizedCrop. */
  scaleAugmentation?: [number, number];
  /** Name in logs and checkpoints; default 'folder'. */
  name?: string;
  /** How JPEGs are decoded: 'libjpeg' (default where the addon has it), 'libjpeg-full' or 'sharp' (docs/data-pipeline.md). */
  jpegDecoder?: JpegDecoder;
}

/** What a folder loader takes beyond the Trainer's options. */
export interface FolderSourceOptions extends SourceOptions {
  output?: FolderLoaderOptions['output'];
}

/** Training data from an image folder, with its decode threads; close() stops them (idle ones never keep the process alive). */
export interface FolderData extends TrainingData {
  index: FolderIndex;
  trainLoader(options: FolderSourceOptions): FolderLoader;
  testLoader(options: FolderSourceOptions): FolderLoader;
  close(): Promise<void>;
}

/** ImageNet-style data from `root` (train/<class>/*, val/<class>/*) with fb.resnet.torch's transforms. */
export async function folderData(root: string, options: FolderDataOptions = {}): Promise<FolderData> {
  const { nThreads = 2, prefetch, imageSize = 224, tenCrop = false, scaleAugmentation, name = 'folder', jpegDecoder } = options;
  // Checked before the index is built, so a bad option fails fast.
  const trainSpec = imagenetTransform('train', imageSize, scaleAugmentation);
  const testSpec = imagenetTransform(tenCrop ? 'tenCrop' : 'val', imageSize);
  const pool = new DecodePool(nThreads);
  const index = await indexFolder(root, options);
  return {
    name,
    classes: index.classes.length,
    classNames: index.classes,
    inputShape: [3, imageSize, imageSize],
    byteInput: true,
    trainCount: index.train.files.length,
    testCount: index.val.files.length,
    index,
    trainLoader: ({ batchSize, seed, shard, output }) => new FolderLoader(index.train, pool, { batchSize, seed, shard, output, prefetch, jpegDecoder, spec: trainSpec }),
    testLoader: ({ batchSize, shard, output }) => new FolderLoader(index.val, pool, { batchSize, shard, output, prefetch, jpegDecoder, spec: testSpec }),
    close: () => pool.close(),
  };
}
