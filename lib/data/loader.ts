// Epochs of normalised (and, for training, shuffled and augmented) batches, each built while the previous one is in use.
import { setImmediate } from 'node:timers';

import { expected } from '../runtime/errors.js';
import type { ImageSet } from './cifar.js';
import { Rng, type RngState, randperm } from './random.js';
import { type Normalization, fillBatch } from './transforms.js';

export interface Shard {
  rank: number;
  worldSize: number;
}

export interface BatchLoaderOptions {
  /** Images per step over all shards, as fb.resnet.torch's -batchSize; each shard gets its share. */
  batchSize: number;
  normalization: Normalization;
  /** A fresh permutation each epoch plus flip and crop; otherwise the images in order, normalised only. */
  train: boolean;
  seed?: number;
  /** Zero padding before the random crop (training only); fb.resnet.torch uses 4. */
  padding?: number;
  /** Probability of a horizontal flip (training only); fb.resnet.torch uses 0.5. Digits must not be mirrored: 0. */
  flipProbability?: number;
  /**
   * This process's share: each global batch is cut into worldSize contiguous pieces whose sizes differ by
   * at most one, so every rank sees the same number of batches and together they cover the epoch once.
   */
  shard?: Shard;
}

export interface Batch {
  x: Float32Array; // (size, channels, height, width)
  y: Int32Array; // (size)
  /** Images in this batch; the last batch of an epoch may be smaller, and 0 on some shards when it is tiny. */
  size: number;
  /** Batch number within the epoch. */
  index: number;
  /** Epoch number, counting from 0. */
  epoch: number;
  /** Files that could not be read for this batch and were skipped (folder datasets), with the reason. */
  skipped?: { path: string; reason: string }[];
}

/** What the next epoch() starts from; plain numbers, so it can go into a checkpoint as JSON. */
export interface LoaderState {
  epoch: number;
  rng: RngState;
}

interface EpochPlan {
  epoch: number;
  order: Int32Array; // (count) image index at each epoch position
  augmentSeed: number;
}

function checkImageSet(set: ImageSet): void {
  const ok =
    set !== null &&
    typeof set === 'object' &&
    Number.isInteger(set.count) &&
    set.count > 0 &&
    set.images instanceof Uint8Array &&
    set.labels instanceof Int32Array &&
    set.images.length === set.count * set.channels * set.height * set.width &&
    set.labels.length === set.count;
  if (!ok) {
    throw expected('RN_INVALID_ARGUMENT', 'BatchLoader', 'set', 'an ImageSet with count ≥ 1, count×C×H×W image bytes and count labels', set?.count === undefined ? String(set) : `count ${set.count}`);
  }
}

export class BatchLoader {
  readonly set: ImageSet;
  readonly batchSize: number;
  readonly train: boolean;
  readonly shard: Shard;
  readonly #normalization: Normalization;
  readonly #padding: number;
  readonly #flipProbability: number;
  #rng: Rng;
  #epoch = 0;

  constructor(set: ImageSet, options: BatchLoaderOptions) {
    checkImageSet(set);
    const { batchSize, normalization, train, seed = 0, padding = 4, flipProbability = 0.5, shard = { rank: 0, worldSize: 1 } } = options;
    if (typeof flipProbability !== 'number' || !(flipProbability >= 0 && flipProbability <= 1)) {
      throw expected('RN_INVALID_ARGUMENT', 'BatchLoader', 'flipProbability', 'a number in [0, 1]', String(flipProbability));
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw expected('RN_INVALID_ARGUMENT', 'BatchLoader', 'batchSize', 'a positive integer', String(batchSize));
    }
    if (!Number.isInteger(shard.worldSize) || shard.worldSize < 1 || !Number.isInteger(shard.rank) || shard.rank < 0 || shard.rank >= shard.worldSize) {
      throw expected('RN_INVALID_ARGUMENT', 'BatchLoader', 'shard', 'integers 0 ≤ rank < worldSize', JSON.stringify(shard));
    }
    // Validate normalisation and padding now rather than inside the first batch.
    fillBatch(new Float32Array(0), set, [], normalization, { seed: 0, first: 0, padding });
    this.set = set;
    this.batchSize = batchSize;
    this.train = train;
    this.shard = { rank: shard.rank, worldSize: shard.worldSize };
    this.#normalization = normalization;
    this.#padding = padding;
    this.#flipProbability = flipProbability;
    this.#rng = Rng.seeded(seed);
  }

  get batchesPerEpoch(): number {
    return Math.ceil(this.set.count / this.batchSize);
  }

  /** Epochs started so far: the number of the next epoch. */
  get epochsStarted(): number {
    return this.#epoch;
  }

  /** The state the next epoch() starts from; restore() it into a fresh loader to get that same epoch. */
  state(): LoaderState {
    return { epoch: this.#epoch, rng: this.#rng.state() };
  }

  restore(state: LoaderState): void {
    if (!Number.isInteger(state?.epoch) || state.epoch < 0) {
      throw expected('RN_INVALID_ARGUMENT', 'BatchLoader.restore', 'state.epoch', 'a non-negative integer', String(state?.epoch));
    }
    this.#rng = Rng.fromState(state.rng);
    this.#epoch = state.epoch;
  }

  /**
   * The next epoch's batches. The order and augmentation are drawn when this is called, so state()
   * already describes the epoch after; batch i+1 is built (on a setImmediate turn) while batch i is in use.
   */
  epoch(): AsyncGenerator<Batch, void, undefined> {
    const count = this.set.count;
    let plan: EpochPlan;
    if (this.train) {
      const order = randperm(count, this.#rng);
      plan = { epoch: this.#epoch, order, augmentSeed: this.#rng.uint32() };
    } else {
      plan = { epoch: this.#epoch, order: Int32Array.from({ length: count }, (_, i) => i), augmentSeed: 0 };
    }
    this.#epoch++;
    return this.#batches(plan);
  }

  async *#batches(plan: EpochPlan): AsyncGenerator<Batch, void, undefined> {
    const count = this.batchesPerEpoch;
    let pending = this.#buildSoon(plan, 0);
    for (let index = 0; index < count; index++) {
      const batch = await pending;
      if (index + 1 < count) pending = this.#buildSoon(plan, index + 1);
      yield batch;
    }
  }

  #buildSoon(plan: EpochPlan, index: number): Promise<Batch> {
    const promise = new Promise<Batch>((resolve, reject) => {
      setImmediate(() => {
        try {
          resolve(this.#build(plan, index));
        } catch (error) {
          reject(error);
        }
      });
    });
    // A consumer that stops early never awaits the batch being prefetched; its failure is not theirs.
    promise.catch(() => {});
    return promise;
  }

  #build(plan: EpochPlan, index: number): Batch {
    const { rank, worldSize } = this.shard;
    const start = index * this.batchSize;
    const global = Math.min(this.batchSize, this.set.count - start);
    const first = start + Math.floor((rank * global) / worldSize);
    const end = start + Math.floor(((rank + 1) * global) / worldSize);
    const indices = plan.order.subarray(first, end);
    const size = indices.length;
    const x = new Float32Array(size * this.set.channels * this.set.height * this.set.width);
    const y = new Int32Array(size);
    for (let k = 0; k < size; k++) y[k] = this.set.labels[indices[k]];
    const augmentation = this.train ? { seed: plan.augmentSeed, first, padding: this.#padding, flipProbability: this.#flipProbability } : undefined;
    fillBatch(x, this.set, indices, this.#normalization, augmentation);
    return { x, y, size, index, epoch: plan.epoch };
  }
}
