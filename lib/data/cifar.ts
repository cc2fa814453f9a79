// Readers for the CIFAR-10 and CIFAR-100 binary files: records of label byte(s) + 3072 bytes of R, G, B planes.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { expected } from '../runtime/errors.js';
import type { Normalization } from './transforms.js';

/** Labelled 8-bit images, CHW planes one image after another. */
export interface ImageSet {
  images: Uint8Array; // (count, channels, height, width)
  labels: Int32Array; // (count)
  count: number;
  channels: 3;
  height: 32;
  width: 32;
}

export interface Dataset {
  name: string;
  train: ImageSet;
  test: ImageSet;
  classes: number;
  /** Per-channel mean and std of the training images on the 0–255 scale. */
  normalization: Normalization;
  /** Horizontal-flip probability of training augmentation; default 0.5 (fb.resnet.torch). */
  flipProbability?: number;
}

export type CifarDataset = 'cifar10' | 'cifar100';

/** fb.resnet.torch's constants (datasets/cifar10.lua, cifar100.lua). */
export const CIFAR10_NORMALIZATION: Normalization = { mean: [125.3, 123.0, 113.9], std: [63.0, 62.1, 66.7] };
export const CIFAR100_NORMALIZATION: Normalization = { mean: [129.3, 124.1, 112.4], std: [68.2, 65.4, 70.4] };

export const IMAGE_CHANNELS = 3;
export const IMAGE_SIDE = 32;
export const IMAGE_BYTES = IMAGE_CHANNELS * IMAGE_SIDE * IMAGE_SIDE;

/** How one binary file lays out its records. */
export interface RecordFormat {
  /** Bytes before the pixels: 1 for CIFAR-10 (label), 2 for CIFAR-100 (coarse, fine). */
  headerBytes: number;
  /** Which header byte is the label. */
  labelOffset: number;
  /** What the label is called in messages. */
  labelName: string;
  classes: number;
}

/** CIFAR-10's record: one label byte, then the pixels. The bundled digits use it too. */
export const CIFAR10_RECORD: RecordFormat = { headerBytes: 1, labelOffset: 0, labelName: 'label', classes: 10 };

interface CifarLayout {
  name: string;
  format: RecordFormat;
  train: string[];
  test: string[];
  /** The folder the official archive unpacks to, looked in when the files are not in dir itself. */
  folder: string;
  archive: string;
  normalization: Normalization;
}

const LAYOUTS: Record<CifarDataset, CifarLayout> = {
  cifar10: {
    name: 'CIFAR-10',
    format: CIFAR10_RECORD,
    train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
    test: ['test_batch.bin'],
    folder: 'cifar-10-batches-bin',
    archive: 'cifar-10-binary.tar.gz',
    normalization: CIFAR10_NORMALIZATION,
  },
  cifar100: {
    name: 'CIFAR-100',
    format: { headerBytes: 2, labelOffset: 1, labelName: 'fine label', classes: 100 },
    train: ['train.bin'],
    test: ['test.bin'],
    folder: 'cifar-100-binary',
    archive: 'cifar-100-binary.tar.gz',
    normalization: CIFAR100_NORMALIZATION,
  },
};

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Reads CIFAR-format files into one ImageSet, in file order. Each file must hold whole records of
 * format.headerBytes + 3072 bytes, and every label must be below format.classes.
 */
export async function readCifarFiles(paths: readonly string[], format: RecordFormat, op = 'readCifarFiles'): Promise<ImageSet> {
  const recordBytes = format.headerBytes + IMAGE_BYTES;
  const sizes: number[] = [];
  for (const path of paths) {
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw cause;
      throw expected('RN_INVALID_ARGUMENT', op, path, 'a CIFAR-format file', 'no such file');
    }
    if (size === 0 || size % recordBytes !== 0) {
      throw expected(
        'RN_INVALID_ARGUMENT',
        op,
        path,
        `a whole number of ${recordBytes}-byte records (${format.headerBytes} label byte${format.headerBytes > 1 ? 's' : ''} + ${IMAGE_BYTES} pixel bytes each)`,
        `${size} bytes (${Math.floor(size / recordBytes)} records and ${size % recordBytes} bytes over)`,
      );
    }
    sizes.push(size);
  }

  const count = sizes.reduce((total, size) => total + size / recordBytes, 0);
  const images = new Uint8Array(count * IMAGE_BYTES);
  const labels = new Int32Array(count);
  let record = 0;
  for (const [f, path] of paths.entries()) {
    const bytes = await readFile(path);
    if (bytes.length !== sizes[f]) {
      throw expected('RN_INVALID_ARGUMENT', op, path, `${sizes[f]} bytes`, `${bytes.length} bytes (the file changed while being read)`);
    }
    for (let r = 0; r < sizes[f] / recordBytes; r++, record++) {
      const start = r * recordBytes;
      const label = bytes[start + format.labelOffset];
      if (label >= format.classes) {
        throw expected('RN_INVALID_ARGUMENT', op, `the ${format.labelName} of record ${r} of ${path}`, `a class in 0..${format.classes - 1}`, String(label));
      }
      labels[record] = label;
      images.set(bytes.subarray(start + format.headerBytes, start + recordBytes), record * IMAGE_BYTES);
    }
  }
  return { images, labels, count, channels: IMAGE_CHANNELS, height: IMAGE_SIDE, width: IMAGE_SIDE };
}

/**
 * Loads the binary version of CIFAR-10 (data_batch_1..5.bin, test_batch.bin) or CIFAR-100 (train.bin,
 * test.bin; fine labels) from dir, or from the folder its archive unpacks to inside dir.
 */
export async function loadCifar(dir: string, { dataset }: { dataset: CifarDataset }): Promise<Dataset> {
  const layout = Object.hasOwn(LAYOUTS, dataset) ? LAYOUTS[dataset] : undefined;
  if (!layout) {
    throw expected('RN_INVALID_ARGUMENT', 'loadCifar', 'dataset', Object.keys(LAYOUTS).join('|'), String(dataset));
  }
  if (typeof dir !== 'string') throw expected('RN_INVALID_ARGUMENT', 'loadCifar', 'dir', 'a folder path', typeof dir);
  let base = dir;
  if (!(await exists(join(dir, layout.train[0]))) && (await exists(join(dir, layout.folder, layout.train[0])))) {
    base = join(dir, layout.folder);
  }
  for (const file of [...layout.train, ...layout.test]) {
    if (!(await exists(join(base, file)))) {
      throw expected(
        'RN_INVALID_ARGUMENT',
        'loadCifar',
        `the ${layout.name} binary files`,
        `${file} in ${dir} (or in ${join(dir, layout.folder)}, as ${layout.archive} unpacks)`,
        'no such file',
      );
    }
  }
  const read = (files: string[]) =>
    readCifarFiles(
      files.map((file) => join(base, file)),
      layout.format,
      'loadCifar',
    );
  const train = await read(layout.train);
  const test = await read(layout.test);
  return { name: layout.name, train, test, classes: layout.format.classes, normalization: layout.normalization };
}
