// What the Trainer reads: datasets that hand out epochs of float batches, whatever their storage.
import type { Dataset } from './cifar.js';
import { type Batch, BatchLoader, type LoaderState, type Shard } from './loader.js';

export type { Batch, LoaderState, Shard };

/** One pass over a split in batches; its state (plain JSON) restores the exact next epoch. */
export interface EpochSource {
  readonly batchesPerEpoch: number;
  epoch(): AsyncGenerator<SourceBatch, void, undefined>;
  state(): LoaderState;
  restore(state: LoaderState): void;
}

export interface SourceOptions {
  /** Images per step over all shards. */
  batchSize: number;
  seed?: number;
  shard?: Shard;
  /** 'uint8' (sources with TrainingData.byteInput): batches carry bytes and colour maps for the device to finish. */
  output?: 'float32' | 'uint8';
}

/** A batch as the Trainer reads it: floats in x, or (output 'uint8') the bytes and colour maps instead. */
export interface SourceBatch extends Batch {
  /** (size, 3, H, W) crops before their colour steps. */
  pixels?: Uint8Array;
  /** (size, 12) float32 colour maps (lib/ops colorAffineU8). */
  colorAffine?: Float32Array;
}

/** A dataset ready for training: its shape, classes and loaders for both splits. */
export interface TrainingData {
  name: string;
  classes: number;
  /** Class names in label order, stored in checkpoints (folder datasets: the sorted folder names). */
  classNames?: string[];
  /** One image as the model sees it, [3, H, W]. */
  inputShape: [number, number, number];
  /** Its loaders take output 'uint8' (image folders): the Trainer then hands bytes to the device. */
  byteInput?: boolean;
  trainCount: number;
  testCount: number;
  trainLoader(options: SourceOptions): EpochSource;
  testLoader(options: SourceOptions): EpochSource;
}

/** In-memory 32×32 datasets (CIFAR, digits) with fb.resnet.torch's CIFAR transforms. */
export function imageSetData(d: Dataset): TrainingData {
  return {
    name: d.name,
    classes: d.classes,
    inputShape: [d.train.channels, d.train.height, d.train.width],
    trainCount: d.train.count,
    testCount: d.test.count,
    trainLoader: ({ batchSize, seed, shard }) =>
      new BatchLoader(d.train, { batchSize, normalization: d.normalization, train: true, seed, shard, flipProbability: d.flipProbability ?? 0.5 }),
    testLoader: ({ batchSize, shard }) => new BatchLoader(d.test, { batchSize, normalization: d.normalization, train: false, shard }),
  };
}
